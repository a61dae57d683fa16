/**
 * Storage of live leases as parallel typed arrays indexed by slot number, with each key's UTF-8
 * bytes in one arena Buffer. One object (and one key string) per lease would cost ~300 bytes and
 * make every major GC walk a million objects; here a slot costs 79 bytes of typed arrays (8 of them touched only for keys with several holders) (free
 * slots are linked through their key offsets, owners are ids into one table of labels) plus its
 * key bytes, and the GC sees a dozen objects.
 *
 * Every array is a view into one ArrayBuffer sized for the table's capacity at start. Its pages
 * are zero and untouched until used (the allocator maps them lazily), slots are handed out from
 * the bottom, so memory follows the leases actually held: no growth by copying, no slack of a
 * growth factor, no freed generations of arrays left to the allocator.
 */
import { randomFillSync } from 'node:crypto';
import { ResourceExhaustedError } from '../errors';
import { halfSipHash, HashKey, randomHashKey } from './keyed-hash';
import { decodeHex, DIGEST_BYTES, digestOfBytesAt, hexEquals, TOKEN_BYTES } from './token-digest';
import type { LeaseView, LockMode, StoredLease } from './types';

export { TOKEN_BYTES } from './token-digest';
const DIGEST_HEX_LENGTH = DIGEST_BYTES * 2;
const RANDOM_POOL_BYTES = 4096;

/** Runs up to this many keys are sorted by comparison (a numeric pass costs more for them). */
const SMALL_SORT = 32;
/** Positions in sortRun's packed keys: below 2^32, so digits * 2^32 + position stays exact. */
const POSITION_SPAN = 2 ** 32;
/** End of the free-slot list. */
const NO_SLOT = 0xffffffff;

export class LeaseSlots {
  /** Slots below this have been used at least once; those above are untouched. */
  private highWater = 0;
  /**
   * First free slot; each free slot's keyOffset holds the next (a free slot has no key, so the
   * list costs no memory of its own).
   */
  private firstFree = NO_SLOT;
  private used = 0;
  /** Owner label id of each slot (0: none); labels in `ownerLabels`. */
  private readonly ownerId: Uint32Array;
  /**
   * Where each slot's key bytes start in the arena (the next free slot, for a free slot); their
   * length (0 for a free slot); their hash.
   */
  readonly keyOffset: Uint32Array;
  readonly keyLength: Uint16Array;
  readonly keyHash: Int32Array;
  private arena = Buffer.alloc(64 * 1024);
  private arenaEnd = 0;
  /** Arena bytes of released keys, reclaimed by compaction. */
  private arenaGarbage = 0;
  /** Each slot's token digest (token-digest.ts); the token itself is never kept. */
  readonly digests: Buffer;
  readonly fence: Float64Array;
  readonly expiresAt: Float64Array;
  readonly ttl: Uint32Array;
  readonly holdCount: Int32Array;
  readonly mode: Uint8Array;
  /** Session of an ephemeral lease; 0 for a lease that outlives its connection. */
  readonly session: Int32Array;
  /** Position in the expiry heap. */
  readonly heapIndex: Int32Array;
  /**
   * Children in KeyOrder's tree, as slot + 1 (0: none), so slots outside the tree leave their
   * pages untouched.
   */
  readonly orderLeft: Int32Array;
  readonly orderRight: Int32Array;
  /**
   * Neighbours in the holder list of a key with several holders, as slot + 1 (0: none): a lone
   * holder's slot never writes them, so their pages stay untouched.
   */
  readonly holderPrevious: Int32Array;
  readonly holderNext: Int32Array;

  /**
   * Owner labels in use, by id, with how many leases use each: clients send the same label with
   * every call, so one copy serves them all. Id 0 is "no owner"; freed ids are reused.
   */
  private readonly ownerLabels: Array<string | undefined> = [undefined];
  private readonly ownerUses: number[] = [0];
  private readonly ownerIds = new Map<string, number>();
  private readonly freeOwnerIds: number[] = [];
  private readonly randomPool = Buffer.alloc(RANDOM_POOL_BYTES);
  private randomOffset = RANDOM_POOL_BYTES;

