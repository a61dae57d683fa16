/** Leases: every grant expires at now + ttl unless renewed; TTLs are range-checked. */
import { InvalidArgumentError, NotHolderError } from '../../src/errors';
import { LIMITS, setup, thrown } from './fixtures';

describe('expiry', () => {
  test('given a grant with ttl 100, then it expires at now + 100 and nextDeadline says so', () => {
    const t = setup();
    const lease = t.grant({ key: 'k', ttlMs: 100 });
    expect(lease).toMatchObject({ ttlMs: 100, expiresAtMs: t.now() + 100, holdCount: 1 });
    expect(t.table.nextDeadline()).toBe(t.now() + 100);
  });

  test('given a grant with ttl 100, when 99 ms pass it is held, and when 100 ms pass it is freed', () => {
    const t = setup();
    const lease = t.grant({ key: 'k', ttlMs: 100 });
    t.tick(99);
    expect(t.table.leaseCount).toBe(1);
    expect(t.table.isHeld('k', lease.token, t.now())).toBe(true);
    t.tick(1);
    expect(t.table.leaseCount).toBe(0);
    expect(t.table.isHeld('k', lease.token, t.now())).toBe(false);
    expect(t.inspect('k').holders).toEqual([]);
    expect(t.table.nextDeadline()).toBe(Infinity);
  });

  test('given an expired lease nobody has swept yet, when another caller acquires the key, then it is granted (every call expires first)', () => {
    const t = setup();
    t.grant({ key: 'k', ttlMs: 100 });
    t.clock.advance(100);
    expect(t.acquire({ key: 'k', session: 2 }).kind).toBe('granted');
  });

  test('given leases expiring at 300, 100 and 200, then nextDeadline walks through them in time order', () => {
    const t = setup();
    const start = t.now();
    t.grant({ key: 'c', ttlMs: 300 });
    t.grant({ key: 'a', ttlMs: 100 });
    t.grant({ key: 'b', ttlMs: 200 });
    expect(t.table.nextDeadline()).toBe(start + 100);
    t.tick(100);
    expect(t.table.nextDeadline()).toBe(start + 200);
    expect(t.table.list('', 10, t.now()).map((i) => i.key)).toEqual(['b', 'c']);
    t.tick(100);
    expect(t.table.nextDeadline()).toBe(start + 300);
    t.tick(100);
    expect(t.table.nextDeadline()).toBe(Infinity);
    expect(t.table.leaseCount).toBe(0);
  });

  test('given a clock jump far past many leases, when expireDue runs once, then all of them are freed', () => {
    const t = setup();
    for (let i = 0; i < 100; i++) t.grant({ key: `k${i}`, ttlMs: 10 + i });
    t.tick(60_000);
    expect(t.table.leaseCount).toBe(0);
    expect(t.table.nextDeadline()).toBe(Infinity);
  });

  test('given no ttl, then the default TTL applies', () => {
    const t = setup();
    const lease = t.grant({ key: 'k' });
    expect(lease).toMatchObject({ ttlMs: LIMITS.defaultTtlMs, expiresAtMs: t.now() + LIMITS.defaultTtlMs });
  });
});

describe('ttl range', () => {
  test.each([0, -1, -1_000, 9, 60_001, Number.NaN, Infinity])('given ttl %p, when acquiring, then INVALID_ARGUMENT gives the allowed range', (ttlMs) => {
    const t = setup();
    const error = thrown(() => t.acquire({ key: 'k', ttlMs }));
    expect(error).toBeInstanceOf(InvalidArgumentError);
    expect(error.message).toMatch(/ttlMs must be between 10 and 60000 ms/);
    expect(t.table.leaseCount).toBe(0);
  });

  test.each([0, -5, 9, 60_001])('given ttl %p, when renewing, then INVALID_ARGUMENT gives the allowed range and the lease is unchanged', (ttlMs) => {
    const t = setup();
    const lease = t.grant({ key: 'k', ttlMs: 100 });
    expect(() => t.renew('k', lease.token, ttlMs)).toThrow(/ttlMs must be between 10 and 60000 ms/);
    expect(t.inspect('k').holders[0].expiresAtMs).toBe(lease.expiresAtMs);
  });

  test('given the range ends 10 and 60000, then both are accepted', () => {
    const t = setup();
    expect(t.grant({ key: 'a', ttlMs: 10 }).ttlMs).toBe(10);
    expect(t.grant({ key: 'b', ttlMs: 60_000 }).ttlMs).toBe(60_000);
  });
});

describe('renew', () => {
  test('given a lease 80 ms into a 100 ms TTL, when renewed for 500, then it expires at now + 500 with the same token, fence, mode and holdCount', () => {
    const t = setup();
    const lease = t.grant({ key: 'k', ttlMs: 100, owner: 'me' });
    t.acquire({ key: 'k', token: lease.token, ttlMs: 100 });
    t.clock.advance(80);
    const renewed = t.renew('k', lease.token, 500);
    expect(renewed).toEqual({ ...lease, ttlMs: 500, expiresAtMs: t.now() + 500, holdCount: 2 });
    expect(t.table.nextDeadline()).toBe(t.now() + 500);
    t.tick(499);
    expect(t.table.isHeld('k', lease.token, t.now())).toBe(true);
    t.tick(1);
    expect(t.table.isHeld('k', lease.token, t.now())).toBe(false);
  });

  test('given a lease with a long TTL, when renewed with a shorter one, then it expires at now + the shorter TTL', () => {
    const t = setup();
    const lease = t.grant({ key: 'k', ttlMs: 10_000 });
    expect(t.renew('k', lease.token, 50).expiresAtMs).toBe(t.now() + 50);
    t.tick(50);
    expect(t.table.leaseCount).toBe(0);
  });

  test('given a lease renewed again and again before each expiry, then it stays held well past its first TTL', () => {
    const t = setup();
    const lease = t.grant({ key: 'k', ttlMs: 100 });
    for (let i = 0; i < 50; i++) {
      t.tick(90);
      t.renew('k', lease.token, 100);
    }
    expect(t.checkFence('k', lease.fence)).toBe(true);
  });

  test('given an expired lease, when renewed, then NOT_HOLDER', () => {
    const t = setup();
    const lease = t.grant({ key: 'k', ttlMs: 100 });
    t.clock.advance(100);
    expect(() => t.renew('k', lease.token, 100)).toThrow(NotHolderError);
    expect(t.table.leaseCount).toBe(0);
  });

  test('given a released lease, when renewed, then NOT_HOLDER', () => {
    const t = setup();
    const lease = t.grant({ key: 'k' });
    t.release('k', lease.token);
    expect(() => t.renew('k', lease.token, 100)).toThrow(NotHolderError);
  });

  test('given no ttl, when renewing, then the lease keeps its own TTL (not the default)', () => {
    const t = setup();
    const lease = t.grant({ key: 'k', ttlMs: 5_000 });
    t.clock.advance(1_000);
    expect(t.renew('k', lease.token, undefined)).toMatchObject({ ttlMs: 5_000, expiresAtMs: t.now() + 5_000 });
  });
});
