/** The LockService contract over a real socket: ownership, leases, errors, the legacy calls. */
import { InvalidArgumentError, NotHolderError } from '../../src/errors';
import { InProcessLockd, startInProcess, stopAll, until } from '../helpers/in-process-lockd';

const EXCLUSIVE = 1;
const SHARED = 2;

let lockd: InProcessLockd;
beforeEach(async () => {
  lockd = await startInProcess({ defaultTtlMs: 30_000, maxListLimit: 50, defaultListLimit: 3 });
});
afterEach(stopAll);

describe('ownership', () => {
  test('acquire returns a 128-bit hex token and a fence; only that token releases', async () => {
    const a = await lockd.connect();
    const b = await lockd.connect();
    const { acquired, lease } = await a.acquire({ lockKey: 'k' }).reply;
    expect(acquired).toBe(true);
    expect(lease!.token).toMatch(/^[0-9a-f]{32}$/);
    expect(lease!.fence).toBeGreaterThan(0);
    expect(lease!.mode).toBe(EXCLUSIVE);
    expect(lease!.holdCount).toBe(1);
    expect(await b.release('k', 'f'.repeat(32))).toBe(false);
    expect(await b.release('k', 'not-a-token')).toBe(false);
    expect((await b.inspect('k')).holders).toHaveLength(1);
    expect(await b.release('k', lease!.token)).toBe(true);
    expect((await b.inspect('k')).holders).toHaveLength(0);
  });

  test('a busy key answers acquired=false without a lease, and keys are independent', async () => {
    const a = await lockd.connect();
    const b = await lockd.connect();
    await a.acquire({ lockKey: 'x' }).reply;
    expect(await b.acquire({ lockKey: 'x' }).reply).toEqual({ acquired: false, lease: undefined });
    expect((await b.acquire({ lockKey: 'y' }).reply).acquired).toBe(true);
  });

  test('inspect and listLocks never show tokens', async () => {
    const a = await lockd.connect();
    const { lease } = await a.acquire({ lockKey: 'secret', owner: 'worker-1' }).reply;
    const info = await a.inspect('secret');
    expect(info.holders[0]).toMatchObject({ owner: 'worker-1', fence: lease!.fence, holdCount: 1 });
    expect(JSON.stringify(info)).not.toContain(lease!.token);
    expect(JSON.stringify(await a.listLocks('', 0))).not.toContain(lease!.token);
  });
});

describe('leases', () => {
  test('expiresAtMs is the server wall clock plus the TTL, and renew keeps token and fence', async () => {
    const a = await lockd.connect();
    const before = Date.now();
    const { lease } = await a.acquire({ lockKey: 'r', ttlMs: 5_000 }).reply;
    expect(lease!.ttlMs).toBe(5_000);
    expect(lease!.expiresAtMs).toBeGreaterThanOrEqual(before + 5_000);
    expect(lease!.expiresAtMs).toBeLessThanOrEqual(Date.now() + 5_000);
    const renewed = await a.renew('r', lease!.token, 20_000);
    expect(renewed).toMatchObject({ token: lease!.token, fence: lease!.fence, ttlMs: 20_000 });
    expect(renewed.expiresAtMs).toBeGreaterThan(lease!.expiresAtMs);
    // ttlMs 0 (or absent) keeps the lease's own TTL instead of falling back to the default.
    const kept = await a.renew('r', lease!.token, 0);
    expect(kept).toMatchObject({ token: lease!.token, fence: lease!.fence, ttlMs: 20_000 });
  });

  test('the default TTL applies when none is asked for', async () => {
    const a = await lockd.connect();
    expect((await a.acquire({ lockKey: 'd' }).reply).lease!.ttlMs).toBe(30_000);
  });

  test('an expired lease frees its key and cannot be renewed or released', async () => {
    const a = await lockd.connect();
    const { lease } = await a.acquire({ lockKey: 'e', ttlMs: 50 }).reply;
    await until(async () => (await a.inspect('e')).holders.length === 0, 'the lease to expire');
    await expect(a.renew('e', lease!.token, 1_000)).rejects.toBeInstanceOf(NotHolderError);
    expect(await a.release('e', lease!.token)).toBe(false);
    expect(await a.checkFence('e', lease!.fence)).toBe(false);
  });

  test('a lease that is not ephemeral outlives its connection', async () => {
    const a = await lockd.connect();
    const { lease } = await a.acquire({ lockKey: 'stays' }).reply;
    a.connection.close();
    const b = await lockd.connect();
    await until(() => lockd.server.connectionCount === 1, 'the server to see the close');
    expect((await b.inspect('stays')).holders).toHaveLength(1);
    expect(await b.release('stays', lease!.token)).toBe(true);
  });
});

