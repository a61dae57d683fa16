/** A LockTable on a ManualClock with a recording observer, plus small helpers the table tests share. */
import { LockTable, TableLimits, TableOptions } from '../../src/table/lock-table';
import { tokenDigest } from '../../src/table/token-digest';
import { AcquireRequest, LeaseView, ManualClock, StoredLease, TableChange, Waiter } from '../../src/table/types';

export const LIMITS: TableLimits = { defaultTtlMs: 1_000, minTtlMs: 10, maxTtlMs: 60_000, maxWaitMs: 30_000, defaultListLimit: 3, maxListLimit: 10, maxLeases: 100_000, maxWaiters: 100_000 };

export type Request = Partial<AcquireRequest> & { key: string };

export function setup(limits: TableLimits = LIMITS, options: { recordsChanges?: boolean } & TableOptions = {}) {
  const clock = new ManualClock();
  const granted: Array<{ waiter: Waiter; lease: LeaseView }> = [];
  const timedOut: Waiter[] = [];
  const changes: TableChange[] = [];
  const table = new LockTable(limits, {
    recordsChanges: options.recordsChanges,
    waiterGranted: (waiter, lease) => granted.push({ waiter, lease }),
    waiterTimedOut: (waiter) => timedOut.push(waiter),
    changed: (change) => changes.push(change),
  }, { hashKey: options.hashKey });
  const now = () => clock.now();
  /** Session 1 unless the request names another. */
  const acquire = (request: Request) => table.acquire({ session: 1, ...request }, clock.now());
  /** Acquires and expects a grant; returns the lease. */
  const grant = (request: Request): LeaseView => {
    const outcome = acquire(request);
    if (outcome.kind !== 'granted') throw new Error(`expected a grant of ${request.key}, got ${outcome.kind}`);
    return outcome.lease;
  };
  /** Acquires (waitMs -1 unless given) and expects to be queued; returns the waiter. */
  const park = (request: Request): Waiter => {
    const outcome = acquire({ waitMs: -1, ...request });
    if (outcome.kind !== 'queued') throw new Error(`expected ${request.key} to queue, got ${outcome.kind}`);
    return outcome.waiter;
  };
  const release = (key: string, token: string) => table.release(key, token, clock.now());
  const renew = (key: string, token: string, ttlMs: number | undefined) => table.renew(key, token, ttlMs, clock.now());
  const inspect = (key: string) => table.inspect(key, clock.now());
  const checkFence = (key: string, fence: number) => table.checkFence(key, fence, clock.now());
  /** Moves the clock and lets the table expire what is due, as the server's timer does. */
  const tick = (ms: number) => {
    clock.advance(ms);
    table.expireDue(clock.now());
  };
  /** The waiters granted so far, in grant order. */
  const grantedWaiters = () => granted.map((g) => g.waiter);
  return { clock, table, granted, timedOut, changes, now, acquire, grant, park, release, renew, inspect, checkFence, tick, grantedWaiters };
}

export type Fixture = ReturnType<typeof setup>;

/** Runs `fn` and returns what it threw (fails the test when it throws nothing). */
export function thrown(fn: () => unknown): Error {
  try {
    fn();
  } catch (error) {
    return error as Error;
  }
  throw new Error('expected an error, but the call returned');
}

/** A small seeded PRNG (mulberry32): the same seed gives the same run. */
export function prng(seed: number): { next(): number; int(n: number): number; pick<T>(items: readonly T[]): T; chance(p: number): boolean } {
  let state = seed >>> 0;
  const next = () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
  const int = (n: number) => Math.floor(next() * n);
  return { next, int, pick: (items) => items[int(items.length)], chance: (p) => next() < p };
}

/** A granted lease as the table keeps and journals it: its token's digest in place of the token. */
export function stored(lease: LeaseView): StoredLease {
  const { key, fence, ttlMs, expiresAtMs, mode, holdCount, owner } = lease;
  return { key, digest: tokenDigest(lease.token)!, fence, ttlMs, expiresAtMs, mode, holdCount, owner };
}

/** Applies a change stream to an empty map (token digest -> lease), as a journal's recovery would. */
export function replay(changes: readonly TableChange[]): { leases: Map<string, StoredLease>; fenceCeiling: number } {
  const leases = new Map<string, StoredLease>();
  let fenceCeiling = 0;
  for (const change of changes) {
    switch (change.kind) {
      case 'fence-reserve':
        fenceCeiling = change.ceiling;
        break;
      case 'grant':
        if (leases.has(change.lease.digest)) throw new Error(`grant of a live token digest ${change.lease.digest}`);
        leases.set(change.lease.digest, change.lease);
        break;
      case 'update': {
        const lease = leases.get(change.digest);
        if (lease === undefined || lease.key !== change.key) throw new Error(`update of an unknown lease on ${change.key}`);
        leases.set(change.digest, { ...lease, holdCount: change.holdCount, ttlMs: change.ttlMs, expiresAtMs: change.expiresAtMs });
        break;
      }
      case 'free':
        if (!leases.delete(change.digest)) throw new Error(`free of an unknown lease on ${change.key}`);
        break;
    }
  }
  return { leases, fenceCeiling };
}

/** Leases ordered by fence, for comparing sets of leases. */
export function byFence<T extends { fence: number }>(leases: Iterable<T>): T[] {
  return [...leases].sort((a, b) => a.fence - b.fence);
}

/** Array methods that search or move a whole array: one call costs O(length). */
const LINEAR_ARRAY_METHODS = ['indexOf', 'lastIndexOf', 'includes', 'find', 'findIndex', 'some', 'every', 'filter', 'splice', 'shift', 'unshift'] as const;

/**
 * Runs `fn` and counts its calls to Array methods that cost O(length) (indexOf, splice, shift...):
 * a queue or holder list that removes an element with one of them pays O(n) per removal.
 */
export function countLinearArrayCalls(fn: () => void): number {
  const spies = LINEAR_ARRAY_METHODS.map((method) => jest.spyOn(Array.prototype, method));
  try {
    fn();
    return spies.reduce((sum, spy) => sum + spy.mock.calls.length, 0);
  } finally {
    for (const spy of spies) spy.mockRestore();
  }
}
