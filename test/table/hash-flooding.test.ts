/** The key index's hash is keyed: keys chosen to collide under an unkeyed hash spread out. */
import { fnv1a, fnvCollidingKeys } from '../../scripts/bench/table-flood-keys';
import { halfSipHash, randomHashKey } from '../../src/table/keyed-hash';
import { KeyIndex } from '../../src/table/key-index';
import { LeaseSlots } from '../../src/table/lease-slots';
import { LIMITS, setup } from './fixtures';

const FIXED_KEY = { k0: 0x243f6a88, k1: -0x7a5cf72d };

test('HalfSipHash-2-4 gives the reference vectors (key 00..07, message 00..n-1), so the 1-3 variant runs the real rounds', () => {
  const expected = [
    0x5b9f35a9, 0xb85a4727, 0x03a662fa, 0x04e7fe8a, 0x89466e2a, 0x69b6fac5, 0x23fc6358, 0xc563cf8b,
    0x8f84b8d0, 0x79e706f8, 0x3479b094, 0x50300808, 0x2f87f057, 0xff63e677, 0x7cf8ffd6, 0x972bfe74,
  ];
  const message = Uint8Array.from({ length: 16 }, (_, i) => i);
  const key = { k0: 0x03020100, k1: 0x07060504 };
  expect(expected.map((_, n) => halfSipHash(message, 0, n, key, 2, 4) >>> 0)).toEqual(expected);
  // The table's variant differs from 2-4, hashes only [start, end), and depends on the key.
  const padded = Uint8Array.from([9, ...message.subarray(0, 5), 9]);
  expect(halfSipHash(padded, 1, 6, key)).toBe(halfSipHash(message, 0, 5, key));
  expect(halfSipHash(message, 0, 5, key)).not.toBe(halfSipHash(message, 0, 5, key, 2, 4));
  expect(halfSipHash(message, 0, 5, key)).not.toBe(halfSipHash(message, 0, 5, { k0: key.k0, k1: key.k1 ^ 1 }));
});

test('every table draws its own hash key', () => {
  const keys = Array.from({ length: 4 }, () => randomHashKey());
  expect(new Set(keys.map((k) => `${k.k0}:${k.k1}`)).size).toBe(4);
});

test('given 20,000 keys that share one FNV-1a bucket chain, then with the keyed hash no lookup probes more than a few dozen buckets', () => {
  const keys = fnvCollidingKeys(20_000);
  // The keys really are a flood for an FNV-1a table: every one starts at the same bucket of a 2^16 table.
  expect(new Set(keys.map((key) => fnv1a(key) & 0xffff)).size).toBe(1);
  const t = setup({ ...LIMITS, maxLeases: 20_000 }, { hashKey: FIXED_KEY });
  for (const key of keys) t.grant({ key });
  expect(t.table.leaseCount).toBe(20_000);
  // With FNV-1a and linear probing the longest probe would be ~20,000 buckets.
  expect(t.table.indexCosts.longestProbe).toBeLessThan(64);
  for (const key of keys.slice(0, 100)) expect(t.inspect(key).holders).toHaveLength(1);
});

test('given the same flood at the KeyIndex, then lookups, removals and re-inserts stay correct with short probes', () => {
  const keys = fnvCollidingKeys(5_000);
  const slots = new LeaseSlots(5_000, FIXED_KEY);
  const index = new KeyIndex(slots);
  const slotOf = keys.map((key, i) => {
    const slot = slots.allocate(key, undefined, undefined, i + 1, 0, 1, 1, 0);
    index.insert(slot);
    return slot;
  });
  for (let i = 0; i < keys.length; i += 2) {
    expect(index.remove(slotOf[i])).toBe(true);
    slots.release(slotOf[i]);
  }
  keys.forEach((key, i) => expect(index.find(key)).toBe(i % 2 === 0 ? -1 : slotOf[i]));
  expect(index.longestProbe()).toBeLessThan(64);
});