describe('reentrancy and modes', () => {
  test('acquire with a live token re-enters: same fence, holdCount counts up and down', async () => {
    const a = await lockd.connect();
    const first = (await a.acquire({ lockKey: 're' }).reply).lease!;
    const second = (await a.acquire({ lockKey: 're', token: first.token }).reply).lease!;
    expect(second).toMatchObject({ token: first.token, fence: first.fence, holdCount: 2 });
    expect(await a.release('re', first.token)).toBe(true);
    expect((await a.inspect('re')).holders[0].holdCount).toBe(1);
    expect(await a.release('re', first.token)).toBe(true);
    expect((await a.inspect('re')).holders).toHaveLength(0);
  });

  test('a stale token is NOT_HOLDER and a live token in the other mode is INVALID_ARGUMENT', async () => {
    const a = await lockd.connect();
    const lease = (await a.acquire({ lockKey: 'm' }).reply).lease!;
    await expect(a.acquire({ lockKey: 'm', token: lease.token, mode: SHARED }).reply).rejects.toThrow(/EXCLUSIVE.*SHARED/);
    await a.release('m', lease.token);
    await expect(a.acquire({ lockKey: 'm', token: lease.token }).reply).rejects.toBeInstanceOf(NotHolderError);
  });

  test('shared holders coexist; an exclusive request is refused while they hold', async () => {
    const [a, b, c] = await Promise.all([lockd.connect(), lockd.connect(), lockd.connect()]);
    expect((await a.acquire({ lockKey: 's', mode: SHARED }).reply).acquired).toBe(true);
    expect((await b.acquire({ lockKey: 's', mode: SHARED }).reply).acquired).toBe(true);
    expect((await c.acquire({ lockKey: 's' }).reply).acquired).toBe(false);
    expect((await c.inspect('s')).holders.map((h) => h.mode)).toEqual([SHARED, SHARED]);
  });

  test('fences strictly increase and checkFence is true only for the live holder', async () => {
    const a = await lockd.connect();
    const fences: number[] = [];
    for (let i = 0; i < 5; i++) {
      const lease = (await a.acquire({ lockKey: `f${i % 2}` }).reply).lease!;
      fences.push(lease.fence);
      expect(await a.checkFence(`f${i % 2}`, lease.fence)).toBe(true);
      expect(await a.checkFence(`f${(i + 1) % 2}`, lease.fence)).toBe(false);
      await a.release(`f${i % 2}`, lease.token);
      expect(await a.checkFence(`f${i % 2}`, lease.fence)).toBe(false);
    }
    expect([...fences].sort((x, y) => x - y)).toEqual(fences);
    expect(new Set(fences).size).toBe(fences.length);
  });
});

