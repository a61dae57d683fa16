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
import type { TransportKind } from '../protocol/message-stream';
import type { ProtocolFactory } from '../protocol/types';
import type { ClusterRouting } from '../backend/routing';
import type { WireClusterInfo } from '../protocol/lock-service/structs';
import { Connection, ConnectionHost, ConnectionLimits } from './connection';
import type { ReplyBatch } from './outbox';
import { handshakeFailure, TlsCertificates, verifiedPeerNames } from './tls';
import { RateLimitedWarnings } from './warnings';
import { detectWire, WireGuess, wrongProtocolAdvice } from './wire-detect';

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
  /** Input bytes pending at the end of the last read (counted in the server's running total). */
  pendingBytes: number;
}

export class LockdServer implements ConnectionHost {
  readonly debug: boolean;
  /** The HTTP listener's port once it listens, so a client speaking HTTP here is sent there. */
  httpPort: number | undefined;
  readonly limits: ConnectionLimits;
  private readonly server: net.Server;
  private readonly connections = new Map<Connection, Activity>();
  private dirty: Connection[] = [];
  /** Connections to end once their owed replies were handed to the socket. */
  private readonly ending = new Set<Connection>();
  private flushScheduled = false;
  private inDataCallback = false;
  private readonly warnings: RateLimitedWarnings;
  private readonly sweepTimer: NodeJS.Timeout;
  private connectionsLoggedAt = 0;
  /** Input bytes pending over all connections (see Activity.pendingBytes). */
  private pendingInputTotal = 0;
  private connectionsLogged = 0;
  private closing: Promise<void> | undefined;
  /** Undefined without --auth-file: every connection gets OPEN_ACCESS. */
  readonly accessControl: AccessControl | undefined;
  private readonly tls: TlsCertificates | undefined;
  /** Cluster mode's routing; undefined for a single lockd. */
  readonly routing: ClusterRouting | undefined;

