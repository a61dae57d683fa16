/** Waiting: a FIFO queue per key, woken by release or expiry, bounded by waitMs. */
import { InvalidArgumentError, ResourceExhaustedError } from '../../src/errors';
import { LockMode } from '../../src/table/types';
import { LIMITS, setup, thrown } from './fixtures';

const { SHARED } = LockMode;

describe('first come, first served', () => {
  test('given a holder and four waiters from different sessions, when each grantee releases, then they are granted one at a time in arrival order', () => {
    const t = setup();
    const holder = t.grant({ key: 'k' });
    const waiters = [2, 3, 4, 5].map((session) => t.park({ key: 'k', session }));
    expect(t.inspect('k').waiters).toBe(4);
    let token = holder.token;
    for (let i = 0; i < waiters.length; i++) {
      expect(t.release('k', token)).toBe(true);
      expect(t.grantedWaiters()).toEqual(waiters.slice(0, i + 1));
      expect(t.inspect('k')).toMatchObject({ holders: [{ fence: t.granted[i].lease.fence }], waiters: 3 - i });
      token = t.granted[i].lease.token;
    }
    t.release('k', token);
    expect(t.table.leaseCount).toBe(0);
    expect(t.table.waiterTotal).toBe(0);
  });

  test('given a queue, when the head is granted by a release, then a newcomer in the same instant does not jump ahead of the rest', () => {
    const t = setup();
    const holder = t.grant({ key: 'k' });
    t.park({ key: 'k', session: 2 });
    const second = t.park({ key: 'k', session: 3 });
    t.release('k', holder.token);
    expect(t.acquire({ key: 'k', session: 4 }).kind).toBe('busy');
    t.release('k', t.granted[0].lease.token);
    expect(t.grantedWaiters()[1]).toBe(second);
  });

  test('given a parked waiter, when it is granted, then its lease carries its own owner, mode and TTL counted from the grant, and its token works', () => {
    const t = setup();
    const holder = t.grant({ key: 'k' });
    const waiter = t.park({ key: 'k', owner: 'w', ttlMs: 250, session: 2 });
    t.clock.advance(40);
    t.release('k', holder.token);
    const [{ lease }] = t.granted;
    expect(lease).toMatchObject({ key: 'k', owner: 'w', mode: waiter.mode, ttlMs: 250, expiresAtMs: t.now() + 250, holdCount: 1 });
    expect(lease.fence).toBeGreaterThan(holder.fence);
    expect(lease.token).not.toBe(holder.token);
    expect(t.release('k', lease.token)).toBe(true);
  });

  test('given a waiter, when the holder expires, then the head is granted through waiterGranted', () => {
    const t = setup();
    t.grant({ key: 'k', ttlMs: 100 });
    const waiter = t.park({ key: 'k', session: 2 });
    t.tick(99);
    expect(t.granted).toEqual([]);
    t.tick(1);
    expect(t.grantedWaiters()).toEqual([waiter]);
    expect(t.table.waiterTotal).toBe(0);
  });
});

describe('no wait', () => {
  test.each([undefined, 0])('given a busy key and waitMs %p, then busy and nothing is queued', (waitMs) => {
    const t = setup();
    t.grant({ key: 'k' });
    expect(t.acquire({ key: 'k', waitMs, session: 2 })).toEqual({ kind: 'busy' });
    expect(t.table.waiterTotal).toBe(0);
    expect(t.inspect('k').waiters).toBe(0);
  });
});

