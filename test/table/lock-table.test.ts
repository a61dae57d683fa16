/** Every rule of the lock table, driven by a manual clock: no sockets, no timers, no sleeps. */
import { InvalidArgumentError, NotHolderError, ResourceExhaustedError } from '../../src/errors';
import { FENCE_BLOCK } from '../../src/table/lock-table';
import { LeaseView, LockMode, TableChange } from '../../src/table/types';
import { LIMITS, setup } from './fixtures';

const { EXCLUSIVE, SHARED } = LockMode;

describe('keys', () => {
  test('given a holder of key a, when b is acquired, then b is granted at once', () => {
    const t = setup();
    t.grant({ key: 'a' });
    expect(t.acquire({ key: 'b' }).kind).toBe('granted');
  });

  test.each([
    ['', /got 0 bytes/],
    ['x'.repeat(1025), /got 1025 bytes/],
    ['€'.repeat(342), /got 1026 bytes/],
  ])('given the key %#, then acquire is INVALID_ARGUMENT naming the 1..1024 byte limit', (key, message) => {
    const t = setup();
    expect(() => t.acquire({ key })).toThrow(InvalidArgumentError);
    expect(() => t.acquire({ key })).toThrow(message);
    expect(() => t.acquire({ key })).toThrow(/1\.\.1024 bytes/);
  });

  test('given keys of exactly 1024 bytes (ASCII or 3-byte characters), then they are fine', () => {
    const t = setup();
    expect(t.acquire({ key: 'x'.repeat(1024) }).kind).toBe('granted');
    expect(t.acquire({ key: '€'.repeat(341) + 'a' }).kind).toBe('granted');
  });
});

describe('ownership', () => {
  test('tokens are 32 hex characters and unique across many grants', () => {
    const t = setup();
    const tokens = new Set<string>();
    for (let i = 0; i < 2_000; i++) {
      const lease = t.grant({ key: `k${i}` });
      expect(lease.token).toMatch(/^[0-9a-f]{32}$/);
      tokens.add(lease.token);
    }
    expect(tokens.size).toBe(2_000);
  });

  test('given a holder, when another token releases or renews, then nothing changes', () => {
    const t = setup();
    const lease = t.grant({ key: 'k' });
    const other = t.grant({ key: 'other' });
    expect(t.table.release('k', other.token, t.clock.now())).toBe(false);
    expect(t.table.release('k', 'zz'.repeat(16), t.clock.now())).toBe(false);
    expect(t.table.release('k', 'short', t.clock.now())).toBe(false);
    expect(() => t.table.renew('k', other.token, 100, t.clock.now())).toThrow(NotHolderError);
    expect(t.table.inspect('k', t.clock.now()).holders[0].fence).toBe(lease.fence);
  });
});

describe('leases', () => {
  test('given a grant with ttl 100, when 99 ms pass it holds, when 100 pass it is freed', () => {
    const t = setup();
    const lease = t.grant({ key: 'k', ttlMs: 100 });
    expect(lease.expiresAtMs).toBe(t.clock.now() + 100);
    expect(t.table.nextDeadline()).toBe(lease.expiresAtMs);
    t.clock.advance(99);
    t.table.expireDue(t.clock.now());
    expect(t.table.leaseCount).toBe(1);
    t.clock.advance(1);
    t.table.expireDue(t.clock.now());
    expect(t.table.leaseCount).toBe(0);
    expect(t.table.nextDeadline()).toBe(Infinity);
  });

  test('given no ttl, then the default applies', () => {
    expect(setup().grant({ key: 'k' }).ttlMs).toBe(LIMITS.defaultTtlMs);
  });

  test.each([0, -1, 9, 60_001])('given ttl %p, then INVALID_ARGUMENT names the range', (ttlMs) => {
    const t = setup();
    expect(() => t.acquire({ key: 'k', ttlMs })).toThrow(/ttlMs must be between 10 and 60000 ms/);
  });

  test('renew extends from now and keeps token and fence; renew after expiry is NOT_HOLDER', () => {
    const t = setup();
    const lease = t.grant({ key: 'k', ttlMs: 100 });
    t.clock.advance(80);
    const renewed = t.table.renew('k', lease.token, 500, t.clock.now());
    expect(renewed).toMatchObject({ token: lease.token, fence: lease.fence, ttlMs: 500, expiresAtMs: t.clock.now() + 500 });
    t.clock.advance(500);
    expect(() => t.table.renew('k', lease.token, 500, t.clock.now())).toThrow(NotHolderError);
    expect(() => t.table.renew('k', lease.token, 0, t.clock.now())).toThrow(InvalidArgumentError);
  });
});

