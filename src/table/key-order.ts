/**
 * Held keys in byte order, so listing by prefix costs O(log n + k) instead of a scan of every
 * key. A treap (a search tree kept balanced by random priorities) over lease slots, one slot per
 * key, comparing the key bytes LeaseSlots keeps in its arena. Its links live in LeaseSlots'
 * typed arrays (8 bytes a slot), so the tree adds no JS object per key.
 *
 * A slot's priority is a keyed mix of its number: the order in which keys arrive (which a
 * client chooses) cannot make the tree deep, and no per-slot priority needs storing.
 */
import type { LeaseSlots } from './lease-slots';

export class KeyOrder {
  /** Root slot + 1; 0 for an empty tree. */
  private root = 0;
  private count = 0;
  /** Counts tree nodes the cursors touch: tests read it to check what a scan costs. */
  nodesVisited = 0;
  /** Changes with every insert and remove, so a cursor knows when to find its place again. */
  private version = 0;
  /**
   * The tree's right spine, root first, while every key so far arrived in ascending order and
   * none left (undefined after the first that did not). A key above all others then goes onto
   * this spine in amortized O(1) and one comparison (building a Cartesian tree), where a plain
   * insert walks down the spine comparing keys: a restart that reads its leases in key order
   * (a log of keys granted in order) builds its tree ~4x faster.
   */
  private spine: number[] | undefined = [];

  constructor(
    private readonly slots: LeaseSlots,
    private readonly prioritySeed: number,
  ) {}

  get size(): number {
    return this.count;
  }

  /** Adds `slot`, whose key must not be in the tree yet. */
  insert(slot: number): void {
    const { orderLeft: left, orderRight: right } = this.slots;
    const priority = this.priority(slot);
    const spine = this.spine;
    if (spine !== undefined) {
      if (spine.length === 0 || this.slots.compareKeys(slot, spine[spine.length - 1]) > 0) {
        this.append(spine, slot, priority);
        return;
      }
      this.spine = undefined;
    }
    // Walk down while nodes outrank the new one; the new node then takes that place and the
    // subtree found there splits around its key.
    let parent = -1;
    let goLeft = false;
    let node = this.root - 1;
    while (node >= 0 && this.priority(node) > priority) {
      parent = node;
      goLeft = this.slots.compareKeys(slot, node) < 0;
      node = (goLeft ? left[node] : right[node]) - 1;
    }
    this.link(parent, goLeft, slot);
    // Split: nodes below the new key go down its left spine, the rest down its right spine.
    let lessParent = slot;
    let lessSide = true;
    let moreParent = slot;
    let moreSide = false;
    while (node >= 0) {
      if (this.slots.compareKeys(node, slot) < 0) {
        this.link(lessParent, lessSide, node);
        lessParent = node;
        lessSide = false;
        node = right[node] - 1;
      } else {
        this.link(moreParent, moreSide, node);
        moreParent = node;
        moreSide = true;
        node = left[node] - 1;
      }
    }
    this.link(lessParent, lessSide, -1);
    this.link(moreParent, moreSide, -1);
    this.count++;
    this.version++;
  }

  /**
   * Makes the tree, which must be empty, hold `slots`, given in ascending key order: O(n), each
   * appended onto the right spine as insert does for a largest key; the same tree n inserts build.
   */
  build(slots: Int32Array): void {
    if (this.count > 0) throw new Error('KeyOrder.build needs an empty tree');
    const spine: number[] = [];
    // No comparison: the caller sorted them (each would cost a cache miss or two).
    for (let i = 0; i < slots.length; i++) this.append(spine, slots[i], this.priority(slots[i]));
    this.spine = spine;
  }

  /**
   * Adds `slot`, whose key is larger than every key in the tree, given the tree's right spine:
   * it takes the place of the highest spine node it outranks (that node's subtree, all smaller
   * keys, becomes its left child) and ends the spine.
   */
  private append(spine: number[], slot: number, priority: number): void {
    const { orderLeft: left, orderRight: right } = this.slots;
    let below = -1;
    while (spine.length > 0 && this.priority(spine[spine.length - 1]) < priority) below = spine.pop() as number;
    left[slot] = below + 1;
    right[slot] = 0;
    this.link(spine.length > 0 ? spine[spine.length - 1] : -1, false, slot);
    spine.push(slot);
    this.count++;
    this.version++;
  }

