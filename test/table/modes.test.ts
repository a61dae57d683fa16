/** Modes: any number of SHARED holders or one EXCLUSIVE holder, without starving writers. */
import { LockMode } from '../../src/table/types';
import { setup } from './fixtures';

const { EXCLUSIVE, SHARED } = LockMode;

describe('compatibility', () => {
  test('given no mode, then the grant is EXCLUSIVE', () => {
    expect(setup().grant({ key: 'k' }).mode).toBe(EXCLUSIVE);
  });

  test('given 50 shared requests, then all are granted and inspect shows 50 shared holders', () => {
    const t = setup();
    for (let i = 0; i < 50; i++) t.grant({ key: 'k', mode: SHARED, session: i + 1 });
    const { holders } = t.inspect('k');
    expect(holders).toHaveLength(50);
    expect(holders.every((h) => h.mode === SHARED)).toBe(true);
  });

  test('given an exclusive holder, then shared and exclusive requests are both busy', () => {
    const t = setup();
    t.grant({ key: 'k' });
    expect(t.acquire({ key: 'k', mode: SHARED }).kind).toBe('busy');
    expect(t.acquire({ key: 'k', mode: EXCLUSIVE }).kind).toBe('busy');
  });

  test('given shared holders, then an exclusive request is busy', () => {
    const t = setup();
    t.grant({ key: 'k', mode: SHARED });
    t.grant({ key: 'k', mode: SHARED });
    expect(t.acquire({ key: 'k' }).kind).toBe('busy');
  });

  test('given mode 3, then INVALID_ARGUMENT names the two modes', () => {
    expect(() => setup().acquire({ key: 'k', mode: 3 as LockMode })).toThrow(/mode must be EXCLUSIVE \(1\) or SHARED \(2\), got 3/);
  });
});

describe('exclusive waits for every shared holder', () => {
  test('given three shared holders and an exclusive waiter, when two release it still waits, when the last releases it is granted', () => {
    const t = setup();
    const readers = [1, 2, 3].map(() => t.grant({ key: 'k', mode: SHARED }));
    const writer = t.park({ key: 'k', session: 9 });
    t.release('k', readers[0].token);
    t.release('k', readers[2].token);
    expect(t.granted).toEqual([]);
    t.release('k', readers[1].token);
    expect(t.grantedWaiters()).toEqual([writer]);
    expect(t.inspect('k').holders).toEqual([expect.objectContaining({ mode: EXCLUSIVE })]);
  });

  test('given shared holders expiring at different times and an exclusive waiter, then it is granted only when the last one expires', () => {
    const t = setup();
    t.grant({ key: 'k', mode: SHARED, ttlMs: 100 });
    t.grant({ key: 'k', mode: SHARED, ttlMs: 200 });
    const writer = t.park({ key: 'k' });
    t.tick(100);
    expect(t.granted).toEqual([]);
    t.tick(100);
    expect(t.grantedWaiters()).toEqual([writer]);
  });
});

describe('writers never starve', () => {
  test('given shared holders and a queued exclusive waiter, when a shared request arrives, then it queues behind the writer (or is busy without wait)', () => {
    const t = setup();
    const reader = t.grant({ key: 'k', mode: SHARED });
    const writer = t.park({ key: 'k', session: 2 });
    expect(t.acquire({ key: 'k', mode: SHARED, session: 3 }).kind).toBe('busy');
    const lateReader = t.park({ key: 'k', mode: SHARED, session: 3 });
    expect(t.inspect('k')).toMatchObject({ holders: [{ fence: reader.fence }], waiters: 2 });
    t.release('k', reader.token);
    expect(t.grantedWaiters()).toEqual([writer]);
    t.release('k', t.granted[0].lease.token);
    expect(t.grantedWaiters()).toEqual([writer, lateReader]);
  });

  test('given a steady stream of readers behind a queued writer, then the writer is granted once the readers ahead of it leave', () => {
    const t = setup();
    const first = t.grant({ key: 'k', mode: SHARED });
    const writer = t.park({ key: 'k', session: 2 });
    for (let i = 0; i < 10; i++) t.park({ key: 'k', mode: SHARED, session: 10 + i });
    t.release('k', first.token);
    expect(t.grantedWaiters()).toEqual([writer]);
  });
});

describe('shared waiters are granted together', () => {
  test('given an exclusive holder and a queue S, S, X, S, when it releases, then the two leading shared waiters are granted together and X waits', () => {
    const t = setup();
    const holder = t.grant({ key: 'k' });
    const r1 = t.park({ key: 'k', mode: SHARED, session: 2 });
    const r2 = t.park({ key: 'k', mode: SHARED, session: 3 });
    const w = t.park({ key: 'k', session: 4 });
    const r3 = t.park({ key: 'k', mode: SHARED, session: 5 });
    t.release('k', holder.token);
    expect(t.grantedWaiters()).toEqual([r1, r2]);
    expect(t.inspect('k')).toMatchObject({ waiters: 2 });
    expect(t.inspect('k').holders.map((h) => h.mode)).toEqual([SHARED, SHARED]);
    expect(t.granted[1].lease.fence).toBeGreaterThan(t.granted[0].lease.fence);
    t.release('k', t.granted[0].lease.token);
    expect(t.grantedWaiters()).toEqual([r1, r2]);
    t.release('k', t.granted[1].lease.token);
    expect(t.grantedWaiters()).toEqual([r1, r2, w]);
    t.release('k', t.granted[2].lease.token);
    expect(t.grantedWaiters()).toEqual([r1, r2, w, r3]);
  });
});

describe('a timed-out exclusive waiter at the head', () => {
  test('given shared holders, when the exclusive head times out, then the shared waiters behind it join the holders', () => {
    const t = setup();
    const reader = t.grant({ key: 'k', mode: SHARED });
    const writer = t.park({ key: 'k', waitMs: 20, session: 2 });
    const r1 = t.park({ key: 'k', mode: SHARED, session: 3 });
    const r2 = t.park({ key: 'k', mode: SHARED, session: 4 });
    const w2 = t.park({ key: 'k', session: 5 });
    t.tick(20);
    expect(t.timedOut).toEqual([writer]);
    expect(t.grantedWaiters()).toEqual([r1, r2]);
    expect(t.inspect('k').holders.map((h) => h.fence)).toEqual([reader.fence, t.granted[0].lease.fence, t.granted[1].lease.fence]);
    expect(t.inspect('k').waiters).toBe(1);
    expect(w2.mode).toBe(EXCLUSIVE);
  });

  test('given an exclusive holder, when the exclusive head times out, then the shared waiters behind it keep waiting', () => {
    const t = setup();
    t.grant({ key: 'k', ttlMs: 60_000 });
    t.park({ key: 'k', waitMs: 20, session: 2 });
    t.park({ key: 'k', mode: SHARED, session: 3 });
    t.tick(20);
    expect(t.timedOut).toHaveLength(1);
    expect(t.granted).toEqual([]);
    expect(t.inspect('k').waiters).toBe(1);
  });
});
