/**
 * One client connection: decodes its calls, applies them to the backend as this connection's
 * session, and encodes the replies into its output buffer. Replies leave when the server
 * flushes (once per event-loop callback, after a sync when the store is durable), so pipelined
 * calls and waiter grants share one socket write.
 */
import type { Socket } from 'node:net';
import type winston from 'winston';
import type { LocalBackend } from '../backend/local-backend';
import { InvalidArgumentError, LockdError, ProtocolError, WireErrorCode } from '../errors';
import * as codec from '../protocol/lock-service/server';
import type { WireLockRequest } from '../protocol/lock-service/structs';
import { MessageStream, TransportKind } from '../protocol/message-stream';
import { OutputBuffer } from '../util/output-buffer';
import { ApplicationErrorType, MessageType, ProtocolFactory, ProtocolReader, ProtocolWriter } from '../protocol/types';
import { modeName } from '../table/lock-table';
import type { LeaseView, SessionId, Waiter } from '../table/types';

/** What a connection needs from its server. */
export interface ConnectionHost {
  readonly backend: LocalBackend;
  readonly logger: winston.Logger;
  /** True when debug logging is on: per-operation lines are built only then. */
  readonly debug: boolean;
  /** Asks for this connection's output to be flushed at the end of the current callback. */
  markDirty(connection: Connection): void;
  /** The connection's socket closed; its session is over. */
  connectionClosed(connection: Connection): void;
}

/** Where a parked waiter's reply goes. */
export interface WaitContext {
  connection: Connection;
  seqid: number;
  /** Parked by acquireLock (bool reply, grant bound to the connection) rather than acquire. */
  legacy: boolean;
}

/** A reply whose call changed durable state; re-encoded as UNAVAILABLE if the sync fails. */
interface MutatingReply {
  start: number;
  end: number;
  method: string;
  seqid: number;
}

/** Output taken from a connection, waiting for a sync. */
export interface ReplyBatch {
  bytes: Buffer;
  mutations: MutatingReply[];
}

/** Socket buffer above which reading pauses until the client takes its replies. */
const MAX_BUFFERED_REPLY_BYTES = 8 * 1024 * 1024;

export class Connection {
  readonly out = new OutputBuffer();
  dirty = false;
  closed = false;
  private readonly writer: ProtocolWriter;
  private readonly stream: MessageStream;
  private readonly framed: boolean;
  /** acquireLock grants of this connection: key -> token. */
  private readonly legacyGrants = new Map<string, string>();
  /** This connection's parked waits by the seqid of the call that parked them (for cancelWait). */
  private readonly parked = new Map<number, Waiter>();
  private mutations: MutatingReply[] = [];
  /** Batches taken by takeBatch whose sync has not finished yet. */
  private batchesAwaitingSync = 0;
  /** Durable store only: replies that need no sync (releases), sent ahead of the batch. */
  private readonly early = new OutputBuffer(1024);
  private readonly earlyWriter: ProtocolWriter;
  private readonly trackMutations: boolean;
  /** A label for logs, taken while the socket still knows its peer. */
  readonly peer: string;

  constructor(
    readonly socket: Socket,
    readonly session: SessionId,
    private readonly host: ConnectionHost,
    private readonly protocol: ProtocolFactory,
    transport: TransportKind,
    maxMessageBytes: number,
  ) {
    this.writer = protocol.createWriter(this.out);
    this.earlyWriter = protocol.createWriter(this.early);
    this.stream = new MessageStream(protocol.createReader(maxMessageBytes), transport, maxMessageBytes);
    this.framed = transport === 'framed';
    this.trackMutations = host.backend.durable;
    this.peer = `${socket.remoteAddress}:${socket.remotePort}#${session}`;
  }


  /** Feeds received bytes; a malformed or oversize message closes this connection only. */
  receive(chunk: Buffer): void {
    if (this.closed) return;
    try {
      this.stream.push(chunk, this.onMessage);
    } catch (error) {
      // Whatever went wrong, it ends this connection only: the server and other clients go on.
      if (error instanceof ProtocolError) {
        this.host.logger.warn('closing connection: malformed request', { peer: this.peer, reason: error.message });
      } else {
        this.host.logger.error('closing connection after an internal error', { peer: this.peer, error: String((error as Error)?.stack ?? error) });
      }
      this.socket.destroy();
    }
  }

  /** Writes pending output now (memory store). */
  writeOut(): void {
    this.dirty = false;
    if (this.out.pos === 0 || this.closed) return;
    this.send(this.out.take());
  }