  /** Takes `slot` out of the tree; it must be in it. */
  remove(slot: number): void {
    this.spine = undefined;
    const { orderLeft: left, orderRight: right } = this.slots;
    let parent = -1;
    let goLeft = false;
    let node = this.root - 1;
    while (node !== slot) {
      if (node < 0) throw new Error(`slot ${slot} is not in the key order`);
      parent = node;
      goLeft = this.slots.compareKeys(slot, node) < 0;
      node = (goLeft ? left[node] : right[node]) - 1;
    }
    // Merge the two subtrees into the removed node's place, higher priority on top.
    let a = left[slot] - 1;
    let b = right[slot] - 1;
    left[slot] = 0;
    right[slot] = 0;
    while (a >= 0 && b >= 0) {
      if (this.priority(a) > this.priority(b)) {
        this.link(parent, goLeft, a);
        parent = a;
        goLeft = false;
        a = right[a] - 1;
      } else {
        this.link(parent, goLeft, b);
        parent = b;
        goLeft = true;
        b = left[b] - 1;
      }
    }
    this.link(parent, goLeft, a >= 0 ? a : b);
    this.count--;
    this.version++;
  }

  /**
   * The keys that start with `prefix` and sort after `startAfter` (all of them when undefined),
   * in byte order, lazily. The tree may change between steps: the cursor then finds its place
   * again after the last key it yielded.
   */
  *keysFrom(prefix: string, startAfter: string | undefined): Generator<string> {
    const prefixBytes = Buffer.from(prefix, 'utf8');
    let bound = prefixBytes;
    let inclusive = true;
    if (startAfter !== undefined && Buffer.compare(Buffer.from(startAfter, 'utf8'), prefixBytes) >= 0) {
      bound = Buffer.from(startAfter, 'utf8');
      inclusive = false;
    }
    const path: number[] = [];
    this.seek(path, bound, inclusive);
    let seenVersion = this.version;
    while (path.length > 0) {
      const slot = path.pop() as number;
      if (!this.slots.keyStartsWith(slot, prefixBytes, prefixBytes.length)) return;
      const key = this.slots.keyOf(slot);
      yield key;
      if (this.version !== seenVersion) {
        path.length = 0;
        this.seek(path, Buffer.from(key, 'utf8'), false);
        seenVersion = this.version;
      } else {
        this.descendLeft(path, this.slots.orderRight[slot] - 1);
      }
    }
  }

  /** Fills `path` with the ancestors to visit in order, starting at the first key >= bound (> when not inclusive). */
  private seek(path: number[], bound: Buffer, inclusive: boolean): void {
    let node = this.root - 1;
    while (node >= 0) {
      this.nodesVisited++;
      const order = this.slots.compareKeyTo(node, bound, 0, bound.length);
      if (order > 0 || (inclusive && order === 0)) {
        path.push(node);
        node = this.slots.orderLeft[node] - 1;
      } else {
        node = this.slots.orderRight[node] - 1;
      }
    }
  }

  private descendLeft(path: number[], node: number): void {
    while (node >= 0) {
      this.nodesVisited++;
      path.push(node);
      node = this.slots.orderLeft[node] - 1;
    }
  }

  /** Makes `child` (-1: none) the left or right child of `parent` (-1: the root). */
  private link(parent: number, left: boolean, child: number): void {
    if (parent < 0) this.root = child + 1;
    else if (left) this.slots.orderLeft[parent] = child + 1;
    else this.slots.orderRight[parent] = child + 1;
  }

  /** murmur3's finalizer over the slot number mixed with the seed: a fixed random rank per slot. */
  private priority(slot: number): number {
    let h = (slot ^ this.prioritySeed) | 0;
    h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
    h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
    return (h ^ (h >>> 16)) >>> 0;
  }
}