  /**
   * @param capacity the most leases that can ever be live at once.
   * @param hashKey key of the hash of key bytes; random unless a test fixes it.
   */
  constructor(
    readonly capacity: number,
    private readonly hashKey: HashKey = randomHashKey(),
  ) {
    let bytes = 0;
    // Widest elements first, so every view starts aligned to its element size.
    const take = (bytesPerSlot: number) => {
      const at = bytes;
      bytes += bytesPerSlot * capacity;
      return at;
    };
    const at = {
      fence: take(8), expiresAt: take(8), keyOffset: take(4), keyHash: take(4), ttl: take(4), holdCount: take(4),
      session: take(4), heapIndex: take(4), orderLeft: take(4), orderRight: take(4), holderPrevious: take(4), holderNext: take(4), ownerId: take(4), keyLength: take(2), mode: take(1), digests: take(DIGEST_BYTES),
    };
    let memory: ArrayBuffer;
    try {
      memory = new ArrayBuffer(bytes);
    } catch (error) {
      // Only address space is asked for, but a strict overcommit policy or `ulimit -v` may refuse it.
      throw new ResourceExhaustedError(`cannot reserve room for ${capacity} leases (${Math.ceil(bytes / 2 ** 20)} MiB of address space): lower --max-leases (${(error as Error).message})`);
    }
    this.fence = new Float64Array(memory, at.fence, capacity);
    this.expiresAt = new Float64Array(memory, at.expiresAt, capacity);
    this.keyOffset = new Uint32Array(memory, at.keyOffset, capacity);
    this.keyHash = new Int32Array(memory, at.keyHash, capacity);
    this.ttl = new Uint32Array(memory, at.ttl, capacity);
    this.holdCount = new Int32Array(memory, at.holdCount, capacity);
    this.session = new Int32Array(memory, at.session, capacity);
    this.heapIndex = new Int32Array(memory, at.heapIndex, capacity);
    this.orderLeft = new Int32Array(memory, at.orderLeft, capacity);
    this.orderRight = new Int32Array(memory, at.orderRight, capacity);
    this.holderPrevious = new Int32Array(memory, at.holderPrevious, capacity);
    this.holderNext = new Int32Array(memory, at.holderNext, capacity);
    this.ownerId = new Uint32Array(memory, at.ownerId, capacity);
    this.keyLength = new Uint16Array(memory, at.keyLength, capacity);
    this.mode = new Uint8Array(memory, at.mode, capacity);
    this.digests = Buffer.from(memory, at.digests, capacity * DIGEST_BYTES);
  }

  /** Slots used at least once: every live slot is below this. */
  get usedSlotBound(): number {
    return this.highWater;
  }

  /** Number of live leases. */
  get count(): number {
    return this.used;
  }

  /**
   * Takes a free slot and fills it; `digest` is a restored lease's token digest, or undefined for
   * a new lease, whose caller then draws its token (drawToken). The caller keeps the count of live
   * leases within `capacity` (LockTable's admission checks).
   */
  allocate(
    key: string,
    owner: string | undefined,
    digest: string | undefined,
    fence: number,
    expiresAtMs: number,
    ttlMs: number,
    mode: LockMode,
    session: number,
  ): number {
    const slot = this.takeSlot();
    this.storeKey(slot, key);
    if (digest !== undefined) this.digests.write(digest, slot * DIGEST_BYTES, DIGEST_BYTES, 'hex');
    this.fill(slot, owner, fence, expiresAtMs, ttlMs, mode, session);
    return slot;
  }

