/** Reentrancy: acquiring with a live lease's token on the same key and mode re-enters it. */
import { InvalidArgumentError, NotHolderError } from '../../src/errors';
import { LockMode } from '../../src/table/types';
import { setup, thrown } from './fixtures';

const { SHARED } = LockMode;

describe('re-entering', () => {
  test('given a fresh grant, then it is not marked reentered', () => {
    expect(setup().acquire({ key: 'k' })).toMatchObject({ kind: 'granted', reentered: false });
  });

  test('given an exclusive lease, when acquired with its token, then holdCount + 1 with the same token and fence and no new fence issued', () => {
    const t = setup();
    const lease = t.grant({ key: 'k', ttlMs: 100 });
    const fence = t.table.currentFence;
    t.clock.advance(50);
    const again = t.acquire({ key: 'k', token: lease.token, ttlMs: 100 });
    expect(again).toEqual({ kind: 'granted', reentered: true, lease: { ...lease, holdCount: 2, expiresAtMs: t.now() + 100 } });
    expect(t.table.currentFence).toBe(fence);
    expect(t.table.leaseCount).toBe(1);
    expect(t.inspect('k').holders[0].holdCount).toBe(2);
  });

  test('given a shared lease among others, when acquired with its token, then only its holdCount grows', () => {
    const t = setup();
    const a = t.grant({ key: 'k', mode: SHARED });
    const b = t.grant({ key: 'k', mode: SHARED });
    t.acquire({ key: 'k', mode: SHARED, token: b.token });
    expect(t.inspect('k').holders.map((h) => [h.fence, h.holdCount])).toEqual([
      [a.fence, 1],
      [b.fence, 2],
    ]);
  });

  test('given a holder with waiters queued, when it re-enters, then it is granted at once (it already holds the key)', () => {
    const t = setup();
    const lease = t.grant({ key: 'k' });
    t.park({ key: 'k', session: 2 });
    expect(t.acquire({ key: 'k', token: lease.token })).toMatchObject({ kind: 'granted', reentered: true });
    expect(t.inspect('k').waiters).toBe(1);
  });

  test('given a lease with a long expiry, when re-entered with a short TTL, then the expiry is not pulled earlier', () => {
    const t = setup();
    const lease = t.grant({ key: 'k', ttlMs: 10_000 });
    const again = t.acquire({ key: 'k', token: lease.token, ttlMs: 100 });
    expect(again.kind === 'granted' && again.lease.expiresAtMs).toBe(lease.expiresAtMs);
  });
});

describe('releasing a re-entered lease', () => {
  test('given holdCount 3 and a waiter, when released three times, then the count steps down and the key frees (and the waiter is granted) only at zero', () => {
    const t = setup();
    const lease = t.grant({ key: 'k' });
    t.acquire({ key: 'k', token: lease.token });
    t.acquire({ key: 'k', token: lease.token });
    const waiter = t.park({ key: 'k', session: 2 });
    expect(t.release('k', lease.token)).toBe(true);
    expect(t.inspect('k').holders[0].holdCount).toBe(2);
    expect(t.release('k', lease.token)).toBe(true);
    expect(t.inspect('k').holders[0].holdCount).toBe(1);
    expect(t.granted).toEqual([]);
    expect(t.release('k', lease.token)).toBe(true);
    expect(t.grantedWaiters()).toEqual([waiter]);
    expect(t.release('k', lease.token)).toBe(false);
  });

  test('given a lease re-entered many times, when its TTL passes, then it is freed whatever its holdCount', () => {
    const t = setup();
    const lease = t.grant({ key: 'k', ttlMs: 100 });
    for (let i = 0; i < 5; i++) t.acquire({ key: 'k', token: lease.token, ttlMs: 100 });
    t.tick(100);
    expect(t.table.leaseCount).toBe(0);
  });
});

describe('re-entering refused', () => {
  test('given an exclusive lease, when re-entered as SHARED, then INVALID_ARGUMENT (no silent downgrade) and the lease is unchanged', () => {
    const t = setup();
    const lease = t.grant({ key: 'k' });
    const error = thrown(() => t.acquire({ key: 'k', token: lease.token, mode: SHARED }));
    expect(error).toBeInstanceOf(InvalidArgumentError);
    expect(error.message).toMatch(/is EXCLUSIVE; re-entering it as SHARED is not allowed/);
    expect(t.inspect('k').holders[0]).toMatchObject({ holdCount: 1, mode: lease.mode });
  });

  test('given a shared lease, when re-entered as EXCLUSIVE, then INVALID_ARGUMENT (no silent upgrade)', () => {
    const t = setup();
    const lease = t.grant({ key: 'k', mode: SHARED });
    expect(() => t.acquire({ key: 'k', token: lease.token })).toThrow(/is SHARED; re-entering it as EXCLUSIVE is not allowed/);
  });

  test('given a released lease, when re-entered with its stale token, then NOT_HOLDER', () => {
    const t = setup();
    const lease = t.grant({ key: 'k' });
    t.release('k', lease.token);
    expect(() => t.acquire({ key: 'k', token: lease.token })).toThrow(NotHolderError);
    expect(t.table.leaseCount).toBe(0);
  });

  test('given an expired lease, when re-entered with its token, then NOT_HOLDER (and it is not granted anew)', () => {
    const t = setup();
    const lease = t.grant({ key: 'k', ttlMs: 100 });
    t.clock.advance(100);
    expect(() => t.acquire({ key: 'k', token: lease.token })).toThrow(NotHolderError);
    expect(t.table.leaseCount).toBe(0);
  });

  test('given a lease on key a, when its token is used to re-enter key b, then NOT_HOLDER', () => {
    const t = setup();
    const a = t.grant({ key: 'a' });
    t.grant({ key: 'b' });
    expect(() => t.acquire({ key: 'b', token: a.token })).toThrow(NotHolderError);
  });
});
