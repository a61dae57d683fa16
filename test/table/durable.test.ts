/** Durable state: the observer's change stream, durableLeases, and restore after a restart. */
import { FENCE_BLOCK } from '../../src/table/lock-table';
import { LeaseView, LockMode } from '../../src/table/types';
import { byFence, LIMITS, replay, setup, stored } from './fixtures';

const { EXCLUSIVE, SHARED } = LockMode;

describe('the change stream', () => {
  test('given a fresh table, when the first lease is granted, then a fence reservation comes first and the grant carries the whole lease', () => {
    const t = setup();
    const lease = t.grant({ key: 'k', owner: 'me', ttlMs: 200 });
    expect(t.changes).toEqual([
      { kind: 'fence-reserve', ceiling: FENCE_BLOCK },
      { kind: 'grant', lease: stored(lease) },
    ]);
    expect(t.table.reservedFenceCeiling).toBe(FENCE_BLOCK);
  });

  test('given a reservation, when more leases are granted within it, then no further reservation is recorded', () => {
    const t = setup();
    for (let i = 0; i < 100; i++) t.grant({ key: `k${i}` });
    expect(t.changes.filter((c) => c.kind === 'fence-reserve')).toHaveLength(1);
  });

  test('given a durable lease, then re-entry, release of one entry and renew each record an update with the new holdCount, TTL and expiry', () => {
    const t = setup();
    const lease = t.grant({ key: 'k', ttlMs: 100 });
    t.changes.length = 0;
    t.clock.advance(10);
    t.acquire({ key: 'k', token: lease.token, ttlMs: 200 });
    t.release('k', lease.token);
    t.renew('k', lease.token, 300);
    const now = t.now();
    expect(t.changes).toEqual([
      { kind: 'update', key: 'k', digest: stored(lease).digest, holdCount: 2, ttlMs: 200, expiresAtMs: now + 200 },
      { kind: 'update', key: 'k', digest: stored(lease).digest, holdCount: 1, ttlMs: 200, expiresAtMs: now + 200 },
      { kind: 'update', key: 'k', digest: stored(lease).digest, holdCount: 1, ttlMs: 300, expiresAtMs: now + 300 },
    ]);
  });

  test('given durable leases, when one is released and one expires, then each records a free with its reason', () => {
    const t = setup();
    const a = t.grant({ key: 'a' });
    const b = t.grant({ key: 'b', ttlMs: 50 });
    t.changes.length = 0;
    t.release('a', a.token);
    t.tick(50);
    expect(t.changes).toEqual([
      { kind: 'free', key: 'a', digest: stored(a).digest, reason: 'released' },
      { kind: 'free', key: 'b', digest: stored(b).digest, reason: 'expired' },
    ]);
  });

  test('given a durable waiter, when it is granted, then its grant is recorded after the free that let it in', () => {
    const t = setup();
    const holder = t.grant({ key: 'k' });
    t.park({ key: 'k', session: 2 });
    t.changes.length = 0;
    t.release('k', holder.token);
    expect(t.changes).toEqual([
      { kind: 'free', key: 'k', digest: stored(holder).digest, reason: 'released' },
      { kind: 'grant', lease: stored(t.granted[0].lease) },
    ]);
  });

  test('given only ephemeral leases, whatever happens to them, then the only changes recorded are fence reservations', () => {
    const t = setup();
    const a = t.grant({ key: 'a', ephemeral: true, session: 7 });
    t.acquire({ key: 'a', token: a.token, session: 7 });
    t.renew('a', a.token, 500);
    t.release('a', a.token);
    t.grant({ key: 'b', ephemeral: true, session: 7, ttlMs: 50 });
    t.grant({ key: 'c', ephemeral: true, session: 7 });
    t.park({ key: 'c', ephemeral: true, session: 8 });
    t.tick(50);
    t.table.closeSession(7, t.now());
    expect(t.granted).toHaveLength(1);
    t.release('a', a.token);
    expect(t.changes).toEqual([{ kind: 'fence-reserve', ceiling: FENCE_BLOCK }]);
  });

  test('given an observer that keeps no changes, then changed is never called but waiters are still granted', () => {
    const t = setup(LIMITS, { recordsChanges: false });
    const lease = t.grant({ key: 'k' });
    t.park({ key: 'k', session: 2 });
    t.release('k', lease.token);
    expect(t.changes).toEqual([]);
    expect(t.granted).toHaveLength(1);
  });

  test('given a mix of durable and ephemeral activity, when the changes are replayed into an empty map, then it holds exactly the live durable leases', () => {
    const t = setup();
    const a = t.grant({ key: 'a', owner: 'A' });
    t.grant({ key: 'e', ephemeral: true, session: 7 });
    t.acquire({ key: 'a', token: a.token });
    t.grant({ key: 'b', ttlMs: 50 });
    t.grant({ key: 'c', mode: SHARED });
    const c2 = t.grant({ key: 'c', mode: SHARED, ttlMs: 5_000 });
    t.park({ key: 'c', session: 3 });
    t.release('a', a.token);
    t.tick(50);
    t.renew('c', c2.token, 10_000);
    t.tick(1_000);
    t.table.closeSession(7, t.now());
    const live = byFence(t.table.durableLeases());
    expect(live.map((l) => l.key)).toEqual(['c']);
    expect(byFence(replay(t.changes).leases.values())).toEqual(live);
    t.release('c', c2.token);
    const afterWriter = byFence(t.table.durableLeases());
    expect(afterWriter.map((l) => [l.key, l.mode])).toEqual([['c', EXCLUSIVE]]);
    expect(byFence(replay(t.changes).leases.values())).toEqual(afterWriter);
  });
});