describe('waitMs deadline', () => {
  test('given a waiter with waitMs 50, when 49 ms pass it waits, when 50 pass it times out, and a later release does not grant it', () => {
    const t = setup();
    const holder = t.grant({ key: 'k', ttlMs: 1_000 });
    const waiter = t.park({ key: 'k', waitMs: 50, session: 2 });
    expect(waiter.deadlineMs).toBe(t.now() + 50);
    expect(t.table.nextDeadline()).toBe(t.now() + 50);
    t.tick(49);
    expect(t.timedOut).toEqual([]);
    t.tick(1);
    expect(t.timedOut).toEqual([waiter]);
    expect(t.table.waiterTotal).toBe(0);
    expect(t.inspect('k').waiters).toBe(0);
    expect(t.table.nextDeadline()).toBe(holder.expiresAtMs);
    t.release('k', holder.token);
    t.tick(10_000);
    expect(t.granted).toEqual([]);
    expect(t.timedOut).toHaveLength(1);
  });

  test('given a waiter whose deadline passed unswept, when the holder releases, then it times out instead of being granted', () => {
    const t = setup();
    const holder = t.grant({ key: 'k' });
    const waiter = t.park({ key: 'k', waitMs: 50, session: 2 });
    t.clock.advance(60);
    t.release('k', holder.token);
    expect(t.timedOut).toEqual([waiter]);
    expect(t.granted).toEqual([]);
  });

  test('given three waiters where the middle one has a deadline, when it passes, then the other two keep their order', () => {
    const t = setup();
    const holder = t.grant({ key: 'k', ttlMs: 60_000 });
    const first = t.park({ key: 'k', session: 2 });
    const middle = t.park({ key: 'k', waitMs: 50, session: 3 });
    const last = t.park({ key: 'k', session: 4 });
    t.tick(50);
    expect(t.timedOut).toEqual([middle]);
    t.release('k', holder.token);
    t.release('k', t.granted[0].lease.token);
    expect(t.grantedWaiters()).toEqual([first, last]);
  });

  test('given a lease and a wait due at the same moment, then the expiry comes first and the waiter gets the lock', () => {
    const t = setup();
    t.grant({ key: 'k', ttlMs: 50 });
    const waiter = t.park({ key: 'k', waitMs: 50, session: 2 });
    t.tick(50);
    expect(t.grantedWaiters()).toEqual([waiter]);
    expect(t.timedOut).toEqual([]);
  });

  test.each([false, true])(
    'given shared holders and an exclusive then a shared waiter with the same deadline (unrelated earlier wait on another key: %p), when it passes, then the exclusive times out first and the shared one is granted',
    (unrelated) => {
      const t = setup();
      t.grant({ key: 'k', mode: SHARED, ttlMs: 60_000 });
      if (unrelated) {
        t.grant({ key: 'other', ttlMs: 60_000 });
        t.park({ key: 'other', waitMs: 50, session: 9 });
      }
      const writer = t.park({ key: 'k', waitMs: 100, session: 2 });
      const reader = t.park({ key: 'k', mode: SHARED, waitMs: 100, session: 3 });
      t.tick(100);
      expect(t.timedOut.filter((w) => w.key === 'k')).toEqual([writer]);
      expect(t.grantedWaiters()).toEqual([reader]);
    },
  );

  test('given waitMs -1, then the waiter has no deadline: nextDeadline is the lease, and it waits past the longest finite wait until granted', () => {
    const t = setup();
    const holder = t.grant({ key: 'k', ttlMs: 60_000 });
    const waiter = t.park({ key: 'k', waitMs: -1, session: 2 });
    expect(waiter.deadlineMs).toBe(Infinity);
    expect(t.table.nextDeadline()).toBe(holder.expiresAtMs);
    t.tick(LIMITS.maxWaitMs + 1);
    t.renew('k', holder.token, 60_000);
    t.tick(59_999);
    expect(t.timedOut).toEqual([]);
    expect(t.inspect('k').waiters).toBe(1);
    t.tick(1);
    expect(t.grantedWaiters()).toEqual([waiter]);
  });

  test('given waitMs equal to the maximum, then it is accepted', () => {
    const t = setup();
    t.grant({ key: 'k' });
    expect(t.park({ key: 'k', waitMs: LIMITS.maxWaitMs }).deadlineMs).toBe(t.now() + LIMITS.maxWaitMs);
  });

  test.each([-2, -1_000, 30_001, Number.NaN])('given waitMs %p, then INVALID_ARGUMENT gives the allowed range and nothing queues', (waitMs) => {
    const t = setup();
    t.grant({ key: 'k' });
    const error = thrown(() => t.acquire({ key: 'k', waitMs, session: 2 }));
    expect(error).toBeInstanceOf(InvalidArgumentError);
    expect(error.message).toMatch(/waitMs must be -1 \(wait until granted\) or 0\.\.30000 ms/);
    expect(t.table.waiterTotal).toBe(0);
  });

  test('given a free key and a bad waitMs, then it is still refused (validation does not depend on contention)', () => {
    expect(() => setup().acquire({ key: 'k', waitMs: -2 })).toThrow(InvalidArgumentError);
  });
});