describe('waiting', () => {
  test('given a holder and three waiters, when it releases, then they are granted one by one in arrival order', () => {
    const t = setup();
    const first = t.grant({ key: 'k' });
    const waiters = [t.park({ key: 'k', session: 2 }), t.park({ key: 'k', session: 3 }), t.park({ key: 'k', session: 4 })];
    expect(t.table.inspect('k', t.clock.now()).waiters).toBe(3);
    t.table.release('k', first.token, t.clock.now());
    for (let i = 0; i < 3; i++) {
      expect(t.granted.map((g) => g.waiter.id)).toEqual(waiters.slice(0, i + 1).map((w) => w.id));
      t.table.release('k', t.granted[i].lease.token, t.clock.now());
    }
    expect(t.table.leaseCount).toBe(0);
  });

  test('given a busy key and waitMs 0, then busy', () => {
    const t = setup();
    t.grant({ key: 'k' });
    expect(t.acquire({ key: 'k' }).kind).toBe('busy');
    expect(t.acquire({ key: 'k', waitMs: 0 }).kind).toBe('busy');
  });

  test('given a waiter with waitMs 50, when 50 ms pass, then it times out and is never granted', () => {
    const t = setup();
    const holder = t.grant({ key: 'k', ttlMs: 1_000 });
    const waiter = t.park({ key: 'k', waitMs: 50 });
    expect(t.table.nextDeadline()).toBe(t.clock.now() + 50);
    t.clock.advance(50);
    t.table.expireDue(t.clock.now());
    expect(t.timedOut).toEqual([waiter]);
    t.table.release('k', holder.token, t.clock.now());
    expect(t.granted).toEqual([]);
  });

  test('given a waiter with waitMs -1, then it has no deadline and is granted when the lease expires', () => {
    const t = setup();
    t.grant({ key: 'k', ttlMs: 100 });
    const waiter = t.park({ key: 'k' });
    expect(waiter.deadlineMs).toBe(Infinity);
    t.clock.advance(100);
    t.table.expireDue(t.clock.now());
    expect(t.granted[0].waiter).toBe(waiter);
    expect(t.granted[0].lease.expiresAtMs).toBe(t.clock.now() + LIMITS.defaultTtlMs);
  });

  test('given a lease and a wait due at the same moment, then the waiter still gets the lock', () => {
    const t = setup();
    t.grant({ key: 'k', ttlMs: 50 });
    t.park({ key: 'k', waitMs: 50 });
    t.clock.advance(50);
    t.table.expireDue(t.clock.now());
    expect(t.granted).toHaveLength(1);
    expect(t.timedOut).toHaveLength(0);
  });

  test.each([-2, 30_001])('given waitMs %p, then INVALID_ARGUMENT names the range', (waitMs) => {
    const t = setup();
    expect(() => t.acquire({ key: 'k', waitMs })).toThrow(/waitMs must be -1 \(wait until granted\) or 0\.\.30000 ms/);
  });

  test('given the waiter limit is reached, when one more caller would wait, then RESOURCE_EXHAUSTED and the queue is unchanged', () => {
    const t = setup({ ...LIMITS, maxWaiters: 2 });
    t.grant({ key: 'k' });
    t.grant({ key: 'k2' });
    t.park({ key: 'k' });
    t.park({ key: 'k2' });
    expect(() => t.acquire({ key: 'k', waitMs: -1 })).toThrow(ResourceExhaustedError);
    expect(() => t.acquire({ key: 'k', waitMs: -1 })).toThrow(/2 callers already wait .*--max-waiters/);
    expect(t.acquire({ key: 'k' }).kind).toBe('busy');
    expect(t.table.waiterTotal).toBe(2);
  });

  test('cancelWaiter takes a waiter out and lets compatible ones behind it in', () => {
    const t = setup();
    t.grant({ key: 'k', mode: SHARED });
    const writer = t.park({ key: 'k' });
    const reader = t.park({ key: 'k', mode: SHARED });
    expect(t.table.cancelWaiter(writer, t.clock.now())).toBe(true);
    expect(t.granted.map((g) => g.waiter)).toEqual([reader]);
    expect(t.table.cancelWaiter(writer, t.clock.now())).toBe(false);
  });
});

