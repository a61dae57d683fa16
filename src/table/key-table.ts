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

/** A key with several holders or any waiters: its queue, plus its holders by token. */
class KeyState extends WaiterQueue {
  /** Holder slots by token: release finds its slot without scanning thousands of SHARED holders. */
  readonly holders = new Map<string, number>();
  /** The holder slot that stands for the key in KeyOrder; -1 while nobody holds the key. */
  representative: number;

  constructor(
    readonly key: string,
    slot: number,
    token: string,
  ) {
    super();
    this.holders.set(token, slot);
    this.representative = slot;
  }
}

/** A held key as KeyTable hands it out: opaque outside this module. */
export type KeyEntry = number | KeyState;

export class KeyTable {
  private readonly single: KeyIndex;
  private readonly complex = new Map<string, KeyState>();
  private readonly order: KeyOrder;

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
    return typeof entry === 'number' ? 1 : entry.holders.size;
  }

  /** The mode of the key's holders (several holders are all SHARED). Only when it has holders. */
  holderMode(entry: KeyEntry): LockMode {
    return this.slots.mode[typeof entry === 'number' ? entry : entry.representative] as LockMode;
  }

  /** The key's holder slots, in grant order. */
  holders(entry: KeyEntry): number[] {
    return typeof entry === 'number' ? [entry] : [...entry.holders.values()];
  }

  /** The holder slot whose token is `token`, or -1. Constant-time in the token's bytes. */
  holderWithToken(entry: KeyEntry, token: string): number {
    const slot = typeof entry === 'number' ? entry : entry.holders.get(token);
    return slot !== undefined && this.slots.tokenMatches(slot, token) ? slot : -1;
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
    this.order.insert(slot);
  }

  /** Adds `slot` (which stores the key) as one more holder of the key. */
  addHolder(entry: KeyEntry, slot: number): void {
    const state = this.stateOf(entry);
    state.holders.set(this.slots.tokenOf(slot), slot);
    if (state.representative < 0) {
      state.representative = slot;
      this.order.insert(slot);
    }
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
      this.order.remove(slot);
      return undefined;
    }
    const state = this.complex.get(this.slots.keyOf(slot));
    if (state === undefined) return undefined;
    state.holders.delete(this.slots.tokenOf(slot));
    if (state.representative === slot) {
      this.order.remove(slot);
      state.representative = -1;
      const next = state.holders.values().next();
      if (!next.done) {
        state.representative = next.value;
        this.order.insert(next.value);
      }
    }
    return state;
  }

  /** Returns a key to its compact form once its queue is empty: the bare slot, or nothing. */
  settle(entry: KeyEntry): void {
    if (typeof entry === 'number' || entry.length > 0 || entry.holders.size > 1) return;
    // An entry already settled by an earlier step of the same call is no longer the key's.
    if (this.complex.get(entry.key) !== entry) return;
    this.complex.delete(entry.key);
    if (entry.holders.size === 1) this.single.insert(entry.representative);
  }

  /** Held keys that start with `prefix` and sort after `startAfter`, in byte order, lazily. */
  keysFrom(prefix: string, startAfter: string | undefined): Generator<string> {
    return this.order.keysFrom(prefix, startAfter);
  }

  /** Costs of the indexes, for tests: probes a lookup may take, tree nodes scans touched. */
  get costs(): { longestProbe: number; orderNodesVisited: number } {
    return { longestProbe: this.single.longestProbe(), orderNodesVisited: this.order.nodesVisited };
  }

  /** The key's KeyState, giving a lone-holder key one first. */
  private stateOf(entry: KeyEntry): KeyState {
    if (typeof entry !== 'number') return entry;
    this.single.remove(entry);
    const state = new KeyState(this.slots.keyOf(entry), entry, this.slots.tokenOf(entry));
    this.complex.set(state.key, state);
    return state;
  }
}
