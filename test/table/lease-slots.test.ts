/** LeaseSlots: fixed-capacity slot storage, slot reuse and owner-label reuse. */
import { LeaseSlots } from '../../src/table/lease-slots';
import { LockMode } from '../../src/table/types';
import { prng } from './fixtures';

function fill(slots: LeaseSlots, count: number, owner: (i: number) => string | undefined): number[] {
  return Array.from({ length: count }, (_, i) => {
    const slot = slots.allocate(`key-${i}`, owner(i), undefined, i + 1, 1_000 + i, 500, LockMode.EXCLUSIVE, 0);
    slots.drawToken(slot);
    return slot;
  });
}

test('every slot up to the capacity keeps its key, owner and fields; one more is refused', () => {
  const slots = new LeaseSlots(1_000);
  const allocated = fill(slots, 1_000, (i) => (i % 3 === 0 ? undefined : `owner-${i % 7}`));
  expect(new Set(allocated).size).toBe(1_000);
  expect(slots.count).toBe(1_000);
  expect(slots.usedSlotBound).toBe(1_000);
  expect(() => fill(slots, 1, () => undefined)).toThrow('all 1000 lease slots are in use');
  allocated.forEach((slot, i) => {
    expect(slots.stored(slot)).toMatchObject({ key: `key-${i}`, fence: i + 1, expiresAtMs: 1_000 + i, ttlMs: 500, holdCount: 1, owner: i % 3 === 0 ? undefined : `owner-${i % 7}` });
  });
});

test('released slots are reused, and a reused slot carries nothing of its last lease', () => {
  const slots = new LeaseSlots(16);
  const first = fill(slots, 10, () => 'first');
  const digest = slots.digestOf(first[4]);
  slots.release(first[4]);
  slots.release(first[7]);
  expect(slots.count).toBe(8);
  const again = [slots.allocate('new-a', undefined, undefined, 100, 0, 1, LockMode.SHARED, 9), slots.allocate('new-b', 'second', undefined, 101, 0, 1, LockMode.EXCLUSIVE, 0)];
  expect(new Set(again)).toEqual(new Set([first[4], first[7]]));
  const a = slots.stored(again[0]);
  expect(a).toMatchObject({ key: 'new-a', owner: undefined, mode: LockMode.SHARED, holdCount: 1 });
  // A released slot's digest is wiped; a reused one holds none until a token is drawn for it.
  expect(a.digest).toBe('0'.repeat(32));
  expect(a.digest).not.toBe(digest);
  expect(slots.session[again[0]]).toBe(9);
  expect(slots.stored(again[1])).toMatchObject({ key: 'new-b', owner: 'second' });
  // The slots never released are untouched.
  expect(slots.stored(first[5])).toMatchObject({ key: 'key-5', owner: 'first' });
  // Reuse comes first: no slot above the ten ever used was touched.
  expect(slots.usedSlotBound).toBe(10);
});

test('an owner label no lease uses any more is forgotten, and its id serves another label', () => {
  const slots = new LeaseSlots(16);
  const [alice] = fill(slots, 1, () => 'alice');
  const [bob] = fill(slots, 1, () => 'bob');
  slots.release(alice);
  const carol = slots.allocate('c', 'carol', undefined, 3, 0, 1, LockMode.EXCLUSIVE, 0);
  const alice2 = slots.allocate('a2', 'alice', undefined, 4, 0, 1, LockMode.EXCLUSIVE, 0);
  expect([slots.ownerOf(bob), slots.ownerOf(carol), slots.ownerOf(alice2)]).toEqual(['bob', 'carol', 'alice']);
});

describe('sortByKey', () => {
  const bytesOrder = (a: string, b: string) => Buffer.compare(Buffer.from(a), Buffer.from(b));

  test('given groups of keys behind different long shared stretches, then they come out in byte order', () => {
    const random = prng(4);
    const keys = new Set<string>();
    for (const group of ['x/', 'y/', 'x/' + 'q'.repeat(300)]) {
      const stretch = group + 'm'.repeat(200 + random.int(50));
      for (let i = 0; i < 200; i++) keys.add(stretch + String(random.int(1_000_000)));
      keys.add(stretch);
    }
    const sorted = [...keys].sort(bytesOrder);
    const slots = new LeaseSlots(keys.size);
    const order = Int32Array.from([...sorted].reverse().map((key) => slots.allocate(key, undefined, undefined, 1, 0, 1, 1, 0)));
    slots.sortByKey(order);
    expect(Array.from(order, (slot) => slots.keyOf(slot))).toEqual(sorted);
  });

  test.each([
    ['short random keys over a small alphabet (many ties, keys that are prefixes of others)', 1, ['a', 'b', '\u0000', 'é', '😀'], 0, 3_000],
    ['keys behind a long shared prefix, as generated names are', 2, ['0', '1', '2', '9'], 40, 3_000],
    ['a few keys (the comparison path only)', 3, ['x', 'y'], 2, 20],
  ])('given %s, then they come out in UTF-8 byte order', (_name, seed, alphabet, prefixLength, count) => {
    const random = prng(seed);
    const prefix = 'p'.repeat(prefixLength as number);
    const keys = new Set<string>();
    while (keys.size < (count as number)) keys.add(prefix + Array.from({ length: random.int(8) }, () => random.pick(alphabet as string[])).join(''));
    const sorted = [...keys].sort(bytesOrder);
    // Random order, and the reverse of the answer (where ties kept in arrival order come out wrong).
    for (const arrival of [[...keys], [...sorted].reverse()]) {
      const slots = new LeaseSlots(keys.size + 10);
      const order = Int32Array.from(arrival.map((key) => slots.allocate(key, undefined, undefined, 1, 0, 1, 1, 0)));
      slots.sortByKey(order);
      expect(Array.from(order, (slot) => slots.keyOf(slot))).toEqual(sorted);
    }
  });
});
