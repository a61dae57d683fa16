/**
 * D5, waiters in bulk: one connection parks --max-waiters (100,000) acquires behind a held key and
 * then closes (lockd drops them all at once); and an exclusive holder in front of 100,000 SHARED
 * waiters releases (lockd grants them all at once). Both must take time linear in the waiters,
 * and the release itself must be answered promptly.
 */
import { calls, DStruct, fieldOf } from '../../fuzz/lock-service';
import { TMessage } from '../../fuzz/thrift-tree';
import { Attack, AttackContext, grantedToken, int, secs, sleep } from './attack';
import { okValue, RawClient } from './raw-client';

const HOLD_TTL_MS = 3_600_000;
const PARK_BATCH = 5_000;
const SHARED = 2;
/** How long parking (or dropping, or granting) all waiters may take before the attack gives up. */
const STAGE_LIMIT_MS = 60_000;

/** Waiters queued on `key`, as inspect reports them; undefined when lockd did not answer within the stage limit. */
async function waitersOn(observer: RawClient, key: string): Promise<number | undefined> {
  try {
    const info = okValue(await observer.call(calls.inspect(observer.seqid(), key), STAGE_LIMIT_MS)) as DStruct;
    return fieldOf<number>(info, 3);
  } catch {
    return undefined;
  }
}

/** Polls inspect until `done(waiters)` or the stage limit; returns the last count (undefined: no answer) and the time taken. */
async function pollWaiters(observer: RawClient, key: string, done: (waiters: number) => boolean): Promise<{ waiters: number | undefined; ms: number }> {
  const started = performance.now();
  let waiters = await waitersOn(observer, key);
  while (waiters !== undefined && !done(waiters) && performance.now() - started < STAGE_LIMIT_MS) {
    await sleep(50);
    waiters = await waitersOn(observer, key);
  }
  return { waiters, ms: performance.now() - started };
}

/** "all 100,000 within 1.2 s" or what was left when the stage ended. */
function stageNote(what: string, result: { waiters: number | undefined; ms: number }, done: boolean): string {
  if (result.waiters === undefined) return `${what}: inspect got no answer within ${secs(STAGE_LIMIT_MS)} (${secs(result.ms)} in)`;
  return `${what} ${done ? `within ${secs(result.ms)}` : `NOT within ${secs(result.ms)} (${int(result.waiters)} waiters)`}`;
}

/** Holds `key` exclusively and parks `count` waiters for it on one new connection. */
async function stage(ctx: AttackContext, key: string, mode: number | undefined) {
  const count = ctx.size(100_000, 1_000);
  const holder = await RawClient.connect(ctx.port);
  const token = grantedToken(okValue(await holder.call(calls.acquire(holder.seqid(), { lockKey: key, ttlMs: HOLD_TTL_MS }), 10_000)));
  const waiter = await RawClient.connect(ctx.port);
  const observer = await RawClient.connect(ctx.port);
  const replies: Promise<unknown>[] = [];
  for (let sent = 0; sent < count; sent += PARK_BATCH) {
    const batch: TMessage[] = [];
    for (let i = sent; i < Math.min(count, sent + PARK_BATCH); i++) batch.push(calls.acquire(waiter.seqid(), { lockKey: key, ttlMs: HOLD_TTL_MS, waitMs: -1, mode }));
    for (const reply of waiter.callMany(batch)) replies.push(reply.catch(() => undefined));
    await sleep(0);
  }
  const parked = await pollWaiters(observer, key, (n) => n >= count);
  return { count, holder, token, waiter, observer, replies, parked };
}

const dropOnClose: Attack = {
  id: 'D5-drop',
  label: 'D5 one connection parks 100,000 waiters, then closes',
  async run(ctx) {
    const key = 'd5/drop';
    const { count, holder, waiter, observer, parked } = await stage(ctx, key, undefined);
    waiter.close();
    const dropped = await pollWaiters(observer, key, (n) => n === 0);
    holder.close();
    observer.close();
    return `${stageNote(`${int(count)} parked`, parked, parked.waiters === count)}; ${stageNote('all dropped', dropped, dropped.waiters === 0)}`;
  },
};

const sharedStampede: Attack = {
  id: 'D5-shared',
  label: 'D5 exclusive holder releases in front of 100,000 SHARED waiters',
  async run(ctx) {
    const key = 'd5/shared';
    const { count, holder, token, waiter, observer, replies, parked } = await stage(ctx, key, SHARED);
    const released = performance.now();
    const ok = okValue(await holder.call(calls.release(holder.seqid(), key, token), STAGE_LIMIT_MS));
    const releaseMs = performance.now() - released;
    let granted = 0;
    await Promise.race([Promise.all(replies.map((r) => r.then((v) => v !== undefined && granted++))), sleep(STAGE_LIMIT_MS)]);
    const grantMs = performance.now() - released;
    waiter.close();
    holder.close();
    observer.close();
    return `${stageNote(`${int(count)} parked`, parked, parked.waiters === count)}; release answered ${ok} in ${releaseMs.toFixed(1)} ms; ${int(granted)} grants reached the waiter in ${secs(grantMs)}`;
  },
};

export const waiters: Attack[] = [dropOnClose, sharedStampede];