  /**
   * Takes a free slot for a restored lease whose key (UTF-8) is bytes[keyAt, keyAt + keyLength)
   * and token digest bytes[digestAt, digestAt + DIGEST_BYTES): copied as bytes, so restoring
   * decodes no string per lease. Durable (session 0), holdCount 1 (the caller sets it).
   */
  allocateFromBytes(
    bytes: Uint8Array,
    keyAt: number,
    keyLength: number,
    digestAt: number,
    owner: string | undefined,
    fence: number,
    expiresAtMs: number,
    ttlMs: number,
    mode: LockMode,
  ): number {
    const slot = this.takeSlot();
    if (this.arenaEnd + keyLength > this.arena.length) this.makeArenaRoom(keyLength);
    const arena = this.arena;
    const start = this.arenaEnd;
    // A loop, not Buffer#copy: a key is a few dozen bytes, and a native copy costs a view per call.
    for (let i = 0; i < keyLength; i++) arena[start + i] = bytes[keyAt + i];
    this.keyOffset[slot] = start;
    this.keyLength[slot] = keyLength;
    this.keyHash[slot] = this.hashOf(arena, start, start + keyLength);
    this.arenaEnd = start + keyLength;
    const digests = this.digests;
    const at = slot * DIGEST_BYTES;
    for (let i = 0; i < DIGEST_BYTES; i++) digests[at + i] = bytes[digestAt + i];
    this.fill(slot, owner, fence, expiresAtMs, ttlMs, mode, 0);
    return slot;
  }

  /** A free slot, counted as live: the first on the free list, else the next never used. */
  private takeSlot(): number {
    let slot = this.firstFree;
    if (slot !== NO_SLOT) {
      this.firstFree = this.keyOffset[slot];
    } else {
      if (this.highWater >= this.capacity) throw new Error(`all ${this.capacity} lease slots are in use`);
      slot = this.highWater++;
    }
    this.used++;
    return slot;
  }

  /** Sets a freshly taken slot's fields besides its key and digest. */
  private fill(slot: number, owner: string | undefined, fence: number, expiresAtMs: number, ttlMs: number, mode: LockMode, session: number): void {
    this.ownerId[slot] = owner === undefined ? 0 : this.shareOwner(owner);
    this.fence[slot] = fence;
    this.expiresAt[slot] = expiresAtMs;
    this.ttl[slot] = ttlMs;
    this.holdCount[slot] = 1;
    this.mode[slot] = mode;
    this.session[slot] = session;
    this.heapIndex[slot] = -1;
  }

  /** True when slots a and b hold the same key bytes. */
  sameKey(a: number, b: number): boolean {
    const length = this.keyLength[a];
    if (this.keyLength[b] !== length || this.keyHash[a] !== this.keyHash[b]) return false;
    const arena = this.arena;
    const aStart = this.keyOffset[a];
    const bStart = this.keyOffset[b];
    for (let i = 0; i < length; i++) if (arena[aStart + i] !== arena[bStart + i]) return false;
    return true;
  }

  /** Returns the slot to the free list and drops its string references. */
  release(slot: number): void {
    const owner = this.ownerId[slot];
    if (owner !== 0) this.unshareOwner(owner);
    this.arenaGarbage += this.keyLength[slot];
    this.keyLength[slot] = 0;
    this.ownerId[slot] = 0;
    this.digests.fill(0, slot * DIGEST_BYTES, (slot + 1) * DIGEST_BYTES);
    this.keyOffset[slot] = this.firstFree;
    this.firstFree = slot;
    this.used--;
  }

  /** The slot's owner label, if its holder gave one. */
  ownerOf(slot: number): string | undefined {
    return this.ownerLabels[this.ownerId[slot]];
  }

  /** The slot's key, decoded (allocates: keep it off the hot path). */
  keyOf(slot: number): string {
    const start = this.keyOffset[slot];
    return this.arena.toString('utf8', start, start + this.keyLength[slot]);
  }

  /** True when the slot's key begins with bytes[0, length). */
  keyStartsWith(slot: number, bytes: Uint8Array, length: number): boolean {
    if (this.keyLength[slot] < length) return false;
    const arena = this.arena;
    const start = this.keyOffset[slot];
    for (let i = 0; i < length; i++) if (arena[start + i] !== bytes[i]) return false;
    return true;
  }

