/** scan and list by prefix: byte order, continuation, laziness, and a cost that follows the answer, not the table. */
import { KeyOrder } from '../../src/table/key-order';
import { LeaseSlots } from '../../src/table/lease-slots';
import { LockMode } from '../../src/table/types';
import { LIMITS, prng, setup } from './fixtures';

const FIXED_KEY = { k0: 0x13198a2e, k1: 0x03707344 };
const bytesOrder = (a: string, b: string) => Buffer.compare(Buffer.from(a), Buffer.from(b));

describe('scan', () => {
  test('given keys mixing ASCII, accents and characters beyond the BMP, then scan lists them in UTF-8 byte order', () => {
    const t = setup();
    // UTF-16 order puts the emoji (a surrogate pair, 0xD83D...) before U+FFFD; byte order puts it after.
    const keys = ['k/\uFFFD', 'k/😀', 'k/é', 'k/z', 'k/', 'k', 'l/a'];
    for (const key of keys) t.grant({ key });
    expect([...t.table.scan('k/', undefined, t.now())].map((info) => info.key)).toEqual(['k/', 'k/z', 'k/é', 'k/\uFFFD', 'k/😀']);
    expect(t.table.list('k', 10, t.now()).map((info) => info.key)).toEqual(['k', 'k/', 'k/z', 'k/é', 'k/\uFFFD', 'k/😀']);
  });

  test('given random keys, then every (prefix, startAfter) scan matches a sorted model, and pages joined by their last key give the full listing', () => {
    const t = setup({ ...LIMITS, maxLeases: 3_000 }, { hashKey: FIXED_KEY });
    const random = prng(11);
    const alphabet = ['a', 'b', 'é', '😀', '/', 'z'];
    const held = new Set<string>();
    for (let i = 0; i < 2_000; i++) {
      const key = Array.from({ length: 1 + random.int(5) }, () => random.pick(alphabet)).join('');
      if (held.has(key)) continue;
      t.grant({ key });
      held.add(key);
    }
    const model = [...held].sort(bytesOrder);
    for (const prefix of ['', 'a', 'é', '😀/', 'zz', 'b😀a', 'q']) {
      for (const startAfter of [undefined, '', 'a', 'b', 'éa', '😀', model[random.int(model.length)]]) {
        const expected = model.filter((key) => key.startsWith(prefix) && (startAfter === undefined || bytesOrder(key, startAfter) > 0));
        expect([...t.table.scan(prefix, startAfter, t.now())].map((info) => info.key)).toEqual(expected);
      }
      // Paging: 7 keys at a time, continuing after the last key of the page before.
      const paged: string[] = [];
      let after: string | undefined;
      for (let page = 0; page < 1_000; page++) {
        const keys: string[] = [];
        for (const info of t.table.scan(prefix, after, t.now())) {
          keys.push(info.key);
          if (keys.length === 7) break;
        }
        paged.push(...keys);
        if (keys.length < 7) break;
        after = keys[keys.length - 1];
      }
      expect(paged).toEqual(model.filter((key) => key.startsWith(prefix)));
    }
  });

  test('given 50,000 held keys, then scanning a prefix that matches 10 of them touches a few dozen tree nodes, not the table', () => {
    const t = setup({ ...LIMITS, maxLeases: 50_000 }, { hashKey: FIXED_KEY });
    for (let i = 0; i < 50_000; i++) t.grant({ key: `job-${String(i).padStart(5, '0')}` });
    const before = t.table.indexCosts.orderNodesVisited;
    const found = [...t.table.scan('job-4200', undefined, t.now())];
    expect(found.map((info) => info.key)).toEqual(Array.from({ length: 10 }, (_, i) => `job-4200${i}`));
    const visited = t.table.indexCosts.orderNodesVisited - before;
    expect(visited).toBeGreaterThan(0);
    // A balanced tree of 50,000 keys is ~16 levels; the treap's depth stays within a small multiple.
    expect(visited).toBeLessThan(150);
  });

  test('given a key with SHARED holders and one with waiters, then scan lists each key once with all its holders and its waiter count', () => {
    const t = setup();
    const shared = [1, 2, 3].map((i) => t.grant({ key: 'k/shared', mode: LockMode.SHARED, owner: `r${i}` }));
    t.grant({ key: 'k/busy', owner: 'w' });
    t.park({ key: 'k/busy', session: 2 });
    t.park({ key: 'k/busy', session: 3 });
    // The first SHARED holder leaves: the key stays listed under the others.
    t.release('k/shared', shared[0].token);
    const infos = [...t.table.scan('k/', undefined, t.now())];
    expect(infos.map((info) => [info.key, info.holders.map((h) => h.owner), info.waiters])).toEqual([
      ['k/busy', ['w'], 2],
      ['k/shared', ['r2', 'r3'], 0],
    ]);
  });

  test('given the table changes between steps of a scan, then the scan continues after the last key it gave, without repeats', () => {
    const t = setup();
    const leases = new Map(['a', 'b', 'c', 'd', 'e', 'f'].map((key) => [key, t.grant({ key })]));
    const seen: string[] = [];
    for (const info of t.table.scan('', undefined, t.now())) {
      seen.push(info.key);
      if (info.key === 'b') {
        t.release('c', (leases.get('c') as { token: string }).token);
        t.release('a', (leases.get('a') as { token: string }).token);
        t.grant({ key: 'bb' });
        t.grant({ key: 'a0' });
      }
    }
    expect(seen).toEqual(['a', 'b', 'bb', 'd', 'e', 'f']);
  });

  test('given a prefix or startAfter longer than any key can be, then scan says so', () => {
    const t = setup();
    expect(() => t.table.scan('x'.repeat(1_025), undefined, t.now())).toThrow('prefix must be at most 1024 bytes of UTF-8, got 1025 bytes');
    expect(() => t.table.scan('', 'é'.repeat(513), t.now())).toThrow('startAfter must be at most 1024 bytes of UTF-8, got 1026 bytes');
  });
});

