/**
 * One client connection: the adapter between its socket and the handlers. It splits the bytes
 * into messages, dispatches each decoded call to its handler as this connection's session, and
 * stops reading while its outbox is over budget. Replies and their timing are the outbox's job.
 */
import type { Socket } from 'node:net';
import type winston from 'winston';
import type { CallAccess } from '../auth/access-control';
import type { Backend, SessionSink } from '../backend/backend';
import { LockdError, ProtocolError, UnavailableError, WireErrorCode } from '../errors';
import { readCall, ServiceCall, writeApplicationException, writeLockErrorReply } from '../protocol/lock-service/server';
import { MessageStream, TransportKind } from '../protocol/message-stream';
import { ApplicationErrorType, ProtocolFactory, ProtocolReader } from '../protocol/types';
import { modeName } from '../table/lock-table';
import { type LeaseView, monotonicClock, type SessionId, type Waiter } from '../table/types';
import * as handlers from './handlers';
import type { CallContext, ParkedCall, ReplyLimits } from './handlers';
import { Forwarder, forwardableKeyed, ForwardingHost } from './forwarding';
import { Outbox, OutboxEvents } from './outbox';
import type { ClusterRouting } from '../backend/routing';
import type { WireClusterInfo } from '../protocol/lock-service/structs';
import { handleAcquireLock, handleReleaseLock, SeedApiLimits } from './seed-api';

/** What a connection needs from its server. */
export interface ConnectionHost {
  readonly backend: Backend;
  readonly logger: winston.Logger;
  /** True when debug logging is on: per-operation lines are built only then. */
  readonly debug: boolean;
  readonly limits: ConnectionLimits;
  /** Asks for this connection's outbox to be flushed at the end of the current callback. */
  markDirty(connection: Connection): void;
  /** Logs a warning about abuse or a limit, rate-limited by kind. */
  warn(kind: string, message: string, meta: Record<string, unknown>): void;
  /** Ends the connection's socket once the replies owed so far were handed to it. */
  endAfterFlush(connection: Connection): void;
  /** Who a new connection is and what it may do (its TLS client certificate, if any, decides first). */
  openAccess(socket: Socket, peer: string): CallAccess;
  /** Feeds bytes to a connection as a data event does (then flushes). */
  receiveFor(connection: Connection, chunk: Buffer): void;
  /** Cluster mode's partition map and links to other nodes; undefined for a single lockd. */
  readonly routing: ClusterRouting | undefined;
  /** clusterInfo's answer: the cluster's, or this single lockd as a cluster of one. */
  clusterInfo(): WireClusterInfo;
}

/** Per-connection limits, from the server options. */
export interface ConnectionLimits extends ReplyLimits, SeedApiLimits {
  readonly maxMessageBytes: number;
  /** Bytes of replies one connection may hold before it stops being read. */
  readonly connectionBufferBytes: number;
}

export class Connection implements CallContext, SessionSink, OutboxEvents, ForwardingHost {
  readonly outbox: Outbox;
  readonly session: SessionId;
  readonly seedGrants = new Map<string, string>();
  /** Set while the server has this connection in its list of outboxes to flush. */
  dirty = false;
  holdsEphemeral = false;
  closed = false;
  /** A label for logs, taken while the socket still knows its peer. */
  readonly peer: string;
  readonly access: CallAccess;
  private readonly stream: MessageStream;
  private readonly parkedBySeq = new Map<number, ParkedCall>();
  private readonly parkedByWaiter = new Map<number, ParkedCall>();
  /** Reading stopped because the outbox is over budget. */
  private throttled = false;
  /** A malformed message was seen: nothing after it is read. */
  private failedAlready = false;
  /** Dispatch stopped at the budget; calls may wait unread in the stream. */
  private stopped = false;
  private resumeScheduled = false;
  private seedRenewal: NodeJS.Timeout | undefined;
  /** Cluster mode: forwards this connection's calls for other nodes' keys (made on first use). */
  private forwarder: Forwarder | undefined;
  /** Another lockd node forwards over this connection (peerConnection): never forward its calls again. */
  private peerLink = false;

  constructor(
    readonly socket: Socket,
    private readonly host: ConnectionHost,
    protocol: ProtocolFactory,
    transport: TransportKind,
  ) {
    const limits = host.limits;
    this.session = host.backend.openSession(this);
    this.outbox = new Outbox(socket, this, protocol, transport === 'framed', host.backend.durable, limits.connectionBufferBytes);
    this.stream = new MessageStream(protocol, transport, limits.maxMessageBytes);
    this.peer = `${socket.remoteAddress}:${socket.remotePort}#${this.session}`;
    this.access = host.openAccess(socket, this.peer);
  }