describe('shared and exclusive', () => {
  test('any number of shared holders; an exclusive request waits for all of them', () => {
    const t = setup();
    const readers = [1, 2, 3].map(() => t.grant({ key: 'k', mode: SHARED }));
    const writer = t.park({ key: 'k' });
    t.table.release('k', readers[0].token, t.clock.now());
    t.table.release('k', readers[1].token, t.clock.now());
    expect(t.granted).toHaveLength(0);
    t.table.release('k', readers[2].token, t.clock.now());
    expect(t.granted.map((g) => g.waiter)).toEqual([writer]);
  });

  test('given shared holders and a queued exclusive waiter, when a shared request arrives, then it queues too (writers never starve)', () => {
    const t = setup();
    const reader = t.grant({ key: 'k', mode: SHARED });
    const writer = t.park({ key: 'k' });
    expect(t.acquire({ key: 'k', mode: SHARED }).kind).toBe('busy');
    const lateReader = t.park({ key: 'k', mode: SHARED });
    t.table.release('k', reader.token, t.clock.now());
    expect(t.granted.map((g) => g.waiter)).toEqual([writer]);
    t.table.release('k', t.granted[0].lease.token, t.clock.now());
    expect(t.granted.map((g) => g.waiter)).toEqual([writer, lateReader]);
  });

  test('when an exclusive holder leaves, all consecutive shared waiters are granted together, up to the next exclusive one', () => {
    const t = setup();
    const holder = t.grant({ key: 'k' });
    const r1 = t.park({ key: 'k', mode: SHARED });
    const r2 = t.park({ key: 'k', mode: SHARED });
    const w = t.park({ key: 'k' });
    t.park({ key: 'k', mode: SHARED });
    t.table.release('k', holder.token, t.clock.now());
    expect(t.granted.map((g) => g.waiter)).toEqual([r1, r2]);
    expect(t.table.inspect('k', t.clock.now())).toMatchObject({ waiters: 2 });
    expect(w.mode).toBe(EXCLUSIVE);
  });

  test('given an exclusive waiter at the head timing out, then shared waiters behind it join the shared holders', () => {
    const t = setup();
    t.grant({ key: 'k', mode: SHARED });
    t.park({ key: 'k', waitMs: 20 });
    const reader = t.park({ key: 'k', mode: SHARED });
    t.clock.advance(20);
    t.table.expireDue(t.clock.now());
    expect(t.granted.map((g) => g.waiter)).toEqual([reader]);
    expect(t.table.inspect('k', t.clock.now()).holders).toHaveLength(2);
  });
});

describe('reentrancy', () => {
  test('acquiring again with the token re-enters: holdCount up, same fence and token; each release undoes one', () => {
    const t = setup();
    const lease = t.grant({ key: 'k', ttlMs: 100 });
    t.clock.advance(50);
    const again = t.acquire({ key: 'k', token: lease.token, ttlMs: 100 });
    expect(again).toMatchObject({ kind: 'granted', reentered: true, lease: { token: lease.token, fence: lease.fence, holdCount: 2, expiresAtMs: t.clock.now() + 100 } });
    expect(t.table.release('k', lease.token, t.clock.now())).toBe(true);
    expect(t.table.inspect('k', t.clock.now()).holders[0].holdCount).toBe(1);
    expect(t.table.release('k', lease.token, t.clock.now())).toBe(true);
    expect(t.table.leaseCount).toBe(0);
    expect(t.table.release('k', lease.token, t.clock.now())).toBe(false);
  });

  test('re-entering in the other mode is INVALID_ARGUMENT; with a stale token NOT_HOLDER', () => {
    const t = setup();
    const lease = t.grant({ key: 'k' });
    expect(() => t.acquire({ key: 'k', token: lease.token, mode: SHARED })).toThrow(/is EXCLUSIVE; re-entering it as SHARED is not allowed/);
    t.table.release('k', lease.token, t.clock.now());
    expect(() => t.acquire({ key: 'k', token: lease.token })).toThrow(NotHolderError);
  });

  test('re-entering does not pull the expiry earlier', () => {
    const t = setup();
    const lease = t.grant({ key: 'k', ttlMs: 10_000 });
    const again = t.acquire({ key: 'k', token: lease.token, ttlMs: 100 });
    expect(again.kind === 'granted' && again.lease.expiresAtMs).toBe(lease.expiresAtMs);
  });
});

