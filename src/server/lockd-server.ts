/**
 * lockd's network server: a net.Server with one Connection (one session) per socket, so
 * ephemeral grants and waiters die with their connection. It owns what spans connections: the
 * connection limit, the memory budget over all of them, read and idle timeouts, and the flush
 * that sends every connection's replies once per event-loop callback (after one shared sync
 * with a durable store: group commit).
 */
import net from 'node:net';
import tls from 'node:tls';
import type winston from 'winston';
import { AccessControl, CallAccess, OPEN_ACCESS } from '../auth/access-control';
import type { AuthFile } from '../auth/auth-file';
import type { Backend } from '../backend/backend';
import type { ServerOptions } from '../options';
import { protocolByName } from '../protocol';
import type { ProtocolFactory } from '../protocol/types';
import { Connection, ConnectionHost, ConnectionLimits } from './connection';
import type { ReplyBatch } from './outbox';
import { looksLikeTlsHello, TlsCertificates, verifiedPeerNames } from './tls';
import { RateLimitedWarnings } from './warnings';

/** What secures a LockdServer; both optional (plain TCP, everyone may do everything). */
export interface ServerSecurity {
  /** Serve TLS with these files (reloaded in place). */
  readonly tls?: TlsCertificates;
  /** Check every call against this permissions file. */
  readonly authFile?: AuthFile;
}

/** How long shutdown waits for clients to take their last replies before cutting them off. */
const SHUTDOWN_GRACE_MS = 2_000;
/** How often timeouts and the memory budget are checked. */
const SWEEP_INTERVAL_MS = 1_000;
/** How often the connection count is logged at info while it changes. */
const CONNECTION_COUNT_LOG_MS = 60_000;

/** Tracks what one connection is doing, for the sweep. */
interface Activity {
  /** Last time bytes arrived or a reply left. */
  lastActiveAt: number;
  /** When the partial message now pending began to arrive; 0 when nothing is pending. */
  messageStartedAt: number;
}

export class LockdServer implements ConnectionHost {
  readonly debug: boolean;
  readonly limits: ConnectionLimits;
  private readonly server: net.Server;
  private readonly connections = new Map<Connection, Activity>();
  private dirty: Connection[] = [];
  /** Connections to end once their owed replies were handed to the socket. */
  private readonly ending = new Set<Connection>();
  private flushScheduled = false;
  private inDataCallback = false;
  private readonly protocol: ProtocolFactory;
  private readonly warnings: RateLimitedWarnings;
  private readonly sweepTimer: NodeJS.Timeout;
  private connectionsLoggedAt = 0;
  private connectionsLogged = 0;
  private closing: Promise<void> | undefined;
  /** Undefined without --auth-file: every connection gets OPEN_ACCESS. */
  readonly accessControl: AccessControl | undefined;
  private readonly tls: TlsCertificates | undefined;