  get backend(): Backend {
    return this.host.backend;
  }

  get limits(): ConnectionLimits {
    return this.host.limits;
  }

  /** True when closing this connection would free nothing: no ephemeral grant, no parked wait, no reply owed. */
  get isIdle(): boolean {
    return !this.holdsEphemeral && this.parkedBySeq.size === 0 && this.seedGrants.size === 0 && !this.outbox.hasOutput && this.outbox.bufferedBytes === 0;
  }

  /** True while a message that has begun is still arriving. */
  get hasPartialMessage(): boolean {
    return this.stream.hasPartialMessage;
  }

  /** Bytes received that do not form a whole message yet. */
  get pendingInputBytes(): number {
    return this.stream.pendingBytes;
  }

  /**
   * Feeds received bytes. Calls are dispatched in order until the outbox goes over budget; the
   * rest waits, unread, until the client takes its replies. A malformed or oversize message
   * closes this connection only, after the replies to the calls before it.
   */
  receive(chunk: Buffer): void {
    if (this.closed || this.failedAlready) return;
    try {
      this.stream.push(chunk, this.onMessage);
    } catch (error) {
      this.failed(error);
    }
  }

  /** Flushes the outbox: sends what may leave and returns what waits for a sync. */
  flush(): ReturnType<Outbox['flush']> {
    this.dirty = false;
    const batch = this.outbox.flush();
    // Dispatch stopped at the budget with calls still unread, but the socket took the replies
    // without pausing us: go on with the rest on the next turn (never in this one, so one
    // connection cannot hold the event loop).
    if (this.stopped && !this.throttled && !this.resumeScheduled) {
      this.resumeScheduled = true;
      setImmediate(this.resume);
    }
    return batch;
  }

  private readonly resume = (): void => {
    this.resumeScheduled = false;
    if (this.closed || this.failedAlready || this.throttled) return;
    this.host.receiveFor(this, Buffer.alloc(0));
  };

  // CallContext -------------------------------------------------------------------------------

  park(call: ParkedCall): void {
    this.parkedBySeq.set(call.seqid, call);
    this.parkedByWaiter.set(call.waiter.id, call);
    this.access.waiterParked();
  }

  parkedBySeqid(seqid: number): ParkedCall | undefined {
    return this.parkedBySeq.get(seqid);
  }

  unpark(call: ParkedCall): void {
    if (this.parkedByWaiter.delete(call.waiter.id)) this.access.waiterLeft();
    this.parkedBySeq.delete(call.seqid);
  }

  markDirty(): void {
    this.host.markDirty(this);
  }

  logOp(what: string, key: string, lease?: LeaseView): void {
    if (!this.host.debug) return;
    this.host.logger.debug(what, {
      peer: this.peer,
      key,
      ...(lease && { fence: lease.fence, mode: modeName(lease.mode), holdCount: lease.holdCount, expiresAtMs: lease.expiresAtMs }),
    });
  }

  // SessionSink: outcomes of this connection's parked waits -------------------------------------

  waiterGranted(waiter: Waiter, lease: LeaseView): void {
    const parked = this.parkedByWaiter.get(waiter.id);
    if (parked === undefined) return;
    handlers.replyWaitGranted(this, parked, lease);
    this.host.markDirty(this);
  }

  waiterTimedOut(waiter: Waiter): void {
    const parked = this.parkedByWaiter.get(waiter.id);
    if (parked === undefined) return;
    handlers.replyTimedOut(this, parked);
    this.host.markDirty(this);
  }

  waiterRefused(waiter: Waiter, error: LockdError): void {
    const parked = this.parkedByWaiter.get(waiter.id);
    if (parked === undefined) return;
    const routing = this.host.routing;
    if (routing !== undefined && !this.peerLink && error instanceof UnavailableError) {
      // Its partition moved to another node (hand-off, lost ownership): wait there instead, for
      // the time this wait had left (at the back of the new owner's queue).
      this.unpark(parked);
      this.forwarding(routing).waitOutFailover(handlers.parkedCallAgain(parked, monotonicClock.now()), error);
      return;
    }
    handlers.replyRefused(this, parked, error.wireCode ?? WireErrorCode.UNAVAILABLE, error.message);
    this.host.markDirty(this);
  }