describe('fencing', () => {
  test('fences strictly increase across keys and grants, starting at 1', () => {
    const t = setup();
    const fences = [t.grant({ key: 'a' }), t.grant({ key: 'b' }), t.grant({ key: 'c', mode: SHARED }), t.grant({ key: 'c', mode: SHARED })].map((l) => l.fence);
    expect(fences).toEqual([1, 2, 3, 4]);
  });

  test('checkFence is true only for a live lease on that key carrying that fence', () => {
    const t = setup();
    const a = t.grant({ key: 'a', ttlMs: 100 });
    expect(t.table.checkFence('a', a.fence, t.clock.now())).toBe(true);
    expect(t.table.checkFence('b', a.fence, t.clock.now())).toBe(false);
    expect(t.table.checkFence('a', a.fence + 1, t.clock.now())).toBe(false);
    t.clock.advance(100);
    expect(t.table.checkFence('a', a.fence, t.clock.now())).toBe(false);
  });
});

describe('sessions', () => {
  test('closing a session frees its ephemeral leases whatever their TTL and grants the next waiter; its waiters leave', () => {
    const t = setup();
    t.grant({ key: 'eph', ephemeral: true, session: 7, ttlMs: 60_000 });
    const durable = t.grant({ key: 'durable', session: 7 });
    t.grant({ key: 'other' });
    t.park({ key: 'other', session: 7 });
    const next = t.park({ key: 'eph', session: 8 });
    expect(t.table.closeSession(7, t.clock.now())).toEqual({ leases: 1, waiters: 1 });
    expect(t.granted.map((g) => g.waiter)).toEqual([next]);
    expect(t.table.inspect('durable', t.clock.now()).holders[0].fence).toBe(durable.fence);
    expect(t.table.inspect('other', t.clock.now()).waiters).toBe(0);
  });

  test('drainWaiters empties every queue', () => {
    const t = setup();
    t.grant({ key: 'a' });
    t.park({ key: 'a' });
    t.park({ key: 'a', waitMs: 100 });
    expect(t.table.drainWaiters()).toHaveLength(2);
    expect(t.table.waiterTotal).toBe(0);
    expect(t.table.nextDeadline()).toBe(t.clock.now() + LIMITS.defaultTtlMs);
  });
});

describe('durable changes', () => {
  test('the change stream reserves fences first, reports only non-ephemeral leases, and replays to the live set', () => {
    const t = setup();
    const a = t.grant({ key: 'a' });
    t.grant({ key: 'e', ephemeral: true });
    t.acquire({ key: 'a', token: a.token });
    const b = t.grant({ key: 'b', ttlMs: 50 });
    t.grant({ key: 'c' });
    t.table.release('a', a.token, t.clock.now());
    t.clock.advance(50);
    t.table.expireDue(t.clock.now());
    expect(t.changes[0]).toEqual({ kind: 'fence-reserve', ceiling: FENCE_BLOCK });
    expect(t.changes.some((c) => c.kind === 'grant' && c.lease.key === 'e')).toBe(false);
    expect(t.changes).toContainEqual({ kind: 'free', key: 'b', token: b.token, reason: 'expired' });
    const live = new Map<string, LeaseView>();
    const replay = (c: TableChange) => {
      if (c.kind === 'grant') live.set(c.lease.token, c.lease);
      if (c.kind === 'update') live.set(c.token, { ...live.get(c.token)!, holdCount: c.holdCount, expiresAtMs: c.expiresAtMs, ttlMs: c.ttlMs });
      if (c.kind === 'free') live.delete(c.token);
    };
    t.changes.forEach(replay);
    expect([...live.values()].map((l) => l.key).sort()).toEqual([...t.table.durableLeases()].map((l) => l.key).sort());
    expect([...live.values()].map((l) => l.key)).toEqual(['a', 'c']);
  });

  test('restore drops expired leases, keeps live ones, and continues fences a block above everything restored', () => {
    const t = setup();
    const now = t.clock.now();
    const live: LeaseView = { key: 'k', token: 'ab'.repeat(16), fence: 500, ttlMs: 1_000, expiresAtMs: now + 1_000, mode: EXCLUSIVE, holdCount: 2, owner: 'o' };
    const dead: LeaseView = { ...live, key: 'old', token: 'cd'.repeat(16), fence: 900, expiresAtMs: now - 1 };
    expect(t.table.restore([live, dead], 700, now)).toBe(1);
    expect(t.table.inspect('k', now).holders).toEqual([{ owner: 'o', mode: EXCLUSIVE, fence: 500, expiresAtMs: now + 1_000, holdCount: 2 }]);
    expect(t.table.release('k', live.token, now)).toBe(true);
    expect(t.grant({ key: 'next' }).fence).toBe(900 + FENCE_BLOCK + 1);
  });
});