  /**
   * Durable store: sends what needs no sync now and returns the rest, to be delivered after a
   * sync; undefined when nothing has to wait. Replies that changed nothing wait only behind an
   * earlier batch of this connection, so replies never overtake one another (releases aside:
   * they never wait).
   */
  takeBatch(): ReplyBatch | undefined {
    if (this.early.pos > 0 && !this.closed) this.send(this.early.take());
    this.dirty = false;
    if (this.out.pos === 0) return undefined;
    if (this.mutations.length === 0 && this.batchesAwaitingSync === 0) {
      if (!this.closed) this.send(this.out.take());
      else this.out.pos = 0;
      return undefined;
    }
    this.batchesAwaitingSync++;
    const batch = { bytes: this.out.take(), mutations: this.mutations };
    this.mutations = [];
    return batch;
  }

  /** Sends a batch once its sync finished; on a failed sync, changing calls get UNAVAILABLE. */
  deliver(batch: ReplyBatch, syncError: Error | null): void {
    this.batchesAwaitingSync--;
    if (this.closed) return;
    if (syncError === null || batch.mutations.length === 0) {
      this.send(batch.bytes);
      return;
    }
    this.host.logger.warn('answering UNAVAILABLE: a sync failed', { peer: this.peer, calls: batch.mutations.length, reason: syncError.message });
    // Rebuilt in a buffer of its own: this.out may already hold replies of later calls.
    const rebuilt = new OutputBuffer(batch.bytes.length + 256 * batch.mutations.length);
    const writer = this.protocol.createWriter(rebuilt);
    const message = `the change could not be made durable (${syncError.message}); it may not survive a restart, retry later`;
    let copied = 0;
    const copyUpTo = (end: number) => {
      rebuilt.ensure(end - copied);
      batch.bytes.copy(rebuilt.buf, rebuilt.pos, copied, end);
      rebuilt.pos += end - copied;
    };
    for (const m of batch.mutations) {
      copyUpTo(m.start);
      const frame = this.framed ? rebuilt.beginFrame() : -1;
      codec.writeLockErrorReply(writer, m.method, m.seqid, WireErrorCode.UNAVAILABLE, message);
      if (frame >= 0) rebuilt.endFrame(frame);
      copied = m.end;
    }
    copyUpTo(batch.bytes.length);
    this.send(rebuilt.take());
  }

  /** A parked acquire was granted. */
  replyGranted(context: WaitContext, lease: LeaseView): void {
    this.parked.delete(context.seqid);
    const start = this.out.pos;
    const frame = this.beginFrame();
    if (context.legacy) {
      this.legacyGrants.set(lease.key, lease.token);
      codec.writeBoolReply(this.writer, 'acquireLock', context.seqid, true);
    } else {
      codec.writeAcquireReply(this.writer, context.seqid, lease);
    }
    this.endFrame(frame);
    this.noteMutation(start, context.legacy ? 'acquireLock' : 'acquire', context.seqid);
    this.logOp('granted after wait', lease.key, lease);
    this.host.markDirty(this);
  }

  /** A parked acquire's wait ran out. */
  replyTimedOut(context: WaitContext, key: string): void {
    this.parked.delete(context.seqid);
    const frame = this.beginFrame();
    if (context.legacy) codec.writeBoolReply(this.writer, 'acquireLock', context.seqid, false);
    else codec.writeAcquireReply(this.writer, context.seqid, undefined);
    this.endFrame(frame);
    this.logOp('wait timed out', key);
    this.host.markDirty(this);
  }

  /** A parked acquire is answered with UNAVAILABLE (shutdown). */
  replyUnavailable(context: WaitContext, message: string): void {
    this.parked.delete(context.seqid);
    const frame = this.beginFrame();
    codec.writeLockErrorReply(this.writer, context.legacy ? 'acquireLock' : 'acquire', context.seqid, WireErrorCode.UNAVAILABLE, message);
    this.endFrame(frame);
    this.host.markDirty(this);
  }

  /** Marks the session over; the server frees what it held. */
  markClosed(): void {
    this.closed = true;
    this.legacyGrants.clear();
    this.parked.clear();
  }

  private send(bytes: Buffer): void {
    this.socket.write(bytes);
    if (this.socket.writableLength > MAX_BUFFERED_REPLY_BYTES && !this.socket.isPaused()) {
      this.socket.pause();
      this.socket.once('drain', () => this.socket.resume());
    }
  }

  private readonly onMessage = (reader: ProtocolReader): void => {
    const call = codec.readCall(reader);
    const start = this.out.pos;
    try {
      this.dispatch(call);
    } catch (error) {
      this.out.truncate(start);
      this.replyError(call, error);
    }
    if (this.out.pos !== start) this.host.markDirty(this);
  };

