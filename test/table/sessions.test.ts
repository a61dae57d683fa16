/** Sessions: ephemeral leases and waiters belong to their connection and end with it. */
import { LockMode } from '../../src/table/types';
import { LIMITS, setup } from './fixtures';

const { SHARED } = LockMode;

describe('ephemeral leases end with their session', () => {
  test('given an ephemeral lease with the longest TTL and a waiter, when its session closes, then it is freed and the waiter granted', () => {
    const t = setup();
    const lease = t.grant({ key: 'k', ephemeral: true, session: 7, ttlMs: LIMITS.maxTtlMs });
    const next = t.park({ key: 'k', session: 8 });
    expect(t.table.closeSession(7, t.now())).toEqual({ leases: 1, waiters: 0 });
    expect(t.grantedWaiters()).toEqual([next]);
    expect(t.checkFence('k', lease.fence)).toBe(false);
    expect(t.release('k', lease.token)).toBe(false);
  });

  test('given a session with several ephemeral leases (one re-entered, some shared), when it closes, then all are freed whatever their holdCount', () => {
    const t = setup();
    const a = t.grant({ key: 'a', ephemeral: true, session: 7 });
    t.acquire({ key: 'a', token: a.token, session: 7 });
    t.grant({ key: 'b', ephemeral: true, session: 7, mode: SHARED });
    const other = t.grant({ key: 'b', ephemeral: true, session: 8, mode: SHARED });
    expect(t.table.closeSession(7, t.now())).toEqual({ leases: 2, waiters: 0 });
    expect(t.table.leaseCount).toBe(1);
    expect(t.inspect('b').holders.map((h) => h.fence)).toEqual([other.fence]);
  });

  test('given ephemeral leases of two sessions, when one closes, then the other session keeps its leases', () => {
    const t = setup();
    t.grant({ key: 'a', ephemeral: true, session: 7 });
    const mine = t.grant({ key: 'b', ephemeral: true, session: 8 });
    t.table.closeSession(7, t.now());
    expect(t.checkFence('b', mine.fence)).toBe(true);
  });

  test('given an ephemeral lease released early and its slot reused by another session, when the first session closes, then the new lease is untouched', () => {
    const t = setup();
    const early = t.grant({ key: 'k', ephemeral: true, session: 7 });
    t.release('k', early.token);
    const reused = t.grant({ key: 'k', ephemeral: true, session: 8 });
    const durable = t.grant({ key: 'd', session: 9 });
    expect(t.table.closeSession(7, t.now())).toEqual({ leases: 0, waiters: 0 });
    expect(t.checkFence('k', reused.fence)).toBe(true);
    expect(t.checkFence('d', durable.fence)).toBe(true);
  });

  test('given an ephemeral lease that already expired, when its session closes, then nothing more is freed', () => {
    const t = setup();
    t.grant({ key: 'k', ephemeral: true, session: 7, ttlMs: 100 });
    t.tick(100);
    const next = t.grant({ key: 'k', session: 8 });
    expect(t.table.closeSession(7, t.now())).toEqual({ leases: 0, waiters: 0 });
    expect(t.checkFence('k', next.fence)).toBe(true);
  });

  test('given an ephemeral lease, when its TTL passes before the session closes, then it expires like any lease', () => {
    const t = setup();
    t.grant({ key: 'k', ephemeral: true, session: 7, ttlMs: 100 });
    t.tick(100);
    expect(t.table.leaseCount).toBe(0);
  });

  test('given a session that holds nothing, when it closes, then nothing happens', () => {
    const t = setup();
    const lease = t.grant({ key: 'k', session: 1 });
    expect(t.table.closeSession(42, t.now())).toEqual({ leases: 0, waiters: 0 });
    expect(t.checkFence('k', lease.fence)).toBe(true);
  });
});

describe('non-ephemeral leases outlive their session', () => {
  test('given a lease that is not ephemeral, when its session closes, then it stays held until its TTL', () => {
    const t = setup();
    const lease = t.grant({ key: 'k', session: 7, ttlMs: 500 });
    const waiter = t.park({ key: 'k', session: 8 });
    expect(t.table.closeSession(7, t.now())).toEqual({ leases: 0, waiters: 0 });
    expect(t.checkFence('k', lease.fence)).toBe(true);
    expect(t.granted).toEqual([]);
    expect(t.release('k', lease.token)).toBe(true);
    expect(t.grantedWaiters()).toEqual([waiter]);
  });

  test('given a non-ephemeral lease whose session closed, then it expires at its TTL and the next waiter is granted', () => {
    const t = setup();
    t.grant({ key: 'k', session: 7, ttlMs: 500 });
    const waiter = t.park({ key: 'k', session: 8 });
    t.table.closeSession(7, t.now());
    t.tick(499);
    expect(t.granted).toEqual([]);
    t.tick(1);
    expect(t.grantedWaiters()).toEqual([waiter]);
  });
});