describe('inspect and list', () => {
  test('inspect shows holders without tokens; a free key is empty', () => {
    const t = setup();
    const lease = t.grant({ key: 'k', owner: 'me' });
    t.park({ key: 'k' });
    const info = t.table.inspect('k', t.clock.now());
    expect(info).toEqual({ key: 'k', holders: [{ owner: 'me', mode: EXCLUSIVE, fence: lease.fence, expiresAtMs: lease.expiresAtMs, holdCount: 1 }], waiters: 1 });
    expect(JSON.stringify(info)).not.toContain(lease.token);
    expect(t.table.inspect('free', t.clock.now())).toEqual({ key: 'free', holders: [], waiters: 0 });
  });

  test('list filters by prefix, sorts, applies the default for limit <= 0 and refuses limits above the maximum', () => {
    const t = setup();
    for (const key of ['p/d', 'p/b', 'q', 'p/a', 'p/c', 'p/e']) t.grant({ key });
    expect(t.table.list('p/', 0, t.clock.now()).map((i) => i.key)).toEqual(['p/a', 'p/b', 'p/c']);
    expect(t.table.list('p/', 10, t.clock.now()).map((i) => i.key)).toEqual(['p/a', 'p/b', 'p/c', 'p/d', 'p/e']);
    expect(() => t.table.list('', 11, t.clock.now())).toThrow(/limit must be at most 10, got 11/);
  });
});

test('a seeded random walk keeps every invariant', () => {
  let seed = 42;
  const random = () => ((seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31) / 2 ** 31);
  const t = setup();
  const held = new Map<string, LeaseView>();
  let lastFence = 0;
  const keys = ['a', 'b', 'c'];
  for (let step = 0; step < 5_000; step++) {
    const key = keys[Math.floor(random() * keys.length)];
    const roll = random();
    const now = t.clock.now();
    if (roll < 0.4) {
      const outcome = t.acquire({ key, mode: random() < 0.5 ? SHARED : EXCLUSIVE, waitMs: random() < 0.3 ? 20 : 0, ttlMs: 10 + Math.floor(random() * 100), session: 1 + Math.floor(random() * 3), ephemeral: random() < 0.3 });
      if (outcome.kind === 'granted') held.set(outcome.lease.token, outcome.lease);
    } else if (roll < 0.7 && held.size > 0) {
      const lease = [...held.values()][Math.floor(random() * held.size)];
      t.table.release(lease.key, lease.token, now);
    } else if (roll < 0.8 && held.size > 0) {
      const lease = [...held.values()][Math.floor(random() * held.size)];
      try {
        t.table.renew(lease.key, lease.token, 50, now);
      } catch (error) {
        expect(error).toBeInstanceOf(NotHolderError);
      }
    } else if (roll < 0.85) {
      t.table.closeSession(1 + Math.floor(random() * 3), now);
    } else {
      t.clock.advance(Math.floor(random() * 30));
      t.table.expireDue(t.clock.now());
    }
    for (const { lease } of t.granted.splice(0)) held.set(lease.token, lease);
    let total = 0;
    for (const k of keys) {
      const { holders } = t.table.inspect(k, t.clock.now());
      const exclusive = holders.filter((h) => h.mode === EXCLUSIVE).length;
      expect(exclusive === 0 || (exclusive === 1 && holders.length === 1)).toBe(true);
      total += holders.length;
    }
    expect(t.table.leaseCount).toBe(total);
    expect(t.table.currentFence).toBeGreaterThanOrEqual(lastFence);
    lastFence = t.table.currentFence;
  }
});