  private dispatch(call: codec.ServiceCall): void {
    const backend = this.host.backend;
    const w = this.writer;
    const start = this.out.pos;
    switch (call.method) {
      case 'acquire': {
        const request = this.lockRequest(call.request);
        const outcome = backend.acquire({ ...request, session: this.session });
        if (outcome.kind === 'queued') {
          this.park(outcome.waiter, call.seqid, false);
          this.logOp('queued', request.key);
          return;
        }
        const frame = this.beginFrame();
        const lease = outcome.kind === 'granted' ? outcome.lease : undefined;
        codec.writeAcquireReply(w, call.seqid, lease);
        this.endFrame(frame);
        if (lease !== undefined) this.noteMutation(start, 'acquire', call.seqid);
        this.logOp(outcome.kind === 'granted' ? (outcome.reentered ? 're-entered' : 'granted') : 'busy', request.key, lease);
        return;
      }
      case 'release': {
        const key = this.key(call.lockKey, call.keyValid);
        const token = required(call.token, 'token');
        const released = backend.release(key, token);
        this.releaseReply('release', call.seqid, released, start);
        this.logOp(released ? 'released' : 'release refused', key);
        return;
      }
      case 'renew': {
        const key = this.key(call.lockKey, call.keyValid);
        const lease = backend.renew(key, required(call.token, 'token'), call.ttlMs);
        const frame = this.beginFrame();
        codec.writeLeaseReply(w, call.seqid, lease);
        this.endFrame(frame);
        this.noteMutation(start, 'renew', call.seqid);
        this.logOp('renewed', key, lease);
        return;
      }
      case 'checkFence': {
        const key = this.key(call.lockKey, call.keyValid);
        const fence = required(call.fence, 'fence');
        this.boolReply('checkFence', call.seqid, backend.checkFence(key, fence), false, start);
        return;
      }
      case 'inspect': {
        const info = backend.inspect(this.key(call.lockKey, call.keyValid));
        const frame = this.beginFrame();
        codec.writeLockInfoReply(w, call.seqid, info);
        this.endFrame(frame);
        return;
      }
      case 'listLocks': {
        const infos = backend.list(call.prefix ?? '', call.limit);
        const frame = this.beginFrame();
        codec.writeLockInfoListReply(w, call.seqid, infos);
        this.endFrame(frame);
        return;
      }
      case 'ping': {
        const frame = this.beginFrame();
        codec.writeStringReply(w, 'ping', call.seqid, 'pong');
        this.endFrame(frame);
        return;
      }
      case 'cancelWait': {
        const waiter = this.parked.get(required(call.waitSeqid, 'seqid'));
        const cancelled = waiter !== undefined && backend.cancelWaiter(waiter);
        if (cancelled) this.replyTimedOut(waiter.context as WaitContext, waiter.key);
        const frame = this.beginFrame();
        codec.writeBoolReply(w, 'cancelWait', call.seqid, cancelled);
        this.endFrame(frame);
        return;
      }
      case 'acquireLock':
        this.acquireLock(call.seqid, this.lockRequest(call.request), start);
        return;
      case 'releaseLock':
        this.releaseLock(call.seqid, this.lockRequest(call.request), start);
        return;
      case 'unknown': {
        if (call.messageType === MessageType.ONEWAY) return;
        const frame = this.beginFrame();
        const known = call.messageType === MessageType.CALL;
        codec.writeApplicationException(
          w,
          call.name,
          call.seqid,
          known ? ApplicationErrorType.UNKNOWN_METHOD : ApplicationErrorType.INVALID_MESSAGE_TYPE,
          known ? `unknown method ${JSON.stringify(call.name)}` : `message type ${call.messageType} is not a call`,
        );
        this.endFrame(frame);
        return;
      }
    }
  }

  /** Seed-compatible try-lock, bound to this connection (an ephemeral grant it remembers). */
  private acquireLock(seqid: number, request: LockRequestInput, start: number): void {
    const held = this.legacyGrants.get(request.key);
    if (held !== undefined) {
      if (this.host.backend.isHeld(request.key, held)) {
        this.boolReply('acquireLock', seqid, false, false, start);
        return;
      }
      this.legacyGrants.delete(request.key);
    }
    const outcome = this.host.backend.acquire({ ...request, token: undefined, ephemeral: true, session: this.session });
    if (outcome.kind === 'queued') {
      this.park(outcome.waiter, seqid, true);
      return;
    }
    if (outcome.kind === 'granted') this.legacyGrants.set(request.key, outcome.lease.token);
    this.boolReply('acquireLock', seqid, outcome.kind === 'granted', outcome.kind === 'granted', start);
    this.logOp(outcome.kind === 'granted' ? 'granted (acquireLock)' : 'busy (acquireLock)', request.key);
  }

