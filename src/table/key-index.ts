/**
 * Finds the slot that holds a key, without a JS string or Map entry per key: an open-addressing
 * hash table of slot numbers in one Int32Array, comparing against the key bytes LeaseSlots keeps
 * in its arena. At a million keys this costs ~8 bytes a key where a Map<string, number> costs ~60.
 * Buckets come from LeaseSlots' keyed hash, so nobody without the table's hash key can choose
 * keys that pile onto one probe chain.
 */
import type { LeaseSlots } from './lease-slots';

const EMPTY = 0;
const DELETED = -1;
/** Rebuild once live plus deleted buckets pass this share of the table, keeping probes short. */
const MAX_LOAD = 0.6;

export class KeyIndex {
  /** slot + 1 per bucket; EMPTY or DELETED otherwise. */
  private buckets = new Int32Array(1024);
  private live = 0;
  private deleted = 0;
  private readonly probe = Buffer.alloc(4 * 1024);
  private probeLength = 0;
  private probeHash = 0;

  constructor(private readonly slots: LeaseSlots) {}

  get size(): number {
    return this.live;
  }

  /** The slot indexed under `key`, or -1. */
  find(key: string): number {
    this.encode(key);
    const mask = this.buckets.length - 1;
    for (let i = this.probeHash & mask; ; i = (i + 1) & mask) {
      const entry = this.buckets[i];
      if (entry === EMPTY) return -1;
      if (entry !== DELETED && this.slots.keyHash[entry - 1] === this.probeHash && this.slots.keyEquals(entry - 1, this.probe, this.probeLength)) {
        return entry - 1;
      }
    }
  }

  /**
   * Indexes `slot` under its key unless a slot is indexed under it already: returns that slot,
   * or -1 once `slot` is indexed. One probe where a lookup plus insert take two.
   */
  insertUnlessPresent(slot: number): number {
    if ((this.live + this.deleted + 1) > this.buckets.length * MAX_LOAD) this.rebuild();
    const slots = this.slots;
    const mask = this.buckets.length - 1;
    let free = -1;
    for (let i = slots.keyHash[slot] & mask; ; i = (i + 1) & mask) {
      const entry = this.buckets[i];
      if (entry === EMPTY) {
        if (free < 0) free = i;
        break;
      }
      if (entry === DELETED) {
        if (free < 0) free = i;
      } else if (slots.sameKey(entry - 1, slot)) {
        return entry - 1;
      }
    }
    if (this.buckets[free] === DELETED) this.deleted--;
    this.buckets[free] = slot + 1;
    this.live++;
    return -1;
  }

  /** Grows the table at once for `keys` more keys, so inserting them rebuilds nothing on the way. */
  reserve(keys: number): void {
    if ((this.live + this.deleted + keys) > this.buckets.length * MAX_LOAD) this.rebuild(keys);
  }

  /** The slot indexed under the key bytes[at, at + length), or -1. */
  findBytes(bytes: Uint8Array, at: number, length: number): number {
    const slots = this.slots;
    const hash = slots.hashOf(bytes, at, at + length);
    const mask = this.buckets.length - 1;
    for (let i = hash & mask; ; i = (i + 1) & mask) {
      const entry = this.buckets[i];
      if (entry === EMPTY) return -1;
      if (entry !== DELETED && slots.keyHash[entry - 1] === hash && slots.keyEqualsBytes(entry - 1, bytes, at, length)) return entry - 1;
    }
  }

  /** Indexes `slot` under its key (which must not be indexed yet). */
  insert(slot: number): void {
    if ((this.live + this.deleted + 1) > this.buckets.length * MAX_LOAD) this.rebuild();
    this.place(slot);
    this.live++;
  }

  /** Removes `slot` from the index; false when it was not indexed. */
  remove(slot: number): boolean {
    const index = this.bucketOf(slot);
    if (index < 0) return false;
    this.buckets[index] = DELETED;
    this.live--;
    this.deleted++;
    return true;
  }

  /** True when `slot` is the one indexed under its key. */
  contains(slot: number): boolean {
    return this.bucketOf(slot) >= 0;
  }

  /**
   * The longest distance, in buckets, of any indexed slot from the bucket its hash points at:
   * the most probes a lookup can take. Walks the whole table: for tests and diagnostics only.
   */
  longestProbe(): number {
    const buckets = this.buckets;
    const mask = buckets.length - 1;
    let longest = 0;
    for (let i = 0; i < buckets.length; i++) {
      if (buckets[i] <= 0) continue;
      const distance = (i - this.slots.keyHash[buckets[i] - 1]) & mask;
      if (distance > longest) longest = distance;
    }
    return longest;
  }

  private bucketOf(slot: number): number {
    const mask = this.buckets.length - 1;
    for (let i = this.slots.keyHash[slot] & mask; ; i = (i + 1) & mask) {
      const entry = this.buckets[i];
      if (entry === EMPTY) return -1;
      if (entry === slot + 1) return i;
    }
  }

  private place(slot: number): void {
    const mask = this.buckets.length - 1;
    let i = this.slots.keyHash[slot] & mask;
    while (this.buckets[i] > 0) i = (i + 1) & mask;
    if (this.buckets[i] === DELETED) this.deleted--;
    this.buckets[i] = slot + 1;
  }

  private rebuild(more = 1): void {
    const old = this.buckets;
    let capacity = old.length;
    while ((this.live + more) * 2 > capacity) capacity *= 2;
    this.buckets = new Int32Array(capacity);
    this.deleted = 0;
    for (let i = 0; i < old.length; i++) if (old[i] > 0) this.place(old[i] - 1);
  }

  /** Keys are validated to at most 1024 bytes before they get here, so the probe buffer fits them. */
  private encode(key: string): void {
    this.probeLength = this.probe.write(key, 0, 'utf8');
    this.probeHash = this.slots.hashOf(this.probe, 0, this.probeLength);
  }
}