describe('KeyOrder', () => {
  test('given random inserts and removals, then an in-order walk matches the sorted model and the tree stays shallow', () => {
    const slots = new LeaseSlots(20_000, FIXED_KEY);
    const order = new KeyOrder(slots, 12345);
    const random = prng(5);
    const live = new Map<string, number>();
    for (let step = 0; step < 60_000; step++) {
      const key = `k${random.int(20_000)}`;
      const slot = live.get(key);
      if (slot === undefined) {
        const fresh = slots.allocate(key, undefined, undefined, step, 0, 1, 1, 0);
        order.insert(fresh);
        live.set(key, fresh);
      } else {
        order.remove(slot);
        slots.release(slot);
        live.delete(key);
      }
    }
    expect(order.size).toBe(live.size);
    expect([...order.keysFrom('', undefined)]).toEqual([...live.keys()].sort(bytesOrder));
    // Finding the last key walks one root-to-leaf path: its length is the depth there.
    const before = order.nodesVisited;
    expect([...order.keysFrom('k9999', 'k9999')]).toEqual([]);
    expect(order.nodesVisited - before).toBeLessThan(4 * Math.log2(live.size));
  });

  test('given keys inserted in ascending order (the append fast path) and the same keys in shuffled order, then both trees have the same shape', () => {
    // A treap's shape follows from its keys and their slots' priorities alone, whatever the order
    // of inserts: the fast path must build exactly the tree plain inserts build.
    const n = 5_000;
    const build = (order: number[]) => {
      const slots = new LeaseSlots(n, FIXED_KEY);
      for (let i = 0; i < n; i++) slots.allocate(`a${String(i).padStart(5, '0')}`, undefined, undefined, i, 0, 1, 1, 0);
      const tree = new KeyOrder(slots, 4242);
      for (const slot of order) tree.insert(slot);
      return { slots, tree };
    };
    const ascending = build([...Array(n).keys()]);
    const random = prng(9);
    const shuffled = [...Array(n).keys()];
    for (let i = n - 1; i > 0; i--) {
      const j = random.int(i + 1);
      [shuffled[i], shuffled[j]] = [shuffled[j], shuffled[i]];
    }
    const plain = build(shuffled);
    expect([...ascending.tree.keysFrom('', undefined)]).toEqual([...plain.tree.keysFrom('', undefined)]);
    expect(Array.from(ascending.slots.orderLeft)).toEqual(Array.from(plain.slots.orderLeft));
    expect(Array.from(ascending.slots.orderRight)).toEqual(Array.from(plain.slots.orderRight));
  });

  test('given ascending inserts, then one out of order and a removal, then later ascending inserts still give a sorted walk', () => {
    const slots = new LeaseSlots(1_000, FIXED_KEY);
    const order = new KeyOrder(slots, 99);
    const keys: string[] = [];
    const add = (key: string) => {
      order.insert(slots.allocate(key, undefined, undefined, 0, 0, 1, 1, 0));
      keys.push(key);
    };
    for (let i = 0; i < 300; i++) add(`b${String(i).padStart(4, '0')}`);
    add('a');
    for (let i = 300; i < 600; i++) add(`b${String(i).padStart(4, '0')}`);
    order.remove(5);
    keys.splice(5, 1);
    for (let i = 600; i < 900; i++) add(`b${String(i).padStart(4, '0')}`);
    expect([...order.keysFrom('', undefined)]).toEqual([...keys].sort(bytesOrder));
    expect(order.size).toBe(keys.length);
  });

  test('given keys arriving in sorted order (which would make a plain search tree a list), then the tree stays shallow', () => {
    const slots = new LeaseSlots(10_000, FIXED_KEY);
    const order = new KeyOrder(slots, 777);
    for (let i = 0; i < 10_000; i++) order.insert(slots.allocate(`s${String(i).padStart(5, '0')}`, undefined, undefined, i, 0, 1, 1, 0));
    const before = order.nodesVisited;
    expect([...order.keysFrom('s09999', undefined)]).toEqual(['s09999']);
    expect(order.nodesVisited - before).toBeLessThan(4 * Math.log2(10_000));
  });
});
