/**
 * The seed's API, `acquireLock`/`releaseLock`: a try-lock (or a wait, with waitMs) whose grant is
 * bound to the calling connection. The seed's users expect "held until I release it or my
 * connection ends", so these grants carry no silent TTL: they last until releaseLock or the
 * connection's end (TCP keepalive ends a dead peer's connection), or at most
 * `--seed-lock-ttl` when an operator sets one.
 */
import * as codec from '../protocol/lock-service/server';
import type { WireLockRequest } from '../protocol/lock-service/structs';
import { CallContext, lockRequest, parkOrRefuse } from './handlers';

/** Options of the seed API. */
export interface SeedApiLimits {
  /** TTL of acquireLock grants; the table's longest allowed TTL when the operator set none. */
  readonly seedLockTtlMs: number;
  /** True when the operator set no --seed-lock-ttl: grants are renewed while their connection lives. */
  readonly renewSeedGrants: boolean;
}

export function handleAcquireLock(ctx: CallContext, seqid: number, wire: WireLockRequest | undefined, limits: SeedApiLimits): void {
  const request = lockRequest(wire, ctx.session);
  ctx.access.authorize('lock', request.key);
  const held = ctx.seedGrants.get(request.key);
  if (held !== undefined) {
    // The seed's acquireLock is not reentrant: a second call on a held key answers false.
    if (ctx.backend.isHeld(request.key, held)) {
      replyBool(ctx, 'acquireLock', seqid, false);
      return;
    }
    ctx.seedGrants.delete(request.key);
  }
  ctx.access.admitLease();
  ctx.holdsEphemeral = true;
  const outcome = ctx.backend.acquire({ ...request, ttlMs: limits.renewSeedGrants ? limits.seedLockTtlMs : (request.ttlMs ?? limits.seedLockTtlMs), token: undefined, ephemeral: true });
  if (outcome.kind === 'queued') {
    parkOrRefuse(ctx, { waiter: outcome.waiter, seqid, seed: true });
    return;
  }
  if (outcome.kind === 'busy') {
    replyBool(ctx, 'acquireLock', seqid, false);
    ctx.logOp('busy (acquireLock)', request.key);
    return;
  }
  ctx.seedGrants.set(request.key, outcome.lease.token);
  ctx.access.leaseGranted(outcome.lease.key, outcome.lease.token);
  ctx.noteSeedGrant();
  codec.writeBoolReply(ctx.outbox.begin('durable'), 'acquireLock', seqid, true);
  ctx.outbox.endDurable('acquireLock', seqid, outcome.lease);
  ctx.logOp('granted (acquireLock)', request.key, outcome.lease);
}

/** Releases with a token from anywhere, else this connection's acquireLock grant. */
export function handleReleaseLock(ctx: CallContext, seqid: number, wire: WireLockRequest | undefined): void {
  const { key, token: given } = lockRequest(wire, ctx.session);
  ctx.access.authorize('lock', key);
  const ownGrant = ctx.seedGrants.get(key);
  const token = given ?? ownGrant;
  let released = false;
  if (token !== undefined) {
    released = ctx.backend.release(key, token);
    if (ownGrant === token && !ctx.backend.isHeld(key, token)) ctx.seedGrants.delete(key);
  }
  codec.writeBoolReply(ctx.outbox.begin('early'), 'releaseLock', seqid, released);
  ctx.outbox.end();
  ctx.logOp(released ? 'released (releaseLock)' : 'releaseLock refused', key);
}

function replyBool(ctx: CallContext, method: string, seqid: number, value: boolean): void {
  codec.writeBoolReply(ctx.outbox.begin('ordered'), method, seqid, value);
  ctx.outbox.end();
}
