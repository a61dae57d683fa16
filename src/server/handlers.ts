/**
 * One handler per LockService method: check the decoded arguments, call the backend, encode the
 * reply into the connection's outbox. Handlers throw LockdErrors for refusals; the connection
 * turns those into LockError replies.
 */
import type { CallAccess } from '../auth/access-control';
import type { Backend } from '../backend/backend';
import { encodedSizeOf } from '../backend/cluster-list';
import { InvalidArgumentError, WireErrorCode } from '../errors';
import * as codec from '../protocol/lock-service/server';
import type { ServiceCall } from '../protocol/lock-service/server';
import type { WireClusterInfo, WireLockRequest } from '../protocol/lock-service/structs';
import { ApplicationErrorType, MessageType } from '../protocol/types';
import type { AcquireRequest, LeaseView, LockInfoView, SessionId, Waiter } from '../table/types';
import type { Outbox } from './outbox';

/** A parked acquire, as its connection remembers it. */
export interface ParkedCall {
  readonly waiter: Waiter;
  readonly seqid: number;
  /** Parked by the seed API's acquireLock (bool reply, grant bound to the connection). */
  readonly seed: boolean;
}

/** Reply-size limits of the read calls. */
export interface ReplyLimits {
  readonly defaultListLimit: number;
  readonly maxListLimit: number;
  /** listLocks stops adding keys once its reply would pass this many bytes. */
  readonly maxListBytes: number;
}

/** What a handler works with: the connection's session, outbox and parked calls. */
export interface CallContext {
  readonly backend: Backend;
  readonly outbox: Outbox;
  readonly session: SessionId;
  readonly limits: ReplyLimits;
  /** acquireLock grants of this connection: key -> token. */
  readonly seedGrants: Map<string, string>;
  /** Set once the session was granted an ephemeral lease (the connection is then never idle). */
  holdsEphemeral: boolean;
  /** An acquireLock grant was added to seedGrants: keep it alive while the connection lives. */
  noteSeedGrant(): void;
  /** Remembers a parked acquire until it is granted, times out or is cancelled. */
  park(call: ParkedCall): void;
  /** The parked acquire sent with `seqid`, if it still waits. */
  parkedBySeqid(seqid: number): ParkedCall | undefined;
  /** Forgets a parked acquire (its outcome was answered). */
  unpark(call: ParkedCall): void;
  /** Logs one lock operation at debug level (no-op unless debug logging is on). */
  logOp(what: string, key: string, lease?: LeaseView): void;
  /** Who the connection is: rights checked at the top of each handler, quotas counted. */
  readonly access: CallAccess;
}

export function handleAcquire(ctx: CallContext, seqid: number, wire: WireLockRequest | undefined): void {
  const request = lockRequest(wire, ctx.session);
  ctx.access.authorize('lock', request.key);
  // A re-entry (with a token) holds no new lease.
  if (request.token === undefined) ctx.access.admitLease();
  if (request.ephemeral === true) ctx.holdsEphemeral = true;
  const outcome = ctx.backend.acquire(request);
  if (outcome.kind === 'queued') {
    parkOrRefuse(ctx, { waiter: outcome.waiter, seqid, seed: false });
    ctx.logOp('queued', request.key);
    return;
  }
  if (outcome.kind === 'busy') {
    codec.writeAcquireReply(ctx.outbox.begin('ordered'), seqid, undefined);
    ctx.outbox.end();
    ctx.logOp('busy', request.key);
    return;
  }
  if (!outcome.reentered) ctx.access.leaseGranted(outcome.lease.key, outcome.lease.token);
  replyGranted(ctx, 'acquire', seqid, outcome.lease);
  ctx.logOp(outcome.reentered ? 're-entered' : 'granted', request.key, outcome.lease);
}

/**
 * Answers a release at once, durable store or not: losing a release in a crash can only bring
 * the lease back until its TTL, never give a lock to two holders (any later grant on the key is
 * written after the release, so its durability implies the release's).
 */
export function handleRelease(ctx: CallContext, seqid: number, key: string, token: string): void {
  ctx.access.authorize('lock', key);
  const released = ctx.backend.release(key, token);
  codec.writeBoolReply(ctx.outbox.begin('early'), 'release', seqid, released);
  ctx.outbox.end();
  ctx.logOp(released ? 'released' : 'release refused', key);
}

export function handleRenew(ctx: CallContext, seqid: number, key: string, token: string, ttlMs: number | undefined): void {
  ctx.access.authorize('lock', key);
  // ttlMs absent or 0 keeps the lease's own TTL.
  const lease = ctx.backend.renew(key, token, ttlMs === 0 ? undefined : ttlMs);
  codec.writeLeaseReply(ctx.outbox.begin('durable'), seqid, lease);
  ctx.outbox.endDurable('renew', seqid);
  ctx.logOp('renewed', key, lease);
}

// Every handler asks the backend before it begins its reply: a backend call may expire leases
// and answer this connection's parked waits, whose replies must not land inside this one.