  constructor(
    private readonly options: ServerOptions,
    readonly backend: Backend,
    readonly logger: winston.Logger,
    security: ServerSecurity = {},
    routing?: ClusterRouting,
  ) {
    this.debug = logger.isDebugEnabled();
    this.warnings = new RateLimitedWarnings(logger);
    this.limits = {
      maxMessageBytes: options.maxMessageBytes,
      connectionBufferBytes: options.connectionBufferBytes,
      defaultListLimit: options.defaultListLimit,
      maxListLimit: options.maxListLimit,
      maxListBytes: options.maxListBytes,
      seedLockTtlMs: options.seedLockTtlMs > 0 ? options.seedLockTtlMs : options.maxTtlMs,
      renewSeedGrants: options.seedLockTtlMs === 0,
    };
    this.accessControl = security.authFile && new AccessControl(security.authFile, backend, this);
    this.tls = security.tls;
    this.routing = routing;
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

  /** clusterInfo: the cluster's map, or this lockd alone (cluster "", one partition). */
  clusterInfo(): WireClusterInfo {
    if (this.routing !== undefined) return this.routing.info();
    const bound = this.server.address();
    const address = bound !== null && typeof bound === 'object' ? `${bound.address}:${bound.port}` : `${this.options.host}:${this.options.port}`;
    return { cluster: '', nodeId: address, partitions: 1, members: [{ nodeId: address, address, partitions: [0] }], owners: [address] };
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

  /** Bytes held over all connections: input not yet a whole message (or unread behind a pause) and replies not yet taken. */
  bufferStats(): { pendingInputBytes: number; replyBytes: number } {
    let pendingInputBytes = 0;
    let replyBytes = 0;
    for (const connection of this.connections.keys()) {
      pendingInputBytes += connection.pendingInputBytes;
      replyBytes += connection.outbox.bufferedBytes;
    }
    return { pendingInputBytes, replyBytes };
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
      else if (this.ending.has(connection) && connection.outbox.isSettled) this.endNow(connection);
    }
    if (batches.length === 0) {
      if (this.backend.durable) this.backend.writeBehind();
      return;
    }
    this.backend.sync((error) => {
      for (const { connection, batch } of batches) {
        connection.outbox.deliver(batch, error);
        if (this.ending.has(connection) && connection.outbox.isSettled) this.endNow(connection);
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
      this.warn(`tls-handshake:${reason}`, handshakeFailure(reason), { peer: `${socket.remoteAddress ?? 'unknown'}:${socket.remotePort ?? ''}`, reason, detail: error.message });
    });
    return server;
  }

  /**
   * Reads a new socket's first bytes to learn its transport and protocol, then hands it to a
   * Connection; a client speaking HTTP or TLS to this port is told so and closed.
   */
  private accept(socket: net.Socket): void {
    if (this.closing !== undefined) {
      socket.destroy();
      return;
    }
    let head: Buffer = Buffer.alloc(0);
    const sniffTimer = setTimeout(() => socket.destroy(), this.options.readTimeoutMs);
    sniffTimer.unref();
    const onError = () => clearTimeout(sniffTimer);
    socket.on('error', onError);
    // A client that says too little to be recognised and hangs up is simply closed.
    const onEnd = () => socket.destroy();
    socket.once('end', onEnd);
    const onData = (chunk: Buffer) => {
      head = head.length === 0 ? chunk : Buffer.concat([head, chunk]);
      const guess = detectWire(head);
      if (guess === undefined) return;
      clearTimeout(sniffTimer);
      socket.off('data', onData);
      socket.off('error', onError);
      socket.off('end', onEnd);
      if (guess.kind === 'http' || guess.kind === 'tls') {
        this.refuseWrongProtocol(socket, guess);
        return;
      }
      // What cannot be told apart is read as the configured transport and protocol (whose parser
      // then says what is wrong with it).
      const { transport, protocol } = guess.kind === 'thrift' ? guess : this.options;
      this.serve(socket, transport, protocolByName(protocol), head);
    };
    socket.on('data', onData);
  }

  private refuseWrongProtocol(socket: net.Socket, guess: WireGuess): void {
    const advice = wrongProtocolAdvice(guess, this.httpPort);
    this.warn(`wrong-protocol-${guess.kind}`, `closing connection: ${advice}`, { peer: `${socket.remoteAddress}:${socket.remotePort}` });
    socket.on('error', () => {});
    if (guess.kind === 'http') {
      const body = `${advice}\n`;
      socket.end(`HTTP/1.1 400 Bad Request\r\ncontent-type: text/plain\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`);
    } else {
      socket.destroy();
    }
  }

  private serve(socket: net.Socket, transport: TransportKind, protocol: ProtocolFactory, head: Buffer): void {
    const connection = new Connection(socket, this, protocol, transport);
    const activity: Activity = { lastActiveAt: Date.now(), messageStartedAt: 0, pendingBytes: 0 };
    this.connections.set(connection, activity);
    if (this.debug) this.logger.debug('connection opened', { peer: connection.peer, transport, protocol: protocol.name });
    this.logConnectionCount();
    const onData = (chunk: Buffer) => this.receiveFor(connection, chunk);
    socket.on('data', onData);
    // The client shut its side: answer what it sent, then end ours.
    socket.on('end', () => connection.closeAfterReplies());
    socket.on('error', (error) => {
      if (this.debug) this.logger.debug('connection error', { peer: connection.peer, error: error.message });
    });
    socket.on('close', () => this.connectionClosed(connection));
    this.receiveFor(connection, head);
  }

  receiveFor(connection: Connection, chunk: Buffer): void {
    const activity = this.connections.get(connection);
    if (activity === undefined) return;
    const now = Date.now();
    activity.lastActiveAt = now;
    this.inDataCallback = true;
    try {
      connection.receive(chunk);
    } finally {
      this.inDataCallback = false;
    }
    // Only input that is not yet a whole message counts toward --read-timeout (calls waiting
    // unread behind a full outbox are the client's replies' fault, not a slow message).
    if (!connection.hasPartialMessage) activity.messageStartedAt = 0;
    else if (activity.messageStartedAt === 0) activity.messageStartedAt = now;
    const pending = connection.pendingInputBytes;
    this.pendingInputTotal += pending - activity.pendingBytes;
    activity.pendingBytes = pending;
    // Input is checked as it arrives (replies once a second, in the sweep): a thousand clients
    // each sending most of a large message must not get past the budget between sweeps.
    if (this.pendingInputTotal > this.options.totalBufferBytes) this.enforceTotalBudget();
    this.flush();
  }

  private endNow(connection: Connection): void {
    this.ending.delete(connection);
    connection.socket.end();
  }

  private connectionClosed(connection: Connection): void {
    if (connection.closed) return;
    connection.markClosed();
    this.pendingInputTotal -= this.connections.get(connection)?.pendingBytes ?? 0;
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
    if (total > totalBufferBytes) this.enforceTotalBudget();
  }

  /** Closes the connections holding the most bytes until the total is within --total-buffer-limit. */
  private enforceTotalBudget(): void {
    const limit = this.options.totalBufferBytes;
    const byUse = [...this.connections.keys()]
      .map((connection) => ({ connection, bytes: connection.pendingInputBytes + connection.outbox.bufferedBytes }))
      .sort((a, b) => b.bytes - a.bytes);
    let total = byUse.reduce((sum, { bytes }) => sum + bytes, 0);
    for (const { connection, bytes } of byUse) {
      if (total <= limit) break;
      this.warn('total-buffer-limit', 'closing connection: buffers over all connections passed --total-buffer-limit', {
        peer: connection.peer,
        connectionBytes: bytes,
        limitBytes: limit,
      });
      // Closed now, not at the socket's close event, so the next read already sees the room.
      connection.socket.destroy();
      this.connectionClosed(connection);
      total -= bytes;
    }
  }
}
