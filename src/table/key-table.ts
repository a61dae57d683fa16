/**
 * Key -> holders and waiters, with the storage layout hidden from the lock rules.
 *
 * The common case, one holder and nobody waiting, is just the holder's lease slot in a KeyIndex
 * (no JS object per key). A key with several holders or a queue gets a KeyState object. Every
 * held key also sits in a KeyOrder (byte order, for listing by prefix) under one of its holder
 * slots, its representative. Callers see an opaque KeyEntry and ask this class about it.
 */
import { KeyIndex } from './key-index';
import { KeyOrder } from './key-order';
import type { LeaseSlots } from './lease-slots';
import type { LockMode } from './types';
import { QueuedWaiter, WaiterQueue } from './waiter-queue';

/**
 * A key with several holders or any waiters: its queue, plus its holders as a list linked through
 * LeaseSlots (grant order, O(1) removal) and by token digest (release finds its slot among thousands of
 * SHARED holders without a scan). The first holder stands for the key in KeyOrder.
 */
class KeyState extends WaiterQueue {
  readonly holdersByDigest = new Map<string, number>();
  /** First and last holder slot; -1 while nobody holds the key. */
  firstHolder = -1;
  lastHolder = -1;

  constructor(readonly key: string) {
    super();
  }
}

/** A held key as KeyTable hands it out: opaque outside this module. */
export type KeyEntry = number | KeyState;

export class KeyTable {
  private readonly single: KeyIndex;
  private readonly complex = new Map<string, KeyState>();
  private readonly order: KeyOrder;
  /** While true (a restore), the key order is not kept up: buildOrder makes it at once. */
  private orderDeferred = false;

  constructor(private readonly slots: LeaseSlots, orderSeed: number) {
    this.single = new KeyIndex(slots);
    this.order = new KeyOrder(slots, orderSeed);
  }

  /** The key's entry, or undefined when nobody holds it and nobody waits for it. */
  find(key: string): KeyEntry | undefined {
    if (this.complex.size > 0) {
      const state = this.complex.get(key);
      if (state !== undefined) return state;
    }
    const slot = this.single.find(key);
    return slot < 0 ? undefined : slot;
  }

  holderCount(entry: KeyEntry): number {
    return typeof entry === 'number' ? 1 : entry.holdersByDigest.size;
  }

  /** The mode of the key's holders (several holders are all SHARED). Only when it has holders. */
  holderMode(entry: KeyEntry): LockMode {
    return this.slots.mode[typeof entry === 'number' ? entry : entry.firstHolder] as LockMode;
  }

  /** The key's holder slots, in grant order. */
  holders(entry: KeyEntry): number[] {
    if (typeof entry === 'number') return [entry];
    const slots: number[] = [];
    for (let slot = entry.firstHolder; slot >= 0; slot = this.slots.holderNext[slot] - 1) slots.push(slot);
    return slots;
  }

  /** The holder slot whose token digest is `digest`, or -1. */
  holderWithDigest(entry: KeyEntry, digest: string): number {
    const slot = typeof entry === 'number' ? entry : entry.holdersByDigest.get(digest);
    return slot !== undefined && this.slots.digestMatches(slot, digest) ? slot : -1;
  }

  waiterCount(entry: KeyEntry): number {
    return typeof entry === 'number' ? 0 : entry.length;
  }

  /** The waiter at the head of the key's queue. */
  firstWaiter(entry: KeyEntry): QueuedWaiter | undefined {
    return typeof entry === 'number' ? undefined : entry.first();
  }

  /** Makes `slot` the only holder of its key, which nobody holds or awaits yet. */
  addFirstHolder(slot: number): void {
    this.single.insert(slot);
    this.orderInsert(slot);
  }

  /** Adds `slot` (which stores the key) as one more holder of the key. */
  addHolder(entry: KeyEntry, slot: number): void {
    this.appendHolder(this.stateOf(entry), slot);
  }

  /**
   * Records a restored lease's `slot` as a holder of the key it stores, after any holders already
   * restored, found by the slot's key bytes (no key string, except for a key that already has
   * several holders). When a holder of the key has the slot's token digest (the same lease,
   * recorded again), the slot is not added and that holder is returned; else -1.
   */
  restoreHolder(slot: number): number {
    if (this.complex.size > 0) {
      const state = this.complex.get(this.slots.keyOf(slot));
      if (state !== undefined) {
        const same = state.holdersByDigest.get(this.slots.digestOf(slot));
        if (same !== undefined) return same;
        this.appendHolder(state, slot);
        return -1;
      }
    }
    // One probe finds the key's holder or adds the slot: most restored keys have one holder.
    const holder = this.single.insertUnlessPresent(slot);
    if (holder < 0) this.orderInsert(slot);
    else if (this.slots.sameDigest(holder, slot)) return holder;
    else this.appendHolder(this.stateOf(holder), slot);
    return -1;
  }

  /**
   * The holder slot of the key bytes[keyAt, keyAt + keyLength) whose token digest is
   * bytes[digestAt, digestAt + 16), or -1: for a replay, which has bytes, not strings (a key with
   * several holders still decodes both).
   */
  holderWithBytes(bytes: Uint8Array, keyAt: number, keyLength: number, digestAt: number): number {
    if (this.complex.size > 0) {
      const view = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
      const state = this.complex.get(view.toString('utf8', keyAt, keyAt + keyLength));
      if (state !== undefined) return this.holderWithDigest(state, view.toString('hex', digestAt, digestAt + 16));
    }
    const slot = this.single.findBytes(bytes, keyAt, keyLength);
    return slot >= 0 && this.slots.digestEqualsBytes(slot, bytes, digestAt) ? slot : -1;
  }

