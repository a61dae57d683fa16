/**
 * A binary min-heap ordered by `less`. `onMove(item, index)` is told every item's new position
 * (index -1 when it leaves) so callers can remove or re-order an item in O(log n).
 */
export class BinaryHeap<T> {
  private items: T[] = [];

  constructor(
    private readonly less: (a: T, b: T) => boolean,
    private readonly onMove: (item: T, index: number) => void = () => {},
  ) {}

  get size(): number {
    return this.items.length;
  }

  /** The least item, or undefined when empty. */
  peek(): T | undefined {
    return this.items[0];
  }

  push(item: T): void {
    this.items.push(item);
    this.siftUp(this.items.length - 1);
  }

  /**
   * Adds every item of `items`: into an empty heap (the heap then keeps the array) in O(n), one
   * heapify rather than n pushes, as a restore fills it; into a non-empty one by pushing each.
   */
  fill(items: T[]): void {
    if (this.items.length > 0) {
      for (const item of items) this.push(item);
      return;
    }
    this.items = items;
    for (let i = 0; i < items.length; i++) this.onMove(items[i], i);
    for (let i = (items.length >> 1) - 1; i >= 0; i--) this.siftDown(i);
  }

  /** Removes and returns the least item. */
  pop(): T | undefined {
    if (this.items.length === 0) return undefined;
    const top = this.items[0];
    this.removeAt(0);
    return top;
  }

  /** Removes the item at `index` (as last reported through onMove). */
  removeAt(index: number): void {
    const items = this.items;
    const removed = items[index];
    const last = items.pop() as T;
    this.onMove(removed, -1);
    if (index < items.length) {
      items[index] = last;
      this.onMove(last, index);
      this.update(index);
    }
  }

  /** Restores order after the item at `index` changed its key. */
  update(index: number): void {
    if (index > 0 && this.less(this.items[index], this.items[(index - 1) >> 1])) this.siftUp(index);
    else this.siftDown(index);
  }

  /** Removes every item, in no particular order. */
  drain(): T[] {
    const all = this.items.splice(0);
    for (const item of all) this.onMove(item, -1);
    return all;
  }

  private siftUp(index: number): void {
    const items = this.items;
    const item = items[index];
    while (index > 0) {
      const parent = (index - 1) >> 1;
      if (!this.less(item, items[parent])) break;
      items[index] = items[parent];
      this.onMove(items[index], index);
      index = parent;
    }
    items[index] = item;
    this.onMove(item, index);
  }

  private siftDown(index: number): void {
    const items = this.items;
    const length = items.length;
    const item = items[index];
    for (;;) {
      let child = 2 * index + 1;
      if (child >= length) break;
      if (child + 1 < length && this.less(items[child + 1], items[child])) child++;
      if (!this.less(items[child], item)) break;
      items[index] = items[child];
      this.onMove(items[index], index);
      index = child;
    }
    items[index] = item;
    this.onMove(item, index);
  }
}
