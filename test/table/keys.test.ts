/** Keys: independent of each other, and 1..1024 bytes of UTF-8. */
import { InvalidArgumentError, WireErrorCode } from '../../src/errors';
import { MAX_KEY_BYTES } from '../../src/table/lock-table';
import { LockMode } from '../../src/table/types';
import { setup, thrown } from './fixtures';

describe('keys are independent', () => {
  test('given an exclusive holder of a with waiters queued, when b is acquired, then b is granted at once and a is unchanged', () => {
    const t = setup();
    const a = t.grant({ key: 'a' });
    t.park({ key: 'a', session: 2 });
    const b = t.acquire({ key: 'b', session: 3 });
    expect(b.kind).toBe('granted');
    expect(t.inspect('a')).toMatchObject({ holders: [{ fence: a.fence }], waiters: 1 });
  });

  test('given holders of a and b and a waiter on a, when b is released, then the waiter on a is not granted', () => {
    const t = setup();
    t.grant({ key: 'a' });
    const b = t.grant({ key: 'b' });
    t.park({ key: 'a', session: 2 });
    expect(t.release('b', b.token)).toBe(true);
    expect(t.granted).toEqual([]);
    expect(t.inspect('a').waiters).toBe(1);
  });

  test('given holders of a (short TTL) and b (long TTL), when a expires, then b is still held', () => {
    const t = setup();
    t.grant({ key: 'a', ttlMs: 100 });
    const b = t.grant({ key: 'b', ttlMs: 1_000 });
    t.tick(100);
    expect(t.inspect('a').holders).toEqual([]);
    expect(t.checkFence('b', b.fence)).toBe(true);
  });

  test('given a key held exclusively, when its 1-byte-shorter prefix or a longer extension is acquired, then both are granted (keys match exactly)', () => {
    const t = setup();
    t.grant({ key: 'jobs/1' });
    expect(t.acquire({ key: 'jobs/' }).kind).toBe('granted');
    expect(t.acquire({ key: 'jobs/10' }).kind).toBe('granted');
    expect(t.acquire({ key: 'Jobs/1' }).kind).toBe('granted');
  });

  test('given a key held, when the same text in another Unicode normalization is acquired, then it is a different key (bytes, not text, name a key)', () => {
    const t = setup();
    t.grant({ key: 'caf\u00e9' });
    expect(t.acquire({ key: 'cafe\u0301' }).kind).toBe('granted');
  });
});

describe('key validation', () => {
  const bad: Array<[string, string, number]> = [
    ['the empty key', '', 0],
    ['1025 ASCII bytes', 'x'.repeat(1025), 1025],
    ['1026 bytes of 2-byte characters', '\u00e9'.repeat(513), 1026],
    ['1025 bytes of 3-byte characters plus ASCII', '\u20ac'.repeat(341) + 'ab', 1025],
    ['1026 bytes of 3-byte characters', '\u20ac'.repeat(342), 1026],
    ['1025 bytes of 4-byte characters plus ASCII', '\u{1f512}'.repeat(256) + 'a', 1025],
    ['1028 bytes of 4-byte characters', '\u{1f512}'.repeat(257), 1028],
  ];

  test.each(bad)('given %s, when it is acquired, then INVALID_ARGUMENT names the 1..1024 byte limit and the size', (_name, key, bytes) => {
    expect(Buffer.byteLength(key, 'utf8')).toBe(bytes);
    const t = setup();
    const error = thrown(() => t.acquire({ key }));
    expect(error).toBeInstanceOf(InvalidArgumentError);
    expect((error as InvalidArgumentError).wireCode).toBe(WireErrorCode.INVALID_ARGUMENT);
    expect(error.message).toContain(`1..${MAX_KEY_BYTES} bytes`);
    expect(error.message).toContain(`got ${bytes} bytes`);
  });

  const good: Array<[string, string]> = [
    ['one byte', 'k'],
    ['1024 ASCII bytes', 'x'.repeat(1024)],
    ['1024 bytes of 2-byte characters', '\u00e9'.repeat(512)],
    ['1024 bytes of 3-byte characters plus one ASCII byte', '\u20ac'.repeat(341) + 'a'],
    ['1024 bytes of 4-byte characters', '\u{1f512}'.repeat(256)],
    ['1023 ASCII bytes then a 1-byte character', 'y'.repeat(1023) + '!'],
  ];

  test.each(good)('given %s, when it is acquired, then it is granted and reported under exactly that key', (_name, key) => {
    expect(Buffer.byteLength(key, 'utf8')).toBeLessThanOrEqual(MAX_KEY_BYTES);
    const t = setup();
    const lease = t.grant({ key });
    expect(lease.key).toBe(key);
    expect(t.inspect(key)).toMatchObject({ key, holders: [{ fence: lease.fence }] });
    expect(t.table.list('', 10, t.now()).map((info) => info.key)).toEqual([key]);
    expect(t.release(key, lease.token)).toBe(true);
  });

  test('given a 1024-byte key held, when the same key minus its last character is acquired, then it is a separate key', () => {
    const t = setup();
    const key = '\u{1f512}'.repeat(256);
    t.grant({ key });
    expect(t.acquire({ key: '\u{1f512}'.repeat(255) }).kind).toBe('granted');
    expect(t.acquire({ key }).kind).toBe('busy');
  });

  test('given no key at all, when it is acquired, then INVALID_ARGUMENT says the key is required', () => {
    const t = setup();
    const error = thrown(() => t.acquire({ key: undefined as unknown as string }));
    expect(error).toBeInstanceOf(InvalidArgumentError);
    expect(error.message).toMatch(/lockKey is required/);
  });

  test('given a bad key, when it is released, renewed, fence-checked or inspected, then each is INVALID_ARGUMENT (not a quiet false)', () => {
    const t = setup();
    const long = 'x'.repeat(1025);
    for (const key of ['', long]) {
      expect(() => t.release(key, '00'.repeat(16))).toThrow(InvalidArgumentError);
      expect(() => t.renew(key, '00'.repeat(16), 100)).toThrow(InvalidArgumentError);
      expect(() => t.checkFence(key, 1)).toThrow(InvalidArgumentError);
      expect(() => t.inspect(key)).toThrow(InvalidArgumentError);
    }
  });

  test('given a refused acquire (bad key, ttl, wait or mode), then nothing changed: no lease, no waiter, no fence used, no change recorded', () => {
    const t = setup();
    t.grant({ key: 'held' });
    const fence = t.table.currentFence;
    const changes = t.changes.length;
    expect(() => t.acquire({ key: '' })).toThrow(InvalidArgumentError);
    expect(() => t.acquire({ key: 'k', ttlMs: 0 })).toThrow(InvalidArgumentError);
    expect(() => t.acquire({ key: 'held', waitMs: -2 })).toThrow(InvalidArgumentError);
    expect(() => t.acquire({ key: 'held', waitMs: -1, mode: 3 as LockMode })).toThrow(InvalidArgumentError);
    expect(() => t.acquire({ key: 'k', owner: 'o'.repeat(257) })).toThrow(/owner must be at most 256 bytes/);
    expect(t.table.leaseCount).toBe(1);
    expect(t.table.waiterTotal).toBe(0);
    expect(t.table.currentFence).toBe(fence);
    expect(t.changes).toHaveLength(changes);
  });
});