describe('durableLeases', () => {
  test('given durable, ephemeral, released, expired and waiter-granted leases, then durableLeases lists exactly the live non-ephemeral ones', () => {
    const t = setup();
    const durable = t.grant({ key: 'd', owner: 'o' });
    t.grant({ key: 'eph', ephemeral: true, session: 3 });
    const released = t.grant({ key: 'r' });
    t.release('r', released.token);
    t.grant({ key: 'x', ttlMs: 10 });
    const holder = t.grant({ key: 'w', ttlMs: 20 });
    t.park({ key: 'w', session: 4, mode: SHARED });
    t.park({ key: 'w', session: 5, mode: SHARED, ephemeral: true });
    t.tick(20);
    expect(t.checkFence('w', holder.fence)).toBe(false);
    const again = t.acquire({ key: 'd', token: durable.token });
    const expected = byFence([again.kind === 'granted' ? again.lease : durable, t.granted[0].lease].map(stored));
    expect(byFence(t.table.durableLeases())).toEqual(expected);
  });
});

describe('restore', () => {
  const now = 1_700_000_000_000;
  const lease = (fields: Partial<LeaseView>): LeaseView => ({
    key: 'k',
    token: '0123456789abcdef'.repeat(2),
    fence: 1,
    ttlMs: 1_000,
    expiresAtMs: now + 1_000,
    mode: EXCLUSIVE,
    holdCount: 1,
    owner: undefined,
    ...fields,
  });

  test('given leases on disk, when restored, then expired ones (at or before now) are dropped and live ones are held as they were', () => {
    const t = setup();
    const live = lease({ key: 'k', token: 'ab'.repeat(16), fence: 500, holdCount: 2, owner: 'o', ttlMs: 2_000, expiresAtMs: now + 1_500 });
    const dueNow = lease({ key: 'due', token: 'cd'.repeat(16), fence: 600, expiresAtMs: now });
    const past = lease({ key: 'old', token: 'ef'.repeat(16), fence: 700, expiresAtMs: now - 1 });
    expect(t.table.restore([live, dueNow, past].map(stored), 0, now)).toBe(1);
    expect(t.table.leaseCount).toBe(1);
    expect([...t.table.durableLeases()]).toEqual([stored(live)]);
    expect(t.inspect('k').holders).toEqual([{ owner: 'o', mode: EXCLUSIVE, fence: 500, expiresAtMs: now + 1_500, holdCount: 2 }]);
    expect(t.inspect('due').holders).toEqual([]);
    expect(t.checkFence('k', 500)).toBe(true);
    expect(t.table.nextDeadline()).toBe(now + 1_500);
  });

  test('given a restored lease with holdCount 2, then its token renews it, and it frees only after two releases', () => {
    const t = setup();
    const live = lease({ token: 'ab'.repeat(16), holdCount: 2 });
    t.table.restore([live].map(stored), 0, now);
    expect(t.renew('k', live.token, 500)).toMatchObject({ fence: live.fence, holdCount: 2 });
    expect(t.release('k', live.token)).toBe(true);
    expect(t.table.leaseCount).toBe(1);
    expect(t.release('k', live.token)).toBe(true);
    expect(t.table.leaseCount).toBe(0);
  });

  test('given a restored lease, when its expiry passes, then it is freed and a waiter is granted', () => {
    const t = setup();
    t.table.restore([lease({ expiresAtMs: now + 100 })].map(stored), 0, now);
    const waiter = t.park({ key: 'k' });
    t.tick(100);
    expect(t.grantedWaiters()).toEqual([waiter]);
  });

  test('given restored shared leases on one key, then both are held, more readers join, and a writer waits for both', () => {
    const t = setup();
    const r1 = lease({ token: '11'.repeat(16), fence: 3, mode: SHARED, expiresAtMs: now + 100 });
    const r2 = lease({ token: '22'.repeat(16), fence: 4, mode: SHARED, expiresAtMs: now + 200 });
    expect(t.table.restore([r1, r2].map(stored), 0, now)).toBe(2);
    expect(t.inspect('k').holders.map((h) => h.fence)).toEqual([3, 4]);
    expect(t.acquire({ key: 'k', mode: SHARED }).kind).toBe('granted');
    expect(t.acquire({ key: 'k' }).kind).toBe('busy');
  });

  test.each([
    ['the ceiling is above every fence', [500], 700, 700],
    ['a live fence is above the ceiling', [900], 700, 900],
    ['a dropped (expired) fence is the highest', [500, -950], 700, 950],
  ])('given %s, when restored, then the next fence is one block above the highest of them', (_name, fences, ceiling, highest) => {
    const t = setup();
    const leases = fences.map((f, i) => lease({ key: `k${i}`, token: `${i}`.padStart(32, 'a'), fence: Math.abs(f), expiresAtMs: f < 0 ? now - 1 : now + 1_000 }));
    t.table.restore(leases.map(stored), ceiling, now);
    const next = t.grant({ key: 'new' });
    expect(next.fence).toBe(highest + FENCE_BLOCK + 1);
    expect(next.fence).toBeGreaterThan(ceiling);
    for (const f of fences) expect(next.fence).toBeGreaterThan(Math.abs(f));
  });

  test('given a restore, when the first lease is granted, then a new reservation above the old ceiling is recorded before its grant', () => {
    const t = setup();
    t.table.restore([], 700, now);
    const next = t.grant({ key: 'new' });
    expect(t.changes[0]).toEqual({ kind: 'fence-reserve', ceiling: next.fence + FENCE_BLOCK - 1 });
    expect(t.changes[1]).toEqual({ kind: 'grant', lease: stored(next) });
    expect(t.table.reservedFenceCeiling).toBeGreaterThanOrEqual(next.fence);
  });

  test('given nothing on disk (no leases, ceiling 0), when restored, then fences start at 1', () => {
    const t = setup();
    expect(t.table.restore([], 0, now)).toBe(0);
    expect(t.grant({ key: 'k' }).fence).toBe(1);
  });

  test('given a table replayed from another table\'s change stream, then the restored table holds the same leases and issues higher fences', () => {
    const first = setup();
    const a = first.grant({ key: 'a' });
    first.grant({ key: 'b', mode: SHARED });
    first.grant({ key: 'b', mode: SHARED });
    first.acquire({ key: 'a', token: a.token });
    const gone = first.grant({ key: 'gone' });
    first.release('gone', gone.token);
    const { leases, fenceCeiling } = replay(first.changes);
    const second = setup();
    second.table.restore(leases.values(), fenceCeiling, second.now());
    expect(byFence(second.table.durableLeases())).toEqual(byFence(first.table.durableLeases()));
    expect(second.grant({ key: 'c' }).fence).toBeGreaterThan(first.table.reservedFenceCeiling);
    expect(second.release('a', a.token)).toBe(true);
  });
});