describe('waiters end with their session', () => {
  test('given waiters of a session on two keys, when it closes, then they leave the queues, are never granted and get no timeout callback', () => {
    const t = setup();
    const a = t.grant({ key: 'a', session: 1 });
    const b = t.grant({ key: 'b', session: 1 });
    t.park({ key: 'a', session: 7 });
    t.park({ key: 'b', session: 7, waitMs: 100 });
    expect(t.table.closeSession(7, t.now())).toEqual({ leases: 0, waiters: 2 });
    expect(t.table.waiterTotal).toBe(0);
    expect(t.inspect('a').waiters).toBe(0);
    expect(t.table.nextDeadline()).toBe(Math.min(a.expiresAtMs, b.expiresAtMs));
    t.release('a', a.token);
    t.release('b', b.token);
    t.tick(1_000);
    expect(t.granted).toEqual([]);
    expect(t.timedOut).toEqual([]);
  });

  test('given a closed session\'s waiter ahead of another\'s, when the holder releases, then the other waiter is granted', () => {
    const t = setup();
    const holder = t.grant({ key: 'k' });
    t.park({ key: 'k', session: 7 });
    const mine = t.park({ key: 'k', session: 8 });
    t.table.closeSession(7, t.now());
    t.release('k', holder.token);
    expect(t.grantedWaiters()).toEqual([mine]);
  });

  test('given a shared holder and a closed session\'s exclusive waiter at the head, when the session closes, then shared waiters behind it are let in', () => {
    const t = setup();
    t.grant({ key: 'k', mode: SHARED });
    t.park({ key: 'k', session: 7 });
    const reader = t.park({ key: 'k', mode: SHARED, session: 8 });
    t.table.closeSession(7, t.now());
    expect(t.grantedWaiters()).toEqual([reader]);
  });

  test('given a session holding an ephemeral lease and waiting on the same key behind others, when it closes, then none of its waiters is granted its own freed lock', () => {
    const t = setup();
    t.grant({ key: 'k', ephemeral: true, session: 7 });
    t.park({ key: 'k', session: 7 });
    const other = t.park({ key: 'k', session: 8 });
    t.park({ key: 'k', session: 7, mode: SHARED });
    expect(t.table.closeSession(7, t.now())).toEqual({ leases: 1, waiters: 2 });
    expect(t.grantedWaiters()).toEqual([other]);
    expect(t.table.waiterTotal).toBe(0);
  });

  test('given a waiter whose deadline passed before the timer ran, when another session closes and frees the key, then the waiter times out and is not granted', () => {
    const t = setup();
    t.grant({ key: 'k', ephemeral: true, session: 7, ttlMs: 60_000 });
    const late = t.park({ key: 'k', session: 8, waitMs: 50 });
    t.clock.advance(60);
    t.table.closeSession(7, t.now());
    expect(t.timedOut).toEqual([late]);
    expect(t.granted).toEqual([]);
    expect(t.table.leaseCount).toBe(0);
  });
});

describe('drainWaiters', () => {
  test('given waiters on several keys and sessions, when drained, then all are returned, the queues are empty, and none is ever granted', () => {
    const t = setup();
    const a = t.grant({ key: 'a' });
    const b = t.grant({ key: 'b', mode: SHARED });
    const parked = [t.park({ key: 'a', session: 2 }), t.park({ key: 'a', waitMs: 100, session: 3 }), t.park({ key: 'b', session: 4 }), t.park({ key: 'b', mode: SHARED, session: 5 })];
    const drained = t.table.drainWaiters();
    expect(new Set(drained)).toEqual(new Set(parked));
    expect(drained).toHaveLength(4);
    expect(t.table.waiterTotal).toBe(0);
    expect(t.inspect('a').waiters).toBe(0);
    expect(t.inspect('b')).toMatchObject({ waiters: 0, holders: [{ fence: b.fence }] });
    expect(t.table.nextDeadline()).toBe(a.expiresAtMs);
    t.release('a', a.token);
    t.release('b', b.token);
    t.tick(1_000);
    expect(t.granted).toEqual([]);
    expect(t.timedOut).toEqual([]);
    expect(t.table.closeSession(2, t.now())).toEqual({ leases: 0, waiters: 0 });
  });

  test('given no waiters, when drained, then the result is empty and the holders stay', () => {
    const t = setup();
    t.grant({ key: 'a' });
    expect(t.table.drainWaiters()).toEqual([]);
    expect(t.table.leaseCount).toBe(1);
  });
});