export function handleCheckFence(ctx: CallContext, seqid: number, key: string, fence: number): void {
  ctx.access.authorize('read', key);
  const live = ctx.backend.checkFence(key, fence);
  codec.writeBoolReply(ctx.outbox.begin('ordered'), 'checkFence', seqid, live);
  ctx.outbox.end();
}

export function handleInspect(ctx: CallContext, seqid: number, key: string): void {
  ctx.access.authorize('read', key);
  const info = ctx.backend.inspect(key);
  codec.writeLockInfoReply(ctx.outbox.begin('ordered'), seqid, info);
  ctx.outbox.end();
}

/**
 * One page of held keys in key order: at most `limit` keys and about `maxListBytes` bytes, so a
 * short request cannot ask for an unbounded reply. A page may hold fewer than `limit` keys when
 * the byte bound cut it: callers continue with `startAfter` = the last key until a page is empty.
 * Only keys the caller may read are listed (and only their ranges are scanned).
 */
export function handleListLocks(ctx: CallContext, name: ListMethod, seqid: number, prefix: string, limit: number | undefined, startAfter: string | undefined): void {
  const { page } = collectListPage(ctx, prefix, limit, startAfter);
  codec.writeLockInfoListReply(ctx.outbox.begin('ordered'), seqid, page, name);
  ctx.outbox.end();
}

/** listLocks, or listLocksPage: the same call under the name it was asked by. */
export type ListMethod = 'listLocks' | 'listLocksPage';

/** One page of this node's held keys, as listLocks answers it; `complete` when no key after it was left out. */
export interface ListPage {
  readonly page: LockInfoView[];
  /** The page size asked for (the default when the request's limit was <= 0). */
  readonly count: number;
  readonly complete: boolean;
}

/** Collects one listLocks page of this node's keys (see handleListLocks). */
export function collectListPage(ctx: CallContext, prefix: string, limit: number | undefined, startAfter: string | undefined): ListPage {
  const { defaultListLimit, maxListLimit, maxListBytes } = ctx.limits;
  if (limit !== undefined && limit > maxListLimit) {
    throw new InvalidArgumentError(`limit must be at most ${maxListLimit}, got ${limit} (<= 0 means the default ${defaultListLimit})`);
  }
  const count = limit === undefined || limit <= 0 ? defaultListLimit : limit;
  const page: LockInfoView[] = [];
  let bytes = 0;
  let complete = true;
  const ranges = ctx.access.readableRanges(prefix);
  const held = ranges === undefined ? ctx.backend.scan(prefix, startAfter) : scanRanges(ctx.backend, ranges, startAfter);
  for (const info of held) {
    bytes += encodedSizeOf(info);
    // The first key always fits: a page that could hold nothing would stop every caller.
    if (bytes > maxListBytes && page.length > 0) {
      complete = false;
      break;
    }
    page.push(info);
    if (page.length >= count) {
      complete = false;
      break;
    }
  }
  return { page, count, complete };
}

/** Held keys under each of `ranges` (disjoint prefixes in key order), one range after another. */
function* scanRanges(backend: Backend, ranges: readonly string[], startAfter: string | undefined): Iterable<LockInfoView> {
  for (const range of ranges) yield* backend.scan(range, startAfter);
}

/** Binds an identity to the connection (see the IDL); the secret is never logged or echoed. */
export function handleAuthenticate(ctx: CallContext, seqid: number, identity: string, secret: string): void {
  const bound = ctx.access.authenticate(identity, secret);
  codec.writeStringReply(ctx.outbox.begin('ordered'), 'authenticate', seqid, bound);
  ctx.outbox.end();
  ctx.logOp(`authenticated as ${JSON.stringify(bound)}`, '');
}

/** The cluster's members and partition owners (a single lockd: itself alone). Needs no right. */
export function handleClusterInfo(ctx: CallContext, seqid: number, info: WireClusterInfo): void {
  codec.writeClusterInfoReply(ctx.outbox.begin('ordered'), seqid, info);
  ctx.outbox.end();
}

/** A lockd node announces a forwarding link; the answer is this node's id. */
export function handlePeerConnection(ctx: CallContext, seqid: number, nodeId: string): void {
  codec.writeStringReply(ctx.outbox.begin('ordered'), 'peerConnection', seqid, nodeId);
  ctx.outbox.end();
}

export function handlePing(ctx: CallContext, seqid: number): void {
  codec.writeStringReply(ctx.outbox.begin('ordered'), 'ping', seqid, 'pong');
  ctx.outbox.end();
}

export function handleCancelWait(ctx: CallContext, seqid: number, waitSeqid: number): void {
  const parked = ctx.parkedBySeqid(waitSeqid);
  const cancelled = parked !== undefined && ctx.backend.cancelWaiter(parked.waiter);
  if (parked !== undefined && cancelled) replyTimedOut(ctx, parked);
  codec.writeBoolReply(ctx.outbox.begin('ordered'), 'cancelWait', seqid, cancelled);
  ctx.outbox.end();
}

