/** inspect and list: what others may see of a key (never a token). */
import { InvalidArgumentError } from '../../src/errors';
import { LockMode } from '../../src/table/types';
import { setup, thrown } from './fixtures';

const { EXCLUSIVE, SHARED } = LockMode;

describe('inspect', () => {
  test('given a holder and a waiter, then inspect shows owner, mode, fence, expiry, holdCount and the waiter count, and no token', () => {
    const t = setup();
    const lease = t.grant({ key: 'k', owner: 'me' });
    t.acquire({ key: 'k', token: lease.token });
    const waiter = t.park({ key: 'k', owner: 'next', session: 2 });
    const info = t.inspect('k');
    expect(info).toEqual({ key: 'k', holders: [{ owner: 'me', mode: EXCLUSIVE, fence: lease.fence, expiresAtMs: lease.expiresAtMs, holdCount: 2 }], waiters: 1 });
    expect(JSON.stringify(info)).not.toContain(lease.token);
    expect(JSON.stringify(info)).not.toMatch(/[0-9a-f]{32}/);
    expect(waiter.owner).toBe('next');
  });

  test('given shared holders, then inspect lists each of them without tokens', () => {
    const t = setup();
    const leases = ['r1', 'r2', 'r3'].map((owner) => t.grant({ key: 'k', mode: SHARED, owner }));
    const info = t.inspect('k');
    expect(info.holders.map((h) => [h.owner, h.mode, h.fence])).toEqual(leases.map((l) => [l.owner, SHARED, l.fence]));
    for (const l of leases) expect(JSON.stringify(info)).not.toContain(l.token);
  });

  test('given a key nobody holds (never held, released, or expired), then inspect returns an empty LockInfo', () => {
    const t = setup();
    const released = t.grant({ key: 'released' });
    t.release('released', released.token);
    t.grant({ key: 'expired', ttlMs: 10 });
    t.clock.advance(10);
    for (const key of ['never', 'released', 'expired']) expect(t.inspect(key)).toEqual({ key, holders: [], waiters: 0 });
  });

  test('given waiters joining, timing out and being granted, then the waiter count follows them', () => {
    const t = setup();
    const holder = t.grant({ key: 'k' });
    t.park({ key: 'k', session: 2 });
    t.park({ key: 'k', session: 3, waitMs: 50 });
    t.park({ key: 'k', session: 4 });
    expect(t.inspect('k').waiters).toBe(3);
    t.tick(50);
    expect(t.inspect('k').waiters).toBe(2);
    t.release('k', holder.token);
    expect(t.inspect('k').waiters).toBe(1);
    expect(t.table.waiterTotal).toBe(1);
  });
});

describe('list', () => {
  const keys = ['p/d', 'p/b', 'q', 'p/a', 'p/c', 'p/e', 'pz'];

  test('given keys under several prefixes, then list returns those with the prefix, in key order', () => {
    const t = setup();
    for (const key of keys) t.grant({ key });
    expect(t.table.list('p/', 10, t.now()).map((i) => i.key)).toEqual(['p/a', 'p/b', 'p/c', 'p/d', 'p/e']);
    expect(t.table.list('', 10, t.now()).map((i) => i.key)).toEqual(['p/a', 'p/b', 'p/c', 'p/d', 'p/e', 'pz', 'q']);
    expect(t.table.list('nothing', 10, t.now())).toEqual([]);
  });

  test('given more matches than the limit, then list returns the first ones in key order', () => {
    const t = setup();
    for (const key of keys) t.grant({ key });
    expect(t.table.list('p/', 2, t.now()).map((i) => i.key)).toEqual(['p/a', 'p/b']);
  });

  test.each([0, -1, -100, undefined])('given limit %p, then the default limit (3) applies', (limit) => {
    const t = setup();
    for (const key of keys) t.grant({ key });
    expect(t.table.list('p/', limit, t.now()).map((i) => i.key)).toEqual(['p/a', 'p/b', 'p/c']);
  });

  test('given the maximum limit, then it is accepted; given one more, then INVALID_ARGUMENT gives the range', () => {
    const t = setup();
    for (let i = 0; i < 12; i++) t.grant({ key: `k${String(i).padStart(2, '0')}` });
    expect(t.table.list('', 10, t.now())).toHaveLength(10);
    const error = thrown(() => t.table.list('', 11, t.now()));
    expect(error).toBeInstanceOf(InvalidArgumentError);
    expect(error.message).toMatch(/limit must be at most 10, got 11/);
    expect(error.message).toMatch(/<= 0 means the default 3/);
  });

  test('given keys with one holder, shared holders, waiters and expired leases, then list shows the held ones with their holders and waiters', () => {
    const t = setup();
    t.grant({ key: 'a', owner: 'solo' });
    t.grant({ key: 'b', mode: SHARED });
    t.grant({ key: 'b', mode: SHARED });
    const c = t.grant({ key: 'c' });
    t.park({ key: 'c', session: 2 });
    t.grant({ key: 'd', ttlMs: 10 });
    t.clock.advance(10);
    const infos = t.table.list('', 10, t.now());
    expect(infos.map((i) => [i.key, i.holders.length, i.waiters])).toEqual([
      ['a', 1, 0],
      ['b', 2, 0],
      ['c', 1, 1],
    ]);
    expect(infos[0].holders[0].owner).toBe('solo');
    expect(JSON.stringify(infos)).not.toContain(c.token);
  });

  test('given multi-byte keys, then a multi-byte prefix matches them and list keeps them intact', () => {
    const t = setup();
    for (const key of ['日本/1', '日本/2', '日曜', '\u{1f512}/x']) t.grant({ key });
    t.grant({ key: '日本/3', mode: SHARED });
    t.grant({ key: '日本/3', mode: SHARED });
    expect(t.table.list('日本/', 10, t.now()).map((i) => i.key)).toEqual(['日本/1', '日本/2', '日本/3']);
    expect(t.table.list('\u{1f512}', 10, t.now()).map((i) => i.key)).toEqual(['\u{1f512}/x']);
  });
});