  /** Answers every parked wait with UNAVAILABLE (shutdown); the backend already dropped them. */
  answerParkedUnavailable(message: string): void {
    for (const parked of [...this.parkedBySeq.values()]) handlers.replyUnavailable(this, parked, message);
    this.host.markDirty(this);
  }

  // OutboxEvents ------------------------------------------------------------------------------

  overBudget(): void {
    this.throttled = true;
    this.socket.pause();
    this.host.warn('slow-reader', 'connection paused: its client is not taking its replies', {
      peer: this.peer,
      bufferedBytes: this.outbox.bufferedBytes,
      limitBytes: this.host.limits.connectionBufferBytes,
    });
  }

  underBudget(): void {
    this.throttled = false;
    if (this.closed || this.failedAlready) return;
    this.socket.resume();
    // Calls that arrived while over budget are still unread in the stream: on the next turn.
    if (!this.resumeScheduled) {
      this.resumeScheduled = true;
      setImmediate(this.resume);
    }
  }

  rollBack(key: string, token: string): void {
    if (this.seedGrants.get(key) === token) this.seedGrants.delete(key);
    try {
      this.host.backend.rollBack(key, token);
    } catch (error) {
      // Runs inside a sync's callback: a throw here would take every connection down with it.
      this.host.logger.error('could not roll back a grant whose change was not made durable', { peer: this.peer, key, error: String((error as Error)?.stack ?? error) });
    }
  }

  syncFailed(replies: number, error: Error): void {
    this.host.warn('sync-failed', 'answering UNAVAILABLE: a sync failed; the changes were undone', { peer: this.peer, calls: replies, reason: error.message });
  }

  // -------------------------------------------------------------------------------------------

  /**
   * The seed API's grants last as long as the connection: with no --seed-lock-ttl they are
   * renewed (each to its own TTL) every third of it while the connection lives.
   */
  noteSeedGrant(): void {
    const { seedLockTtlMs, renewSeedGrants } = this.host.limits;
    if (!renewSeedGrants || this.seedRenewal !== undefined) return;
    this.seedRenewal = setInterval(this.renewSeedGrants, Math.max(1, Math.floor(seedLockTtlMs / 3)));
    this.seedRenewal.unref();
  }

  private readonly renewSeedGrants = (): void => {
    for (const [key, token] of this.seedGrants) {
      if (this.host.backend.isHeld(key, token)) this.host.backend.renew(key, token, undefined);
      else this.seedGrants.delete(key);
    }
    if (this.seedGrants.size === 0) this.stopSeedRenewal();
    // Renewals answer nobody: their records ride along with the next write.
    if (this.host.backend.durable) this.host.backend.writeBehind();
  };

  private stopSeedRenewal(): void {
    if (this.seedRenewal !== undefined) clearInterval(this.seedRenewal);
    this.seedRenewal = undefined;
  }

  /** The socket closed: the session is over. */
  markClosed(): void {
    this.stopSeedRenewal();
    this.closed = true;
    this.forwarder?.close();
    this.outbox.close();
    this.access.close();
    this.seedGrants.clear();
    this.parkedBySeq.clear();
    this.parkedByWaiter.clear();
  }

  /** Returns false to stop dispatching (the outbox is over budget); the rest of the bytes wait. */
  private readonly onMessage = (reader: ProtocolReader): boolean => {
    const call = readCall(reader);
    const outbox = this.outbox;
    try {
      this.dispatch(call);
    } catch (error) {
      outbox.discard();
      this.replyError(call, error);
    }
    if (outbox.hasOutput) this.host.markDirty(this);
    this.stopped = this.throttled || outbox.isOverBudget;
    return !this.stopped;
  };

  /** Cluster mode sends calls for other nodes' keys on (forwarding.ts); the rest is served here. */
  private dispatch(call: ServiceCall): void {
    const routing = this.host.routing;
    const keyed = routing === undefined ? undefined : forwardableKeyed(call);
    if (keyed === undefined) return this.serve(call);
    const forwarder = this.forwarding(routing!);
    if (forwarder.forwardKeyed(keyed, this.peerLink)) return;
    try {
      this.serve(call);
    } catch (error) {
      // This node stopped serving the key between the routing and the table (its partition moved
      // or its ownership lapsed): nothing changed, so the call may wait for the new owner.
      if (!(error instanceof UnavailableError) || this.peerLink) throw error;
      this.outbox.discard();
      forwarder.waitOutFailover(keyed, error);
    }
  }

