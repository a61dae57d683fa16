/**
 * lockd's network server: a net.Server with one Connection (one session) per socket, so
 * ephemeral grants and waiters die with their connection — the Thrift runtime's shared handler
 * cannot see connections, so lockd speaks the protocol itself (src/protocol).
 */
import net from 'node:net';
import type winston from 'winston';
import type { LocalBackend } from '../backend/local-backend';
import { protocolByName } from '../protocol';
import type { ProtocolFactory } from '../protocol/types';
import type { ServerOptions } from '../options';
import { Connection, ConnectionHost, ReplyBatch, waitContextOf } from './connection';

/** How long shutdown waits for clients to take their last replies before cutting them off. */
const SHUTDOWN_GRACE_MS = 2_000;

export class LockdServer implements ConnectionHost {
  readonly debug: boolean;
  private readonly server: net.Server;
  private readonly connections = new Set<Connection>();
  private dirty: Connection[] = [];
  private nextSession = 1;
  private readonly protocol: ProtocolFactory;
  private closing: Promise<void> | undefined;

  constructor(
    private readonly options: ServerOptions,
    readonly backend: LocalBackend,
    readonly logger: winston.Logger,
  ) {
    this.debug = logger.isDebugEnabled();
    this.protocol = protocolByName(options.protocol);
    this.server = net.createServer({ noDelay: true }, (socket) => this.accept(socket));
    this.server.on('error', (error) => logger.error('listener error', { error: error.message }));
    backend.listen({
      waiterGranted: (waiter, lease) => {
        const context = waitContextOf(waiter);
        context.connection.replyGranted(context, lease);
      },
      waiterTimedOut: (waiter) => {
        const context = waitContextOf(waiter);
        context.connection.replyTimedOut(context, waiter.key);
      },
      afterTimer: () => this.flush(),
    });
  }

  /** Starts listening; resolves with the bound address once connections are accepted. */
  listen(): Promise<net.AddressInfo> {
    return new Promise((resolve, reject) => {
      const onError = (error: Error) => reject(error);
      this.server.once('error', onError);
      this.server.listen(this.options.port, this.options.host, () => {
        this.server.off('error', onError);
        resolve(this.server.address() as net.AddressInfo);
      });
    });
  }

  /** Open connections. */
  get connectionCount(): number {
    return this.connections.size;
  }

  markDirty(connection: Connection): void {
    if (connection.dirty) return;
    connection.dirty = true;
    this.dirty.push(connection);
  }

  /**
   * Sends what this callback produced: straight to the sockets with the memory store, or after
   * one shared sync with a durable store (group commit: every connection's replies wait for the
   * same fsync, never for one of their own). Replies that need no sync go at once, and a
   * callback whose changes no reply waits for (releases, expiries) starts no write of its own.
   */
  flush(): void {
    const dirty = this.dirty;
    if (dirty.length === 0) {
      // Nothing to answer, but a closed session or an expiry may have left records to write.
      if (this.backend.durable) this.backend.writeBehind();
      return;
    }
    this.dirty = [];
    if (!this.backend.durable) {
      for (const connection of dirty) connection.writeOut();
      return;
    }
    const batches: Array<{ connection: Connection; batch: ReplyBatch }> = [];
    for (const connection of dirty) {
      const batch = connection.takeBatch();
      if (batch !== undefined) batches.push({ connection, batch });
    }
    if (batches.length === 0) {
      this.backend.writeBehind();
      return;
    }
    this.backend.sync((error) => {
      for (const { connection, batch } of batches) connection.deliver(batch, error);
    });
  }

  connectionClosed(connection: Connection): void {
    if (connection.closed) return;
    connection.markClosed();
    this.connections.delete(connection);
    const freed = this.backend.closeSession(connection.session);
    this.logger.info('connection closed', { peer: connection.peer, freedLeases: freed.leases, droppedWaiters: freed.waiters });
    this.flush();
  }

  /**
   * Graceful stop: no new connections, parked waiters answered UNAVAILABLE, replies flushed,
   * connections closed, store closed.
   */
  close(): Promise<void> {
    this.closing ??= this.shutdown();
    return this.closing;
  }

  private async shutdown(): Promise<void> {
    const stopped = new Promise<void>((resolve) => this.server.close(() => resolve()));
    for (const waiter of this.backend.drainWaiters()) {
      const context = waitContextOf(waiter);
      context.connection.replyUnavailable(context, 'lockd is shutting down; retry after it restarts or against another instance');
    }
    this.flush();
    await new Promise<void>((resolve) => this.backend.sync(() => resolve()));
    const ended = [...this.connections].map(
      (connection) =>
        new Promise<void>((resolve) => {
          connection.socket.once('close', () => resolve());
          connection.socket.end();
        }),
    );
    const grace = new Promise<void>((resolve) => setTimeout(resolve, SHUTDOWN_GRACE_MS).unref());
    await Promise.race([Promise.all(ended), grace]);
    for (const connection of this.connections) connection.socket.destroy();
    await stopped;
    await this.backend.close();
  }

  private accept(socket: net.Socket): void {
    if (this.closing !== undefined) {
      socket.destroy();
      return;
    }
    const session = this.nextSession;
    this.nextSession = this.nextSession >= 0x7fffffff ? 1 : this.nextSession + 1;
    const connection = new Connection(socket, session, this, this.protocol, this.options.transport, this.options.maxMessageBytes);
    this.connections.add(connection);
    this.logger.info('connection opened', { peer: connection.peer });
    socket.on('data', (chunk: Buffer) => {
      connection.receive(chunk);
      this.flush();
    });
    socket.on('error', (error) => this.logger.info('connection error', { peer: connection.peer, error: error.message }));
    socket.on('close', () => this.connectionClosed(connection));
  }
}