describe('waiter limit and cancel', () => {
  test('given the waiter limit is reached, when one more caller would wait, then RESOURCE_EXHAUSTED and the queue is unchanged', () => {
    const t = setup({ ...LIMITS, maxWaiters: 2 });
    t.grant({ key: 'k' });
    t.grant({ key: 'k2' });
    t.park({ key: 'k' });
    t.park({ key: 'k2' });
    const error = thrown(() => t.acquire({ key: 'k', waitMs: -1 }));
    expect(error).toBeInstanceOf(ResourceExhaustedError);
    expect(error.message).toMatch(/2 callers already wait .*--max-waiters/);
    expect(t.acquire({ key: 'k' }).kind).toBe('busy');
    expect(t.table.waiterTotal).toBe(2);
  });

  test('given the lease limit is reached, then a new grant is RESOURCE_EXHAUSTED, re-entry and waiting still work, and a release makes room', () => {
    const t = setup({ ...LIMITS, maxLeases: 2, maxWaiters: 2 });
    const a = t.grant({ key: 'a' });
    const b = t.grant({ key: 'b' });
    const error = thrown(() => t.acquire({ key: 'c' }));
    expect(error).toBeInstanceOf(ResourceExhaustedError);
    expect(error.message).toMatch(/holds 2 leases, the limit \(--max-leases\)/);
    expect(t.acquire({ key: 'a', token: a.token }).kind).toBe('granted');
    const waiter = t.park({ key: 'a' });
    t.release('a', a.token);
    t.release('a', a.token);
    expect(t.grantedWaiters()).toEqual([waiter]);
    t.release('b', b.token);
    expect(t.grant({ key: 'c' }).key).toBe('c');
  });

  test('given shared waiters promoted past the lease limit, then leases plus waiters never exceed the room reserved, and every promotion finds a slot', () => {
    const t = setup({ ...LIMITS, maxLeases: 2, maxWaiters: 3 });
    const writer = t.grant({ key: 'k', mode: LockMode.EXCLUSIVE });
    t.grant({ key: 'other' });
    const readers = [t.park({ key: 'k', mode: LockMode.SHARED }), t.park({ key: 'k', mode: LockMode.SHARED }), t.park({ key: 'k', mode: LockMode.SHARED })];
    t.release('k', writer.token);
    // Three shared grants at once: four leases, over maxLeases (2) but within the 5 slots.
    expect(t.grantedWaiters()).toEqual(readers);
    expect(t.table.leaseCount).toBe(4);
    // Room for one more waiter only (4 leases + 1 waiter = 5), and no direct grant.
    expect(thrown(() => t.acquire({ key: 'fresh' }))).toBeInstanceOf(ResourceExhaustedError);
    t.park({ key: 'other' });
    const full = thrown(() => t.acquire({ key: 'k', waitMs: -1 }));
    expect(full).toBeInstanceOf(ResourceExhaustedError);
    expect(full.message).toMatch(/4 leases and 1 waiters, all it has room for/);
  });

  test('given a waiter cancelled, then it leaves the queue, is never granted, and cancelling again is false', () => {
    const t = setup();
    const holder = t.grant({ key: 'k' });
    const waiter = t.park({ key: 'k', waitMs: 500 });
    expect(t.table.cancelWaiter(waiter, t.now())).toBe(true);
    expect(t.table.waiterTotal).toBe(0);
    expect(t.table.nextDeadline()).toBe(holder.expiresAtMs);
    t.release('k', holder.token);
    expect(t.granted).toEqual([]);
    expect(t.timedOut).toEqual([]);
    expect(t.table.cancelWaiter(waiter, t.now())).toBe(false);
  });

  test('given a shared holder, when the exclusive waiter at the head is cancelled, then the shared waiters behind it are let in', () => {
    const t = setup();
    t.grant({ key: 'k', mode: SHARED });
    const writer = t.park({ key: 'k' });
    const reader = t.park({ key: 'k', mode: SHARED });
    expect(t.table.cancelWaiter(writer, t.now())).toBe(true);
    expect(t.grantedWaiters()).toEqual([reader]);
  });

  test('given a shared waiter whose deadline passed unswept, when the exclusive waiter ahead of it is cancelled, then it times out instead of being granted', () => {
    const t = setup();
    t.grant({ key: 'k', mode: SHARED });
    const writer = t.park({ key: 'k', session: 2 });
    const reader = t.park({ key: 'k', mode: SHARED, waitMs: 50, session: 3 });
    t.clock.advance(60);
    t.table.cancelWaiter(writer, t.now());
    expect(t.timedOut).toEqual([reader]);
    expect(t.granted).toEqual([]);
  });

  test('given a waiter already granted, when it is cancelled, then false and its lease stays', () => {
    const t = setup();
    const holder = t.grant({ key: 'k' });
    const waiter = t.park({ key: 'k' });
    t.release('k', holder.token);
    expect(t.table.cancelWaiter(waiter, t.now())).toBe(false);
    expect(t.inspect('k').holders).toHaveLength(1);
  });
});
