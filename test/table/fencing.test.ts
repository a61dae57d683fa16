/** Fencing: every grant's fence is above every fence issued before; checkFence names live leases only. */
import { LockMode } from '../../src/table/types';
import { setup } from './fixtures';

const { SHARED } = LockMode;

describe('fences increase', () => {
  test('given a fresh table, then fences start at 1 and strictly increase across keys, modes and shared holders', () => {
    const t = setup();
    const fences = [t.grant({ key: 'a' }), t.grant({ key: 'b' }), t.grant({ key: 'c', mode: SHARED }), t.grant({ key: 'c', mode: SHARED })].map((l) => l.fence);
    expect(fences).toEqual([1, 2, 3, 4]);
    expect(t.table.currentFence).toBe(4);
  });

  test('given one key granted, released and granted again, then each grant has a greater fence than the one before', () => {
    const t = setup();
    let last = 0;
    for (let i = 0; i < 100; i++) {
      const lease = t.grant({ key: 'k', ttlMs: 10 });
      expect(lease.fence).toBeGreaterThan(last);
      last = lease.fence;
      if (i % 2 === 0) t.release('k', lease.token);
      else t.tick(10);
    }
  });

  test('given waiters granted by release and expiry, then their fences continue above every fence issued before', () => {
    const t = setup();
    const holder = t.grant({ key: 'k', ttlMs: 100 });
    t.park({ key: 'k', mode: SHARED });
    t.park({ key: 'k', mode: SHARED });
    t.park({ key: 'k' });
    const other = t.grant({ key: 'other' });
    t.tick(100);
    t.release('k', t.granted[0].lease.token);
    t.release('k', t.granted[1].lease.token);
    const fences = [holder.fence, other.fence, ...t.granted.map((g) => g.lease.fence)];
    expect(fences).toEqual([1, 2, 3, 4, 5]);
  });

  test('given busy, queued and refused requests, then none of them uses up a fence', () => {
    const t = setup();
    t.grant({ key: 'k' });
    t.acquire({ key: 'k' });
    t.park({ key: 'k' });
    expect(() => t.acquire({ key: 'x', ttlMs: -1 })).toThrow();
    expect(t.grant({ key: 'next' }).fence).toBe(2);
  });
});

describe('checkFence', () => {
  test('given a live lease, then checkFence is true for its fence only, and only on its key', () => {
    const t = setup();
    const a = t.grant({ key: 'a' });
    const b = t.grant({ key: 'b' });
    expect(t.checkFence('a', a.fence)).toBe(true);
    expect(t.checkFence('a', b.fence)).toBe(false);
    expect(t.checkFence('b', a.fence)).toBe(false);
    expect(t.checkFence('a', a.fence + 100)).toBe(false);
    expect(t.checkFence('free', a.fence)).toBe(false);
  });

  test('given a released lease, then checkFence is false for its fence', () => {
    const t = setup();
    const lease = t.grant({ key: 'k' });
    t.release('k', lease.token);
    expect(t.checkFence('k', lease.fence)).toBe(false);
  });

  test('given a lease, when its TTL passes (even unswept), then checkFence is false for its fence', () => {
    const t = setup();
    const lease = t.grant({ key: 'k', ttlMs: 100 });
    t.clock.advance(99);
    expect(t.checkFence('k', lease.fence)).toBe(true);
    t.clock.advance(1);
    expect(t.checkFence('k', lease.fence)).toBe(false);
  });

  test('given a stale holder replaced by a new one, then only the new fence checks out (a stale writer is rejected)', () => {
    const t = setup();
    const old = t.grant({ key: 'k', ttlMs: 100 });
    t.tick(100);
    const current = t.grant({ key: 'k' });
    expect(t.checkFence('k', old.fence)).toBe(false);
    expect(t.checkFence('k', current.fence)).toBe(true);
  });

  test('given several shared holders, then each one\'s fence checks out while it holds', () => {
    const t = setup();
    const readers = [1, 2, 3].map(() => t.grant({ key: 'k', mode: SHARED }));
    for (const r of readers) expect(t.checkFence('k', r.fence)).toBe(true);
    t.release('k', readers[1].token);
    expect(readers.map((r) => t.checkFence('k', r.fence))).toEqual([true, false, true]);
  });

  test('given a lease renewed and re-entered, then its fence still checks out', () => {
    const t = setup();
    const lease = t.grant({ key: 'k', ttlMs: 100 });
    t.renew('k', lease.token, 1_000);
    t.acquire({ key: 'k', token: lease.token });
    t.tick(500);
    expect(t.checkFence('k', lease.fence)).toBe(true);
  });
});