describe('bad input gets INVALID_ARGUMENT naming what was wrong', () => {
  test.each([
    ['an empty key', { lockKey: '' }, /lockKey must be 1\.\.1024 bytes/],
    ['a 1025-byte key', { lockKey: 'x'.repeat(1025) }, /got 1025 bytes/],
    ['a 1026-byte key of 2-byte characters', { lockKey: 'é'.repeat(513) }, /got 1026 bytes/],
    ['ttlMs 0', { lockKey: 'k', ttlMs: 0 }, /ttlMs must be between 20 and 86400000/],
    ['a negative ttlMs', { lockKey: 'k', ttlMs: -5 }, /got -5/],
    ['ttlMs above the maximum', { lockKey: 'k', ttlMs: 86_400_001 }, /ttlMs must be between/],
    ['waitMs -2', { lockKey: 'k', waitMs: -2 }, /waitMs must be -1 .* or 0\.\.3600000/],
    ['an unknown mode', { lockKey: 'k', mode: 7 }, /mode must be EXCLUSIVE \(1\) or SHARED \(2\), got 7/],
  ])('acquire with %s', async (_label, request, message) => {
    const a = await lockd.connect();
    const call = a.acquire(request).reply;
    await expect(call).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(call).rejects.toThrow(message);
  });

  test('a key of exactly 1024 bytes is fine', async () => {
    const a = await lockd.connect();
    expect((await a.acquire({ lockKey: 'é'.repeat(512) }).reply).acquired).toBe(true);
  });

  test('renew with a TTL out of range, and listLocks above the maximum, name the range', async () => {
    const a = await lockd.connect();
    const lease = (await a.acquire({ lockKey: 'k' }).reply).lease!;
    await expect(a.renew('k', lease.token, 5)).rejects.toThrow(/ttlMs must be between 20 and/);
    await expect(a.renew('k', lease.token, -1)).rejects.toThrow(/ttlMs must be between 20 and/);
    await expect(a.listLocks('', 51)).rejects.toThrow(/limit must be at most 50, got 51/);
  });

  test('a refused call leaves other state untouched', async () => {
    const a = await lockd.connect();
    const lease = (await a.acquire({ lockKey: 'keep' }).reply).lease!;
    await expect(a.acquire({ lockKey: 'keep', ttlMs: -1 }).reply).rejects.toThrow();
    expect((await a.inspect('keep')).holders[0].fence).toBe(lease.fence);
  });
});

describe('inspect and listLocks', () => {
  test('inspect of a free key is an empty LockInfo', async () => {
    const a = await lockd.connect();
    expect(await a.inspect('nobody')).toEqual({ lockKey: 'nobody', holders: [], waiters: 0 });
  });

  test('listLocks filters by prefix, sorts by key, and limit <= 0 means the default', async () => {
    const a = await lockd.connect();
    for (const key of ['job/c', 'job/a', 'other', 'job/d', 'job/b']) await a.acquire({ lockKey: key }).reply;
    expect((await a.listLocks('job/', 0)).map((i) => i.lockKey)).toEqual(['job/a', 'job/b', 'job/c']);
    expect((await a.listLocks('job/', 10)).map((i) => i.lockKey)).toEqual(['job/a', 'job/b', 'job/c', 'job/d']);
    expect((await a.listLocks('', 1)).map((i) => i.lockKey)).toEqual(['job/a']);
  });
});

describe('seed-compatible acquireLock / releaseLock', () => {
  test('acquireLock is a try-lock bound to its connection', async () => {
    const a = await lockd.connect();
    const b = await lockd.connect();
    expect(await a.acquireLock({ lockKey: 'file_lock_key' }).reply).toBe(true);
    expect(await a.acquireLock({ lockKey: 'file_lock_key' }).reply).toBe(false);
    expect(await b.acquireLock({ lockKey: 'file_lock_key' }).reply).toBe(false);
    expect(await b.releaseLock({ lockKey: 'file_lock_key' })).toBe(false);
    expect((await b.inspect('file_lock_key')).holders).toHaveLength(1);
    expect(await a.releaseLock({ lockKey: 'file_lock_key' })).toBe(true);
    expect(await b.acquireLock({ lockKey: 'file_lock_key' }).reply).toBe(true);
  });

  test('the connection closing frees what acquireLock took', async () => {
    const a = await lockd.connect();
    const b = await lockd.connect();
    expect(await a.acquireLock({ lockKey: 'legacy' }).reply).toBe(true);
    a.connection.close();
    await until(async () => (await b.inspect('legacy')).holders.length === 0, 'the legacy lock to be freed');
    expect(await b.acquireLock({ lockKey: 'legacy' }).reply).toBe(true);
  });

  test('releaseLock with a token releases an acquire() lease from any connection', async () => {
    const a = await lockd.connect();
    const b = await lockd.connect();
    const lease = (await a.acquire({ lockKey: 'tok' }).reply).lease!;
    expect(await b.releaseLock({ lockKey: 'tok', token: 'bad' })).toBe(false);
    expect(await b.releaseLock({ lockKey: 'tok', token: lease.token })).toBe(true);
  });
});

test('ping answers pong', async () => {
  expect(await (await lockd.connect()).ping()).toBe('pong');
});