  /** Seed-compatible release: with a token from anywhere, else this connection's acquireLock grant. */
  private releaseLock(seqid: number, request: LockRequestInput, start: number): void {
    const key = request.key;
    const token = request.token ?? this.legacyGrants.get(key);
    let released = false;
    if (token !== undefined) {
      released = this.host.backend.release(key, token);
      if (this.legacyGrants.get(key) === token && !this.host.backend.isHeld(key, token)) this.legacyGrants.delete(key);
    }
    this.releaseReply('releaseLock', seqid, released, start);
    this.logOp(released ? 'released (releaseLock)' : 'releaseLock refused', key);
  }

  private park(waiter: Waiter, seqid: number, legacy: boolean): void {
    if (this.parked.has(seqid)) {
      // Two parked calls with one seqid could not be told apart by the client either.
      this.host.backend.cancelWaiter(waiter);
      throw new InvalidArgumentError(`seqid ${seqid} already names a parked wait on this connection`);
    }
    waiter.context = { connection: this, seqid, legacy } satisfies WaitContext;
    this.parked.set(seqid, waiter);
  }

  /**
   * Answers a release. With a durable store it does not wait for the sync: losing a release in a
   * crash can only bring the lease back until its TTL, never give a lock to two holders (any later
   * grant on the key is written after the release, so its durability implies the release's).
   */
  private releaseReply(method: string, seqid: number, released: boolean, start: number): void {
    if (!this.trackMutations) {
      this.boolReply(method, seqid, released, false, start);
      return;
    }
    const frame = this.framed ? this.early.beginFrame() : -1;
    codec.writeBoolReply(this.earlyWriter, method, seqid, released);
    if (frame >= 0) this.early.endFrame(frame);
    this.host.markDirty(this);
  }

  private boolReply(method: string, seqid: number, value: boolean, mutating: boolean, start: number): void {
    const frame = this.beginFrame();
    codec.writeBoolReply(this.writer, method, seqid, value);
    this.endFrame(frame);
    if (mutating) this.noteMutation(start, method, seqid);
  }

  private replyError(call: codec.ServiceCall, error: unknown): void {
    const method = call.method === 'unknown' ? call.name : call.method;
    const frame = this.beginFrame();
    if (error instanceof LockdError && error.wireCode !== undefined) {
      codec.writeLockErrorReply(this.writer, method, call.seqid, error.wireCode, error.message);
      this.logOp(`refused: ${error.message}`, '');
    } else {
      this.host.logger.error('internal error while serving a call', { peer: this.peer, method, error: String((error as Error)?.stack ?? error) });
      codec.writeApplicationException(this.writer, method, call.seqid, ApplicationErrorType.INTERNAL_ERROR, 'internal error; see the server log');
    }
    this.endFrame(frame);
  }

  private lockRequest(request: WireLockRequest | undefined): LockRequestInput {
    if (request === undefined) throw new InvalidArgumentError('request is required');
    const key = this.key(request.lockKey, request.keyValid);
    return {
      key,
      owner: request.owner,
      ttlMs: request.ttlMs,
      waitMs: request.waitMs,
      mode: request.mode as LockRequestInput['mode'],
      token: request.token,
      ephemeral: request.ephemeral,
    };
  }

  private key(key: string | undefined, valid: boolean): string {
    if (!valid) throw new InvalidArgumentError('lockKey is not valid UTF-8');
    if (key === undefined) throw new InvalidArgumentError('lockKey is required');
    return key;
  }

  private beginFrame(): number {
    return this.framed ? this.out.beginFrame() : -1;
  }

  private endFrame(frame: number): void {
    if (frame >= 0) this.out.endFrame(frame);
  }

  private noteMutation(start: number, method: string, seqid: number): void {
    if (this.trackMutations) this.mutations.push({ start, end: this.out.pos, method, seqid });
  }

  private logOp(what: string, key: string, lease?: LeaseView): void {
    if (!this.host.debug) return;
    this.host.logger.debug(what, {
      peer: this.peer,
      key,
      ...(lease && { fence: lease.fence, mode: modeName(lease.mode), holdCount: lease.holdCount, expiresAtMs: lease.expiresAtMs }),
    });
  }
}

type LockRequestInput = {
  key: string;
  owner: string | undefined;
  ttlMs: number | undefined;
  waitMs: number | undefined;
  mode: 1 | 2 | undefined;
  token: string | undefined;
  ephemeral: boolean | undefined;
};

function required<T>(value: T | undefined, name: string): T {
  if (value === undefined) throw new InvalidArgumentError(`${name} is required`);
  return value;
}

/** A waiter's context, typed. */
export function waitContextOf(waiter: Waiter): WaitContext {
  return waiter.context as WaitContext;
}