  /** The keyed hash of bytes[start, end), as stored in `keyHash` for a slot's key. */
  hashOf(bytes: Uint8Array, start: number, end: number): number {
    return halfSipHash(bytes, start, end, this.hashKey);
  }

  /** Orders two slots' keys by their bytes: negative, zero or positive. */
  compareKeys(a: number, b: number): number {
    const start = this.keyOffset[b];
    return this.compareKeyTo(a, this.arena, start, start + this.keyLength[b]);
  }

  /**
   * Orders the slot's key against bytes[start, end) (byte order, which is code point order):
   * negative when the key sorts first. A loop in JS: most keys differ within a few bytes, and
   * a native compare would cost more to call than that.
   */
  compareKeyTo(slot: number, bytes: Uint8Array, start: number, end: number): number {
    const arena = this.arena;
    const keyStart = this.keyOffset[slot];
    const keyLength = this.keyLength[slot];
    const length = end - start;
    const common = keyLength < length ? keyLength : length;
    for (let i = 0; i < common; i++) {
      const difference = arena[keyStart + i] - bytes[start + i];
      if (difference !== 0) return difference;
    }
    return keyLength - length;
  }

  /** True when the slot's key is exactly `bytes[0, length)`. */
  keyEquals(slot: number, bytes: Buffer, length: number): boolean {
    if (this.keyLength[slot] !== length) return false;
    const start = this.keyOffset[slot];
    return this.arena.compare(bytes, 0, length, start, start + length) === 0;
  }

  /**
   * Sorts `slots` (live slots with distinct keys) by key bytes, in place. A comparison sort calls
   * compareKeys ~20 times a key, each call a few cache misses into these arrays and the arena (1M
   * keys: ~2 s); this is a most-significant-digit radix sort instead: skip the bytes every key
   * shares, then order by the next two bytes with a native numeric sort, and recurse into runs
   * that tie. Each level reads every key once.
   */
  sortByKey(slots: Int32Array): void {
    if (slots.length < 2) return;
    // One scratch for every level (each run uses its own stretch of it), so sorting leaves no
    // trail of freed arrays for the allocator to keep in RSS.
    const scratch = { packed: new Float64Array(slots.length), before: new Int32Array(slots.length) };
    // The bytes every key shares: no level needs to look at them.
    this.sortRun(slots, 0, slots.length, this.sharedBytes(slots, 0, slots.length, 0), scratch);
  }

  /** How many bytes after the first `depth` all keys of slots[lo, hi) share. */
  private sharedBytes(slots: Int32Array, lo: number, hi: number, depth: number): number {
    const arena = this.arena;
    const first = slots[lo];
    const a = this.keyOffset[first] + depth;
    let common = this.keyLength[first] - depth;
    for (let i = lo + 1; i < hi && common > 0; i++) {
      const slot = slots[i];
      const limit = Math.min(common, this.keyLength[slot] - depth);
      const b = this.keyOffset[slot] + depth;
      let same = 0;
      while (same < limit && arena[a + same] === arena[b + same]) same++;
      common = same;
    }
    return common > 0 ? common : 0;
  }