  constructor(
    private readonly options: ServerOptions,
    readonly backend: Backend,
    readonly logger: winston.Logger,
    security: ServerSecurity = {},
  ) {
    this.debug = logger.isDebugEnabled();
    this.warnings = new RateLimitedWarnings(logger);
    this.protocol = protocolByName(options.protocol);
    this.limits = {
      maxMessageBytes: options.maxMessageBytes,
      connectionBufferBytes: options.connectionBufferBytes,
      defaultListLimit: options.defaultListLimit,
      maxListLimit: options.maxListLimit,
      maxListBytes: options.maxListBytes,
      seedLockTtlMs: options.seedLockTtlMs > 0 ? options.seedLockTtlMs : options.maxTtlMs,
    };
    this.accessControl = security.authFile && new AccessControl(security.authFile, backend, this);
    this.tls = security.tls;
    // allowHalfOpen: a client that sends its calls and then shuts its side still gets the replies.
    const socketOptions = { noDelay: true, allowHalfOpen: true, keepAlive: true, keepAliveInitialDelay: 30_000 };
    this.server = this.tls === undefined ? net.createServer(socketOptions, (socket) => this.accept(socket)) : this.createTlsServer(this.tls, socketOptions);
    this.server.maxConnections = options.maxConnections;
    this.server.on('drop', (dropped) =>
      this.warn('max-connections', 'connection refused: --max-connections reached', { limit: options.maxConnections, peer: `${dropped?.remoteAddress}:${dropped?.remotePort}` }),
    );
    this.server.on('error', (error: NodeJS.ErrnoException) => {
      // EMFILE/ENFILE: out of file descriptors; the connection is dropped by the kernel queue.
      this.warn('accept-error', 'cannot accept connections', { error: error.message, code: error.code });
    });
    this.sweepTimer = setInterval(() => this.sweep(), SWEEP_INTERVAL_MS);
    this.sweepTimer.unref();
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

  /** True when the port speaks TLS. */
  get secure(): boolean {
    return this.tls !== undefined;
  }

  openAccess(socket: net.Socket, peer: string): CallAccess {
    return this.accessControl === undefined ? OPEN_ACCESS : this.accessControl.open(peer, verifiedPeerNames(socket));
  }

  /** Open connections. */
  get connectionCount(): number {
    return this.connections.size;
  }

  markDirty(connection: Connection): void {
    if (connection.dirty) return;
    connection.dirty = true;
    this.dirty.push(connection);
    // Outside a data callback (a timer granted a waiter) nobody else will flush this turn.
    if (!this.inDataCallback && !this.flushScheduled) {
      this.flushScheduled = true;
      process.nextTick(this.flush);
    }
  }

  warn(kind: string, message: string, meta: Record<string, unknown>): void {
    this.warnings.warn(kind, message, meta);
  }

  endAfterFlush(connection: Connection): void {
    this.ending.add(connection);
    this.markDirty(connection);
  }

  /**
   * Sends what this callback produced: straight to the sockets with the memory store, or after
   * one shared sync with a durable store (every connection's replies wait for the same fsync,
   * never for one of their own). Replies that need no sync go at once, and a callback whose
   * changes no reply waits for (releases, expiries) starts no write of its own.
   */
  readonly flush = (): void => {
    this.flushScheduled = false;
    const dirty = this.dirty;
    if (dirty.length === 0) {
      // Nothing to answer, but a closed session or a release may have left records to write.
      if (this.backend.durable) this.backend.writeBehind();
      return;
    }
    this.dirty = [];
    const batches: Array<{ connection: Connection; batch: ReplyBatch }> = [];
    for (const connection of dirty) {
      const batch = connection.flush();
      if (batch !== undefined) batches.push({ connection, batch });
      else if (this.ending.has(connection)) this.endNow(connection);
    }
    if (batches.length === 0) {
      if (this.backend.durable) this.backend.writeBehind();
      return;
    }
    this.backend.sync((error) => {
      for (const { connection, batch } of batches) {
        connection.outbox.deliver(batch, error);
        if (this.ending.has(connection)) this.endNow(connection);
      }
    });
  };

  /**
   * Graceful stop: no new connections, parked waiters answered UNAVAILABLE, replies flushed,
   * connections closed, store closed.
   */
  close(): Promise<void> {
    this.closing ??= this.shutdown();
    return this.closing;
  }

  private async shutdown(): Promise<void> {
    clearInterval(this.sweepTimer);
    const stopped = new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.backend.drainWaiters();
    const message = 'lockd is shutting down; retry after it restarts or against another instance';
    for (const connection of this.connections.keys()) connection.answerParkedUnavailable(message);
    this.flush();
    await new Promise<void>((resolve) => this.backend.sync(() => resolve()));
    const ended = [...this.connections.keys()].map(
      (connection) =>
        new Promise<void>((resolve) => {
          connection.socket.once('close', () => resolve());
          connection.socket.end();
        }),
    );
    const grace = new Promise<void>((resolve) => setTimeout(resolve, SHUTDOWN_GRACE_MS).unref());
    await Promise.race([Promise.all(ended), grace]);
    for (const connection of this.connections.keys()) connection.socket.destroy();
    await stopped;
    await this.backend.close();
  }

  /**
   * A TLS listener: a handshake that fails (a plain client, an expired or untrusted client
   * certificate, a slow handshake past --read-timeout) closes its socket with one warning.
   */
  private createTlsServer(certificates: TlsCertificates, socketOptions: net.ServerOpts): tls.Server {
    const server = tls.createServer({ ...socketOptions, ...certificates.serverOptions(this.options.readTimeoutMs) }, (socket) => {
      const refusal = certificates.clientCertificateRefusal(socket);
      if (refusal === undefined) return this.accept(socket);
      // Refused before a byte is read: the peer never reaches a handler.
      this.warn(`tls-client-certificate:${refusal}`, 'closing connection: client certificate refused', { peer: `${socket.remoteAddress}:${socket.remotePort}`, reason: refusal });
      socket.destroy();
    });
    certificates.attach(server);
    server.on('tlsClientError', (error: NodeJS.ErrnoException, socket: tls.TLSSocket) => {
      const reason = error.code ?? error.message;
      this.warn(`tls-handshake:${reason}`, 'closing connection: TLS handshake failed', { peer: `${socket.remoteAddress ?? 'unknown'}:${socket.remotePort ?? ''}`, reason, detail: error.message });
    });
    return server;
  }

  /** A TLS client on a plain port: one clear warning instead of a malformed-message one. */
  private refuseTlsOnPlainPort(connection: Connection): void {
    this.warn('tls-on-plain-port', 'closing connection: the client speaks TLS but this port is plain TCP (start lockd with --tls-cert and --tls-key, or connect without TLS)', {
      peer: connection.peer,
    });
    connection.socket.destroy();
  }

  private accept(socket: net.Socket): void {
    if (this.closing !== undefined) {
      socket.destroy();
      return;
    }
    const connection = new Connection(socket, this, this.protocol, this.options.transport);
    const activity: Activity = { lastActiveAt: Date.now(), messageStartedAt: 0 };
    this.connections.set(connection, activity);
    if (this.debug) this.logger.debug('connection opened', { peer: connection.peer });
    this.logConnectionCount();
    let firstChunk = this.tls === undefined;
    socket.on('data', (chunk: Buffer) => {
      if (firstChunk) {
        firstChunk = false;
        if (looksLikeTlsHello(chunk)) return this.refuseTlsOnPlainPort(connection);
      }
      const now = Date.now();
      activity.lastActiveAt = now;
      this.inDataCallback = true;
      try {
        connection.receive(chunk);
      } finally {
        this.inDataCallback = false;
      }
      const pending = connection.pendingInputBytes;
      if (pending === 0) activity.messageStartedAt = 0;
      else if (activity.messageStartedAt === 0) activity.messageStartedAt = now;
      this.flush();
    });
    // The client shut its side: answer what it sent, then end ours.
    socket.on('end', () => connection.closeAfterReplies());
    socket.on('error', (error) => {
      if (this.debug) this.logger.debug('connection error', { peer: connection.peer, error: error.message });
    });
    socket.on('close', () => this.connectionClosed(connection));
  }

  private endNow(connection: Connection): void {
    this.ending.delete(connection);
    connection.socket.end();
  }

  private connectionClosed(connection: Connection): void {
    if (connection.closed) return;
    connection.markClosed();
    this.connections.delete(connection);
    this.ending.delete(connection);
    const freed = this.backend.closeSession(connection.session);
    if (this.debug) this.logger.debug('connection closed', { peer: connection.peer, freedLeases: freed.leases, droppedWaiters: freed.waiters });
    this.logConnectionCount();
    this.flush();
  }

  /** The count of connections at info, at most once a minute and only when it changed. */
  private logConnectionCount(): void {
    const now = Date.now();
    if (now - this.connectionsLoggedAt < CONNECTION_COUNT_LOG_MS || this.connections.size === this.connectionsLogged) return;
    this.connectionsLoggedAt = now;
    this.connectionsLogged = this.connections.size;
    this.logger.info('connections', { open: this.connections.size });
  }

  /**
   * Once a second: closes connections whose started message did not complete within
   * --read-timeout (slowloris) or that held nothing and said nothing for --idle-timeout, and
   * keeps the bytes buffered over all connections within --total-buffer-limit by closing the
   * largest holders first.
   */
  private sweep(): void {
    const now = Date.now();
    const { readTimeoutMs, idleTimeoutMs, totalBufferBytes } = this.options;
    let total = 0;
    for (const [connection, activity] of this.connections) {
      if (activity.messageStartedAt > 0 && now - activity.messageStartedAt > readTimeoutMs) {
        this.warn('read-timeout', 'closing connection: a message did not arrive whole within --read-timeout', {
          peer: connection.peer,
          pendingBytes: connection.pendingInputBytes,
        });
        connection.socket.destroy();
        continue;
      }
      if (now - activity.lastActiveAt > idleTimeoutMs && connection.isIdle) {
        if (this.debug) this.logger.debug('closing idle connection', { peer: connection.peer });
        connection.socket.end();
        continue;
      }
      total += connection.pendingInputBytes + connection.outbox.bufferedBytes;
    }
    if (total <= totalBufferBytes) return;
    const byUse = [...this.connections.keys()]
      .map((connection) => ({ connection, bytes: connection.pendingInputBytes + connection.outbox.bufferedBytes }))
      .sort((a, b) => b.bytes - a.bytes);
    for (const { connection, bytes } of byUse) {
      if (total <= totalBufferBytes) break;
      this.warn('total-buffer-limit', 'closing connection: buffers over all connections passed --total-buffer-limit', {
        peer: connection.peer,
        connectionBytes: bytes,
        limitBytes: totalBufferBytes,
      });
      connection.socket.destroy();
      total -= bytes;
    }
  }
}
