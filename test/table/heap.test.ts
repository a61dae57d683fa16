/** BinaryHeap: filled at once (a restore's heapify) it orders and tracks positions as pushes do. */
import { BinaryHeap } from '../../src/table/heap';
import { prng } from './fixtures';

interface Item {
  key: number;
  index: number;
}

const heapOf = () => new BinaryHeap<Item>((a, b) => a.key < b.key, (item, index) => (item.index = index));

test.each([0, 1, 2, 3, 1_000, 4_097])('given %i random items (some equal) filled at once, then pops come in order and removals by reported index take the right item', (n) => {
  const random = prng(n + 1);
  const items = Array.from({ length: n }, () => ({ key: random.int(50), index: -2 }));
  const heap = heapOf();
  heap.fill([...items]);
  expect(heap.size).toBe(n);
  for (const item of items) expect(item.index).toBeGreaterThanOrEqual(0);
  // Remove every third item by the position the heap reported for it.
  const removed = new Set(items.filter((_, i) => i % 3 === 0));
  for (const item of removed) {
    heap.removeAt(item.index);
    expect(item.index).toBe(-1);
  }
  const popped: number[] = [];
  for (let item = heap.pop(); item !== undefined; item = heap.pop()) popped.push(item.key);
  expect(popped).toEqual(items.filter((item) => !removed.has(item)).map((item) => item.key).sort((a, b) => a - b));
});

test.each([2, 3, 7, 8, 1_000])('given %i items in descending order (every parent out of order) filled at once, then they pop in ascending order', (n) => {
  const heap = heapOf();
  heap.fill(Array.from({ length: n }, (_, i) => ({ key: n - i, index: -2 })));
  const popped: number[] = [];
  for (let item = heap.pop(); item !== undefined; item = heap.pop()) popped.push(item.key);
  expect(popped).toEqual(Array.from({ length: n }, (_, i) => i + 1));
});

test('given a heap with items, then fill adds the new ones to them', () => {
  const heap = heapOf();
  heap.push({ key: 5, index: -1 });
  heap.push({ key: 1, index: -1 });
  heap.fill([{ key: 3, index: -1 }, { key: 0, index: -1 }]);
  const popped: number[] = [];
  for (let item = heap.pop(); item !== undefined; item = heap.pop()) popped.push(item.key);
  expect(popped).toEqual([0, 1, 3, 5]);
});