/** Unknown methods and non-call messages: a TApplicationException (nothing for oneway calls). */
export function handleUnknown(ctx: CallContext, seqid: number, name: string, messageType: number): void {
  if (messageType === MessageType.ONEWAY) return;
  const known = messageType === MessageType.CALL;
  codec.writeApplicationException(
    ctx.outbox.begin('ordered'),
    name,
    seqid,
    known ? ApplicationErrorType.UNKNOWN_METHOD : ApplicationErrorType.INVALID_MESSAGE_TYPE,
    known ? `unknown method ${JSON.stringify(name)}` : `message type ${messageType} is not a call`,
  );
  ctx.outbox.end();
}

/** A parked acquire was granted: its reply is durable like any grant. */
export function replyWaitGranted(ctx: CallContext, parked: ParkedCall, lease: LeaseView): void {
  ctx.unpark(parked);
  ctx.access.leaseGranted(lease.key, lease.token);
  if (parked.seed) {
    ctx.seedGrants.set(lease.key, lease.token);
    ctx.noteSeedGrant();
    codec.writeBoolReply(ctx.outbox.begin('durable'), 'acquireLock', parked.seqid, true);
    ctx.outbox.endDurable('acquireLock', parked.seqid, lease);
  } else {
    replyGranted(ctx, 'acquire', parked.seqid, lease);
  }
  ctx.logOp('granted after wait', lease.key, lease);
}

/** A parked acquire's wait ran out (or was cancelled). */
export function replyTimedOut(ctx: CallContext, parked: ParkedCall): void {
  ctx.unpark(parked);
  const w = ctx.outbox.begin('ordered');
  if (parked.seed) codec.writeBoolReply(w, 'acquireLock', parked.seqid, false);
  else codec.writeAcquireReply(w, parked.seqid, undefined);
  ctx.outbox.end();
  ctx.logOp('wait timed out', parked.waiter.key);
}

/** A parked acquire is answered with UNAVAILABLE (shutdown). */
export function replyUnavailable(ctx: CallContext, parked: ParkedCall, message: string): void {
  replyRefused(ctx, parked, WireErrorCode.UNAVAILABLE, message);
}

/** A parked acquire is answered with a LockError (shutdown, a drain, a lost partition). */
export function replyRefused(ctx: CallContext, parked: ParkedCall, code: WireErrorCode, message: string): void {
  ctx.unpark(parked);
  codec.writeLockErrorReply(ctx.outbox.begin('ordered'), parked.seed ? 'acquireLock' : 'acquire', parked.seqid, code, message);
  ctx.outbox.end();
}

/** The acquire (or acquireLock) call that parked `parked`, for the time its wait has left. */
export function parkedCallAgain(parked: ParkedCall, now: number): Extract<ServiceCall, { request: unknown }> {
  const { waiter } = parked;
  const left = waiter.deadlineMs === Infinity ? -1 : Math.max(1, Math.round(waiter.deadlineMs - now));
  const request: WireLockRequest = {
    lockKey: waiter.key,
    keyValid: true,
    owner: waiter.owner,
    ttlMs: waiter.ttlMs,
    waitMs: left,
    mode: waiter.mode,
    token: undefined,
    ephemeral: waiter.ephemeral,
  };
  return { method: parked.seed ? 'acquireLock' : 'acquire', seqid: parked.seqid, request };
}

/** Parks a waiter, refusing a second parked call with the same seqid (the client could not tell them apart either). */
export function parkOrRefuse(ctx: CallContext, call: ParkedCall): void {
  if (ctx.parkedBySeqid(call.seqid) !== undefined) {
    ctx.backend.cancelWaiter(call.waiter);
    throw new InvalidArgumentError(`seqid ${call.seqid} already names a parked wait on this connection`);
  }
  try {
    ctx.access.admitWaiter();
  } catch (error) {
    ctx.backend.cancelWaiter(call.waiter);
    throw error;
  }
  ctx.park(call);
}

/** Decodes a LockRequest for the table; ranges are the table's to check. */
export function lockRequest(wire: WireLockRequest | undefined, session: SessionId): AcquireRequest {
  if (wire === undefined) throw new InvalidArgumentError('request is required');
  return {
    key: requiredKey(wire.lockKey, wire.keyValid),
    owner: wire.owner,
    ttlMs: wire.ttlMs,
    waitMs: wire.waitMs,
    mode: wire.mode as AcquireRequest['mode'],
    token: wire.token,
    ephemeral: wire.ephemeral,
    session,
  };
}

/** A key argument: present and valid UTF-8. */
export function requiredKey(key: string | undefined, valid: boolean): string {
  if (!valid) throw new InvalidArgumentError('lockKey is not valid UTF-8');
  if (key === undefined) throw new InvalidArgumentError('lockKey is required');
  return key;
}

/** An argument the IDL marks required. */
export function required<T>(value: T | undefined, name: string): T {
  if (value === undefined) throw new InvalidArgumentError(`${name} is required`);
  return value;
}

function replyGranted(ctx: CallContext, method: 'acquire', seqid: number, lease: LeaseView): void {
  codec.writeAcquireReply(ctx.outbox.begin('durable'), seqid, lease);
  ctx.outbox.endDurable(method, seqid, lease);
}