  /** Sizes the key index for `keys` more keys at once (before a restore). */
  reserve(keys: number): void {
    this.single.reserve(keys);
  }

  /** Parks `waiter` at the tail of the key's queue. */
  enqueue(entry: KeyEntry, waiter: QueuedWaiter): void {
    this.stateOf(entry).push(waiter);
  }

  /** Takes `waiter` out of its queue; returns its key's entry, or undefined when it was not parked. */
  unqueue(waiter: QueuedWaiter): KeyEntry | undefined {
    const state = waiter.queue as KeyState | undefined;
    state?.remove(waiter);
    return state;
  }

  /**
   * Takes a holder's slot off its key, before the slot is released. Returns the key's entry when
   * the key still has holders or waiters (the caller lets waiters in, then calls settle).
   */
  removeHolder(slot: number): KeyEntry | undefined {
    if (this.single.remove(slot)) {
      this.orderRemove(slot);
      return undefined;
    }
    const state = this.complex.get(this.slots.keyOf(slot));
    if (state === undefined) return undefined;
    state.holdersByDigest.delete(this.slots.digestOf(slot));
    const { holderPrevious: previousOf, holderNext: nextOf } = this.slots;
    const previous = previousOf[slot] - 1;
    const next = nextOf[slot] - 1;
    previousOf[slot] = 0;
    nextOf[slot] = 0;
    if (next >= 0) previousOf[next] = previous + 1;
    else state.lastHolder = previous;
    if (previous >= 0) {
      nextOf[previous] = next + 1;
    } else {
      // The key's first holder stood for it in the key order: the next one takes over.
      state.firstHolder = next;
      this.orderRemove(slot);
      if (next >= 0) this.orderInsert(next);
    }
    return state;
  }

  /** Returns a key to its compact form once its queue is empty: the bare slot, or nothing. */
  settle(entry: KeyEntry): void {
    if (typeof entry === 'number' || entry.length > 0 || entry.holdersByDigest.size > 1) return;
    // An entry already settled by an earlier step of the same call is no longer the key's.
    if (this.complex.get(entry.key) !== entry) return;
    this.complex.delete(entry.key);
    // A lone holder's list links are already clear: it has no neighbours.
    if (entry.firstHolder >= 0) this.single.insert(entry.firstHolder);
  }

  /**
   * Stops keeping the key order until buildOrder, when no key is held: for a restore into an empty table, whose keys
   * may come in any order. Inserting a million keys in random order into the tree one by one
   * costs ~25 key comparisons each, most of them cache misses (~5 s measured); sorting them
   * first and building the tree in one pass costs a fraction of that.
   */
  deferOrder(): void {
    // Only while no key is held: build() makes the whole tree.
    if (this.order.size === 0) this.orderDeferred = true;
  }

  /** Builds the key order of every held key at once (after deferOrder): sorted, then appended. */
  buildOrder(): void {
    if (!this.orderDeferred) return;
    this.orderDeferred = false;
    const slots = this.slots;
    // Each key stands in the order under its first holder: a lone holder, or the head of the
    // holder list of a key with several (the only holders with no previous one).
    const firsts = new Int32Array(slots.count);
    let count = 0;
    let sorted = true;
    for (let slot = 0; slot < slots.usedSlotBound; slot++) {
      if (slots.keyLength[slot] === 0 || slots.holderPrevious[slot] !== 0) continue;
      if (sorted && count > 0 && slots.compareKeys(firsts[count - 1], slot) > 0) sorted = false;
      firsts[count++] = slot;
    }
    const keys = firsts.subarray(0, count);
    if (!sorted) slots.sortByKey(keys);
    this.order.build(keys);
  }

  /** Held keys that start with `prefix` and sort after `startAfter`, in byte order, lazily. */
  keysFrom(prefix: string, startAfter: string | undefined): Generator<string> {
    return this.order.keysFrom(prefix, startAfter);
  }

  /** Costs of the indexes, for tests: probes a lookup may take, tree nodes scans touched. */
  get costs(): { longestProbe: number; orderNodesVisited: number } {
    return { longestProbe: this.single.longestProbe(), orderNodesVisited: this.order.nodesVisited };
  }

  private orderInsert(slot: number): void {
    if (!this.orderDeferred) this.order.insert(slot);
  }

  private orderRemove(slot: number): void {
    if (!this.orderDeferred) this.order.remove(slot);
  }

  /** The key's KeyState, giving a lone-holder key one first. */
  private stateOf(entry: KeyEntry): KeyState {
    if (typeof entry !== 'number') return entry;
    this.single.remove(entry);
    const state = new KeyState(this.slots.keyOf(entry));
    this.complex.set(state.key, state);
    state.firstHolder = state.lastHolder = entry;
    state.holdersByDigest.set(this.slots.digestOf(entry), entry);
    return state;
  }

  private appendHolder(state: KeyState, slot: number): void {
    state.holdersByDigest.set(this.slots.digestOf(slot), slot);
    const last = state.lastHolder;
    state.lastHolder = slot;
    if (last >= 0) {
      this.slots.holderNext[last] = slot + 1;
      this.slots.holderPrevious[slot] = last + 1;
    } else {
      state.firstHolder = slot;
      this.orderInsert(slot);
    }
  }
}