  private serve(call: ServiceCall): void {
    const { required, requiredKey } = handlers;
    const routing = this.host.routing;
    switch (call.method) {
      case 'acquire':
        return handlers.handleAcquire(this, call.seqid, call.request);
      case 'release':
        return handlers.handleRelease(this, call.seqid, requiredKey(call.lockKey, call.keyValid), required(call.token, 'token'));
      case 'renew':
        return handlers.handleRenew(this, call.seqid, requiredKey(call.lockKey, call.keyValid), required(call.token, 'token'), call.ttlMs);
      case 'checkFence':
        return handlers.handleCheckFence(this, call.seqid, requiredKey(call.lockKey, call.keyValid), required(call.fence, 'fence'));
      case 'inspect':
        return handlers.handleInspect(this, call.seqid, requiredKey(call.lockKey, call.keyValid));
      case 'listLocks':
        if (routing !== undefined && !this.peerLink) {
          const prefix = call.prefix ?? '';
          const local = handlers.collectListPage(this, prefix, call.limit, call.startAfter);
          return this.forwarding(routing).listAcrossCluster(call.name, call.seqid, prefix, call.startAfter, local);
        }
        return handlers.handleListLocks(this, call.name, call.seqid, call.prefix ?? '', call.limit, call.startAfter);
      case 'ping':
        return handlers.handlePing(this, call.seqid);
      case 'cancelWait': {
        const waitSeqid = required(call.waitSeqid, 'seqid');
        if (this.forwarder?.forwardCancel(call.seqid, waitSeqid) === true) return;
        return handlers.handleCancelWait(this, call.seqid, waitSeqid);
      }
      case 'acquireLock':
        return handleAcquireLock(this, call.seqid, call.request, this.host.limits);
      case 'releaseLock':
        return handleReleaseLock(this, call.seqid, call.request);
      case 'authenticate':
        return handlers.handleAuthenticate(this, call.seqid, required(call.identity, 'identity'), required(call.secret, 'secret'));
      case 'clusterInfo':
        return handlers.handleClusterInfo(this, call.seqid, this.host.clusterInfo());
      case 'peerConnection':
        required(call.nodeId, 'nodeId');
        this.peerLink = true;
        return handlers.handlePeerConnection(this, call.seqid, this.host.clusterInfo().nodeId);
      case 'unknown':
        return handlers.handleUnknown(this, call.seqid, call.name, call.messageType);
    }
  }

  redispatch(call: ServiceCall): void {
    if (this.closed) return;
    try {
      this.dispatch(call);
    } catch (error) {
      this.outbox.discard();
      this.replyError(call, error);
    }
    if (this.outbox.hasOutput) this.host.markDirty(this);
  }

  private forwarding(routing: ClusterRouting): Forwarder {
    return (this.forwarder ??= new Forwarder(routing, this));
  }

  private replyError(call: ServiceCall, error: unknown): void {
    const method = 'name' in call ? call.name : call.method;
    if (error instanceof LockdError && error.wireCode !== undefined) {
      const ownerAddress = error instanceof UnavailableError ? error.ownerAddress : undefined;
      writeLockErrorReply(this.outbox.begin('ordered'), method, call.seqid, error.wireCode, error.message, ownerAddress);
      this.outbox.end();
      this.logOp(`refused: ${error.message}`, '');
      return;
    }
    this.host.logger.error('internal error while serving a call', { peer: this.peer, method, error: String((error as Error)?.stack ?? error) });
    writeApplicationException(this.outbox.begin('ordered'), method, call.seqid, ApplicationErrorType.INTERNAL_ERROR, 'internal error; see the server log');
    this.outbox.end();
  }

  /**
   * Bad input ends this connection only. Replies to the calls before the bad message still go
   * out: the server flushes this connection, then the socket ends after them.
   */
  private failed(error: unknown): void {
    this.failedAlready = true;
    if (error instanceof ProtocolError) {
      this.host.warn('malformed', 'closing connection: malformed request', { peer: this.peer, reason: error.message });
    } else {
      this.host.logger.error('closing connection after an internal error', { peer: this.peer, error: String((error as Error)?.stack ?? error) });
    }
    this.closeAfterReplies();
  }

  /** Stops reading and ends the socket once the replies owed so far were handed to it. */
  closeAfterReplies(): void {
    if (this.closed) return;
    this.socket.pause();
    this.host.endAfterFlush(this);
  }
}