  /**
   * Sorts slots[lo, hi), whose keys agree on their first `depth` bytes, by the bytes after, using
   * scratch[lo, hi) (a run below uses a part of its parent's stretch, once the parent is done with it).
   */
  private sortRun(slots: Int32Array, lo: number, hi: number, depth: number, scratch: { packed: Float64Array; before: Int32Array }): void {
    const n = hi - lo;
    if (n < 2) return;
    if (n <= SMALL_SORT) {
      slots.subarray(lo, hi).sort((a, b) => this.compareKeys(a, b));
      return;
    }
    // Two bytes a level, each as 1 + its value or 0 past the key's end (a shorter key sorts
    // first), times 2^32, plus the position: exact in a double (< 2^49), sorted natively.
    const packed = scratch.packed;
    const arena = this.arena;
    for (let i = 0; i < n; i++) {
      const slot = slots[lo + i];
      const start = this.keyOffset[slot] + depth;
      const left = this.keyLength[slot] - depth;
      const high = left > 0 ? arena[start] + 1 : 0;
      const low = left > 1 ? arena[start + 1] + 1 : 0;
      packed[lo + i] = (high * 257 + low) * POSITION_SPAN + i;
    }
    packed.subarray(lo, hi).sort();
    const firstDigits = Math.floor(packed[lo] / POSITION_SPAN);
    if (firstDigits === Math.floor(packed[hi - 1] / POSITION_SPAN)) {
      // The two bytes told none apart (keys sharing a long stretch, as "tenant-7/job/..."):
      // skip every byte they share rather than two a level. Distinct keys cannot all end here.
      if (firstDigits % 257 === 0) return;
      this.sortRun(slots, lo, hi, depth + 2 + this.sharedBytes(slots, lo, hi, depth + 2), scratch);
      return;
    }
    const before = scratch.before;
    before.set(slots.subarray(lo, hi), lo);
    for (let i = 0; i < n; i++) slots[lo + i] = before[lo + (packed[lo + i] % POSITION_SPAN)];
    // Then each run of keys that tie on both bytes is ordered by what follows (the packed values
    // of later runs are still intact: a run only writes its own stretch). A key that ended within
    // the two bytes (a byte 0 here) has no such key beside it: keys are distinct.
    let runStart = 0;
    let runDigits = firstDigits;
    for (let i = 1; i <= n; i++) {
      const digits = i < n ? Math.floor(packed[lo + i] / POSITION_SPAN) : -1;
      if (digits === runDigits) continue;
      if (i - runStart > 1 && runDigits % 257 !== 0) this.sortRun(slots, lo + runStart, lo + i, depth + 2, scratch);
      runStart = i;
      runDigits = digits;
    }
  }

  /** True when the slot's key is exactly bytes[at, at + length). */
  keyEqualsBytes(slot: number, bytes: Uint8Array, at: number, length: number): boolean {
    if (this.keyLength[slot] !== length) return false;
    const arena = this.arena;
    const start = this.keyOffset[slot];
    for (let i = 0; i < length; i++) if (arena[start + i] !== bytes[at + i]) return false;
    return true;
  }

  /** True when slots a and b hold the same token digest. */
  sameDigest(a: number, b: number): boolean {
    return this.digestEqualsBytes(a, this.digests, b * DIGEST_BYTES);
  }

  /** True when the slot's token digest is bytes[at, at + DIGEST_BYTES). */
  digestEqualsBytes(slot: number, bytes: Uint8Array, at: number): boolean {
    const digests = this.digests;
    const start = slot * DIGEST_BYTES;
    for (let i = 0; i < DIGEST_BYTES; i++) if (digests[start + i] !== bytes[at + i]) return false;
    return true;
  }

  /** The slot's token digest as 32 hex characters. */
  digestOf(slot: number): string {
    return this.digests.toString('hex', slot * DIGEST_BYTES, (slot + 1) * DIGEST_BYTES);
  }

  /**
   * True when `digest` (32 hex characters) is this slot's token digest. Compared in JS, not in
   * constant time: what timing could reveal is the stored digest, which is no secret (it cannot
   * be turned back into the token, and presenting it opens nothing); the token was hashed before
   * any comparison. A JS loop costs ~30 ns here, hex decoding plus timingSafeEqual ~350 ns.
   */
  digestMatches(slot: number, digest: string): boolean {
    return digest.length === DIGEST_HEX_LENGTH && hexEquals(digest, this.digests, slot * DIGEST_BYTES, DIGEST_BYTES);
  }

  /**
   * A snapshot of the slot as its holder sees it, with `token`: the one drawToken returned at the
   * grant, or the one the holder presented (the table keeps only its digest). Pass the key when
   * the caller has it.
   */
  view(slot: number, token: string, key: string = this.keyOf(slot)): LeaseView {
    return {
      key,
      token,
      fence: this.fence[slot],
      ttlMs: this.ttl[slot],
      expiresAtMs: this.expiresAt[slot],
      mode: this.mode[slot] as LockMode,
      holdCount: this.holdCount[slot],
      owner: this.ownerOf(slot),
    };
  }

  /** The slot as lockd keeps it (digest, no token): for the journal and snapshots. */
  stored(slot: number, key: string = this.keyOf(slot)): StoredLease {
    return {
      key,
      digest: this.digestOf(slot),
      fence: this.fence[slot],
      ttlMs: this.ttl[slot],
      expiresAtMs: this.expiresAt[slot],
      mode: this.mode[slot] as LockMode,
      holdCount: this.holdCount[slot],
      owner: this.ownerOf(slot),
    };
  }

  private shareOwner(owner: string): number {
    const known = this.ownerIds.get(owner);
    if (known !== undefined) {
      this.ownerUses[known]++;
      return known;
    }
    const id = this.freeOwnerIds.pop() ?? this.ownerLabels.length;
    this.ownerLabels[id] = owner;
    this.ownerUses[id] = 1;
    this.ownerIds.set(owner, id);
    return id;
  }

  private unshareOwner(id: number): void {
    if (--this.ownerUses[id] > 0) return;
    this.ownerIds.delete(this.ownerLabels[id] as string);
    this.ownerLabels[id] = undefined;
    this.freeOwnerIds.push(id);
  }

  private storeKey(slot: number, key: string): void {
    // Keys are validated to at most 1024 bytes, so 3 bytes per UTF-16 unit bounds them.
    const maxBytes = Math.min(key.length * 3, 4096);
    if (this.arenaEnd + maxBytes > this.arena.length) this.makeArenaRoom(maxBytes);
    const length = this.arena.write(key, this.arenaEnd, 'utf8');
    this.keyOffset[slot] = this.arenaEnd;
    this.keyLength[slot] = length;
    this.keyHash[slot] = this.hashOf(this.arena, this.arenaEnd, this.arenaEnd + length);
    this.arenaEnd += length;
  }

  /** Compacts the arena when half of it is released keys, else doubles it. */
  private makeArenaRoom(bytes: number): void {
    const liveBytes = this.arenaEnd - this.arenaGarbage;
    let size = this.arena.length;
    if (this.arenaGarbage < size / 2) size *= 2;
    while (liveBytes + bytes > size) size *= 2;
    const next = Buffer.allocUnsafe(size);
    if (this.arenaGarbage === 0) {
      // Nothing to drop (a restore fills the arena this way): one copy, not one per key.
      this.arena.copy(next, 0, 0, this.arenaEnd);
      this.arena = next;
      return;
    }
    let end = 0;
    for (let slot = 0; slot < this.highWater; slot++) {
      const length = this.keyLength[slot];
      if (length === 0) continue;
      this.arena.copy(next, end, this.keyOffset[slot], this.keyOffset[slot] + length);
      this.keyOffset[slot] = end;
      end += length;
    }
    this.arena = next;
    this.arenaEnd = end;
    this.arenaGarbage = 0;
  }

  /**
   * Draws a fresh random token for a newly allocated slot, stores its digest there and returns
   * the token (32 hex characters) for the grant's reply: lockd keeps no copy of it.
   */
  drawToken(slot: number): string {
    if (this.randomOffset + TOKEN_BYTES > RANDOM_POOL_BYTES) {
      randomFillSync(this.randomPool);
      this.randomOffset = 0;
    }
    const start = this.randomOffset;
    const end = start + TOKEN_BYTES;
    const token = this.randomPool.toString('hex', start, end);
    decodeHex(digestOfBytesAt(this.randomPool, start), this.digests, slot * DIGEST_BYTES, DIGEST_BYTES);
    // Wipe what was handed out so no later reader of the pool sees a live token.
    this.randomPool.fill(0, start, end);
    this.randomOffset = end;
    return token;
  }
}
