/**
 * The lock table: every rule of lockd's locks, as pure logic. No I/O, no timers, no clock of its
 * own: each call takes `now`, and the owner of the table arms one timer for `nextDeadline()`.
 *
 * Rules (idl/lock_service.thrift states them for clients):
 * - Keys are independent. A key holds one EXCLUSIVE lease or any number of SHARED ones.
 * - Every grant expires at now + ttl unless renewed; expired leases free their key.
 * - Waiters are served first come, first served: a request is granted at once only when it is
 *   compatible with the holders AND nobody waits ahead of it, so a SHARED request behind a
 *   queued EXCLUSIVE waiter queues too and writers never starve.
 * - Acquiring with the token of a live lease on the same key and mode re-enters it: holdCount
 *   + 1, same token and fence, expiry pushed to at least now + ttl. Each release undoes one entry.
 * - Every grant's fence is greater than every fence issued before (one counter for all keys),
 *   and fence reservations let a restarted table continue above every fence ever issued.
 * - Ephemeral leases and waiters belong to a session and end with it.
 *
 * The table keeps no token: a slot holds its token's digest (token-digest.ts). A grant hands the
 * fresh token to its caller once; every call that presents a token hashes it once and looks the
 * digest up. Changes and durableLeases() carry digests only.
 */
import { InvalidArgumentError, NotHolderError, ResourceExhaustedError } from '../errors';
import { BinaryHeap } from './heap';
import { halfSipHash, HashKey, randomHashKey } from './keyed-hash';
import { KeyEntry, KeyTable } from './key-table';
import { LeaseSlots } from './lease-slots';
import { LeaseCursor, LeaseReplaySink, ObjectLeaseCursor } from './restore-source';
import { tokenDigest } from './token-digest';
import { AcquireOutcome, AcquireRequest, EndingLease, LeaseEndReason, LeaseView, LockInfoView, LockMode, SessionId, StoredLease, TableObserver, Waiter } from './types';
import { ArgumentLimits, checkListLimit, checkMode, checkOwner, checkTtl, checkWait, validateKey, validateKeyBound } from './validate';
import { QueuedWaiter } from './waiter-queue';

export { MAX_KEY_BYTES, MAX_OWNER_BYTES, validateKey } from './validate';

/** Ranges the table enforces; the server fills them from its options. */
export interface TableLimits extends ArgumentLimits {
  /** Live leases allowed at once: a direct grant beyond it is refused (RESOURCE_EXHAUSTED). */
  maxLeases: number;
  /** Parked waiters allowed at once. */
  maxWaiters: number;
}

/**
 * Fences reserved per journal record. A restart resumes one whole block above the last
 * reservation found on disk, so fences issued under a reservation that had not reached the disk
 * are still below every new one; a block is large enough that no flush interval uses it up.
 */
export const FENCE_BLOCK = 1 << 24;

/** Choices a test may fix; the server leaves them at their defaults. */
export interface TableOptions {
  /** Key of the hash that places keys in the key index. Default: random per table. */
  hashKey?: HashKey;
  /**
   * Where waiter ids come from. Tables that share one (a cluster node's partitions) hand out ids
   * unique across all of them, so a session can find its waits by id. Default: this table's own counter.
   */
  waiterIds?: WaiterIdSource;
}

/** A replay under way (LockTable.replay): records go in, then finish makes the table serve them. */
export interface LeaseReplay extends LeaseReplaySink {
  /**
   * Ends the replay: drops the leases with no time left at `recordedAt` (counted from `now`),
   * continues fences above `fenceCeiling`, and returns how many leases the table holds.
   */
  finish(fenceCeiling: number, now: number, recordedAt?: number): number;
}

/** Hands out waiter ids: 1, 2, 3, ... */
export class WaiterIdSource {
  private last = 0;
  next(): number {
    return ++this.last;
  }
}

/** An ending lease read straight from its slot (see TableObserver.leaseEnded). */
class EndingSlot implements EndingLease {
  slot = -1;
  endedAtMs = 0;
  constructor(private readonly slots: LeaseSlots) {}
  get key(): string {
    return this.slots.keyOf(this.slot);
  }
  get owner(): string | undefined {
    return this.slots.ownerOf(this.slot);
  }
  get fence(): number {
    return this.slots.fence[this.slot];
  }
  get mode(): LockMode {
    return this.slots.mode[this.slot] as LockMode;
  }
}

const NO_OBSERVER: TableObserver = { waiterGranted() {}, waiterTimedOut() {}, changed() {} };

export class LockTable {
  private readonly slots: LeaseSlots;
  private readonly keys: KeyTable;
  /** False when nobody keeps the change stream (in-memory): then no change objects are built. */
  private readonly recording: boolean;
  private readonly leaseExpiry: BinaryHeap<number>;
  private readonly waitDeadlines = new BinaryHeap<QueuedWaiter>(
    // Equal deadlines end in arrival order, so the outcome never depends on the heap's layout.
    (a, b) => a.deadlineMs < b.deadlineMs || (a.deadlineMs === b.deadlineMs && a.id < b.id),
    (w, index) => (w.heapIndex = index),
  );
  /** Ephemeral lease slots and parked waiters of each session, so closing one touches only its own. */
  private readonly sessionLeases = new Map<SessionId, Set<number>>();
  private readonly sessionWaiters = new Map<SessionId, Set<QueuedWaiter>>();
  private lastFence = 0;
  private fenceCeiling = 0;
  private readonly waiterIds: WaiterIdSource;
  private waiterCount = 0;
  /** The one view leaseEnded gets: no allocation or decoding unless the observer reads it. */
  private readonly ending: EndingSlot;
  /** The token drawn by the last grant(): its caller puts it in the grant's view. */
  private grantedToken = '';

  constructor(
    readonly limits: TableLimits,
    private readonly observer: TableObserver = NO_OBSERVER,
    options: TableOptions = {},
  ) {
    const hashKey = options.hashKey ?? randomHashKey();
    this.waiterIds = options.waiterIds ?? new WaiterIdSource();
    // Leases plus parked waiters never exceed maxLeases + maxWaiters (see grantNew and acquire), and
    // a promotion turns a waiter into a lease: so a waiter's grant always finds a slot.
    const slots = (this.slots = new LeaseSlots(limits.maxLeases + limits.maxWaiters, hashKey));
    this.ending = new EndingSlot(slots);
    this.keys = new KeyTable(slots, halfSipHash(Buffer.alloc(0), 0, 0, hashKey));
    this.recording = observer.recordsChanges !== false;
    this.leaseExpiry = new BinaryHeap<number>(
      (a, b) => slots.expiresAt[a] < slots.expiresAt[b],
      (slot, index) => (slots.heapIndex[slot] = index),
    );
  }

  /** Live leases. */
  get leaseCount(): number {
    return this.slots.count;
  }

  /** Parked waiters. */
  get waiterTotal(): number {
    return this.waiterCount;
  }

  /** Highest fence issued so far. */
  get currentFence(): number {
    return this.lastFence;
  }

  /**
   * What the key indexes cost, as deterministic counts for tests: the longest probe a key lookup
   * may take, and the tree nodes every scan so far has touched.
   */
  get indexCosts(): { longestProbe: number; orderNodesVisited: number } {
    return this.keys.costs;
  }

  /**
   * Grants, re-enters, parks or refuses. Throws InvalidArgumentError for out-of-range input and
   * NotHolderError for a token that names no live lease on the key.
   */
  acquire(request: AcquireRequest, now: number): AcquireOutcome {
    this.expireDue(now);
    const key = request.key;
    validateKey(key);
    const ttlMs = checkTtl(this.limits, request.ttlMs);
    const waitMs = checkWait(this.limits, request.waitMs);
    const mode = checkMode(request.mode);
    const owner = checkOwner(request.owner);

    if (request.token !== undefined) return this.reenter(key, request.token, mode, ttlMs, now);

    const entry = this.keys.find(key);
    if (entry === undefined) {
      const slot = this.grantNew(key, owner, mode, ttlMs, request, now);
      this.keys.addFirstHolder(slot);
      return { kind: 'granted', lease: this.slots.view(slot, this.grantedToken, key), reentered: false };
    }
    // First come, first served: nobody passes a waiter, even one it is compatible with.
    if (this.keys.waiterCount(entry) === 0 && this.compatible(entry, mode)) {
      const slot = this.grantNew(key, owner, mode, ttlMs, request, now);
      this.keys.addHolder(entry, slot);
      return { kind: 'granted', lease: this.slots.view(slot, this.grantedToken, key), reentered: false };
    }

    if (waitMs === 0) return { kind: 'busy' };
    if (this.waiterCount >= this.limits.maxWaiters) {
      throw new ResourceExhaustedError(`${this.waiterCount} callers already wait (the limit, --max-waiters); retry later`);
    }
    if (this.slots.count + this.waiterCount >= this.slots.capacity) {
      throw new ResourceExhaustedError(`lockd holds ${this.slots.count} leases and ${this.waiterCount} waiters, all it has room for (--max-leases plus --max-waiters); retry later`);
    }
    const waiter = new QueuedWaiter(
      this.waiterIds.next(),
      key,
      mode,
      owner,
      ttlMs,
      request.ephemeral === true,
      request.session,
      waitMs < 0 ? Infinity : now + waitMs,
    );
    this.keys.enqueue(entry, waiter);
    this.waiterCount++;
    if (waiter.deadlineMs !== Infinity) this.waitDeadlines.push(waiter);
    addToSet(this.sessionWaiters, waiter.session, waiter);
    return { kind: 'queued', waiter };
  }

  /**
   * Leaves the lease once: holdCount - 1, and at zero frees the key for the next waiters.
   * Returns false when the token names no live lease on the key.
   */
  release(key: string, token: string, now: number): boolean {
    this.expireDue(now);
    validateKey(key);
    const slot = this.findSlot(key, token);
    if (slot < 0) return false;
    const slots = this.slots;
    if (--slots.holdCount[slot] > 0) {
      this.recordUpdate(slot, key);
      return true;
    }
    this.free(slot, 'released', now);
    return true;
  }

  /** Extends a live lease to now + ttlMs (undefined: the lease's own TTL), keeping token and fence. */
  renew(key: string, token: string, ttlMs: number | undefined, now: number): LeaseView {
    this.expireDue(now);
    validateKey(key);
    const asked = ttlMs === undefined ? undefined : checkTtl(this.limits, ttlMs);
    const slot = this.findSlot(key, token);
    if (slot < 0) throw notHolder(key);
    const ttl = asked ?? this.slots.ttl[slot];
    this.slots.ttl[slot] = ttl;
    this.setExpiry(slot, now + ttl);
    this.recordUpdate(slot, key);
    // The holder presented the token: its reply echoes it (the table keeps only the digest).
    return this.slots.view(slot, token, key);
  }

  /** True while `token` names a live lease on `key`. */
  isHeld(key: string, token: string, now: number): boolean {
    this.expireDue(now);
    return this.findSlot(key, token) >= 0;
  }

  /** True while a live lease on `key` has this token digest: for a journal's own bookkeeping (no token to hash). */
  holdsDigest(key: string, digest: string, now: number): boolean {
    this.expireDue(now);
    const entry = this.keys.find(key);
    return entry !== undefined && this.keys.holderWithDigest(entry, digest) >= 0;
  }

  /** True while a live lease on `key` carries `fence`. */
  checkFence(key: string, fence: number, now: number): boolean {
    this.expireDue(now);
    validateKey(key);
    const entry = this.keys.find(key);
    return entry !== undefined && this.keys.holders(entry).some((slot) => this.slots.fence[slot] === fence);
  }

  /** Holders and waiter count of one key; empty when nobody holds it. */
  inspect(key: string, now: number): LockInfoView {
    this.expireDue(now);
    validateKey(key);
    return this.infoOf(key);
  }

  /** Held keys starting with `prefix`, in byte order, at most `limit` (<= 0: the default). */
  list(prefix: string, limit: number | undefined, now: number): LockInfoView[] {
    const count = checkListLimit(this.limits, limit);
    const found: LockInfoView[] = [];
    if (count <= 0) return found;
    for (const info of this.scan(prefix, undefined, now)) {
      found.push(info);
      if (found.length >= count) break;
    }
    return found;
  }

  /**
   * Held keys that start with `prefix` and sort after `startAfter` (from the first when
   * undefined), in UTF-8 byte order, lazily: O(log n) to start, then O(1) a key plus its
   * holders. The caller stops when it has enough; the last key it took continues the listing.
   */
  scan(prefix: string, startAfter: string | undefined, now: number): Iterable<LockInfoView> {
    this.expireDue(now);
    validateKeyBound('prefix', prefix);
    if (startAfter !== undefined) validateKeyBound('startAfter', startAfter);
    return this.infosOf(this.keys.keysFrom(prefix, startAfter));
  }

  /**
   * Frees every lease on `key` (only the one carrying `fence`, when given) whatever its hold
   * count: an operator's force-release. Returns the freed leases; waiters are let in as usual.
   */
  forceRelease(key: string, fence: number | undefined, now: number): StoredLease[] {
    this.expireDue(now);
    validateKey(key);
    const entry = this.keys.find(key);
    const holders = entry === undefined ? [] : [...this.keys.holders(entry)];
    const chosen = holders.filter((slot) => fence === undefined || this.slots.fence[slot] === fence);
    const freed = chosen.map((slot) => this.slots.stored(slot, key));
    for (const slot of chosen) this.free(slot, 'force-released', now);
    return freed;
  }

  /**
   * Ends a session: its waiters leave their queues (without a callback: the session is gone)
   * and its ephemeral leases are freed, granting whoever waits next. Returns the counts.
   * Costs O(1) a waiter or lease of the session (plus heap upkeep), whatever else is parked.
   */
  closeSession(session: SessionId, now: number): { leases: number; waiters: number } {
    // Sweep first, as every call does: a wait already over must time out, not be granted below.
    this.expireDue(now);
    const waiters = this.sessionWaiters.get(session);
    const leases = this.sessionLeases.get(session);
    this.sessionWaiters.delete(session);
    this.sessionLeases.delete(session);
    let waiterCount = 0;
    if (waiters !== undefined) {
      const touched = new Set<KeyEntry>();
      for (const waiter of waiters) {
        const entry = this.unqueue(waiter);
        if (entry !== undefined) touched.add(entry);
        waiterCount++;
      }
      for (const entry of touched) this.promote(entry, now);
    }
    let leaseCount = 0;
    if (leases !== undefined) {
      for (const slot of leases) {
        this.free(slot, 'session-closed', now);
        leaseCount++;
      }
    }
    this.expireDue(now);
    return { leases: leaseCount, waiters: waiterCount };
  }

  /**
   * Takes one parked waiter out of its queue (the caller gave up) and lets compatible waiters
   * behind it in. False when it is no longer parked. O(1) plus the grants it causes.
   */
  cancelWaiter(waiter: Waiter, now: number): boolean {
    const queued = waiter as QueuedWaiter;
    const entry = this.unqueue(queued);
    if (entry === undefined) return false;
    deleteFromSet(this.sessionWaiters, queued.session, queued);
    // Sweep before letting waiters in (after unqueueing: the cancelled waiter is never granted).
    this.expireDue(now);
    this.promote(entry, now);
    return true;
  }

  /** Removes every waiter from every queue and returns them (shutdown answers each). */
  drainWaiters(): Waiter[] {
    const all: QueuedWaiter[] = [];
    for (const set of this.sessionWaiters.values()) for (const waiter of set) all.push(waiter);
    this.sessionWaiters.clear();
    const touched = new Set<KeyEntry>();
    for (const waiter of all) {
      const entry = this.unqueue(waiter);
      if (entry !== undefined) touched.add(entry);
    }
    for (const entry of touched) this.keys.settle(entry);
    return all;
  }

  /** When the next lease expires or wait times out; Infinity when nothing is pending. */
  nextDeadline(): number {
    const lease = this.leaseExpiry.peek();
    const waiter = this.waitDeadlines.peek();
    const leaseAt = lease === undefined ? Infinity : this.slots.expiresAt[lease];
    const waiterAt = waiter === undefined ? Infinity : waiter.deadlineMs;
    return leaseAt < waiterAt ? leaseAt : waiterAt;
  }

  /**
   * Expires leases and ends waits whose time has come, in time order (a lease before a wait
   * due at the same moment, so the waiter still gets it). Every public method calls this first.
   */
  expireDue(now: number): void {
    const slots = this.slots;
    for (;;) {
      const lease = this.leaseExpiry.peek();
      const waiter = this.waitDeadlines.peek();
      const leaseAt = lease === undefined ? Infinity : slots.expiresAt[lease];
      const waiterAt = waiter === undefined ? Infinity : waiter.deadlineMs;
      if (leaseAt <= now && leaseAt <= waiterAt) {
        this.free(lease as number, 'expired', now);
      } else if (waiterAt <= now) {
        const timedOut = waiter as QueuedWaiter;
        const entry = this.unqueue(timedOut);
        deleteFromSet(this.sessionWaiters, timedOut.session, timedOut);
        this.observer.waiterTimedOut(timedOut);
        if (entry !== undefined) this.promote(entry, now);
      } else {
        return;
      }
    }
  }

  /** Every live lease that outlives its connection: what a snapshot of durable state holds. */
  *durableLeases(): IterableIterator<StoredLease> {
    // By slot number, checking each slot as it is reached: safe to interleave with changes (a
    // compaction pauses between chunks), each lease is seen as it is at that moment.
    const slots = this.slots;
    for (let slot = 0; slot < slots.usedSlotBound; slot++) {
      if (slots.keyLength[slot] > 0 && slots.session[slot] === 0) yield slots.stored(slot);
    }
  }

  /** The fence ceiling a snapshot must record. */
  get reservedFenceCeiling(): number {
    return this.fenceCeiling;
  }

  /**
   * Loads recovered leases and continues fences above `fenceCeiling` and above every restored
   * fence. Each lease gets the time it had left at `recordedAt` (when the state was last written,
   * on the clock of the process that wrote it), counted from `now`, at most its TTL; leases with
   * none left are dropped. Leases of one key become its holders in the order given. Call on an
   * empty table, before serving.
   *
   * Each lease is encoded into scratch bytes and copied into its slot, as a replay does (replay).
   */
  restore(leases: Iterable<StoredLease>, fenceCeiling: number, now: number, recordedAt: number = now): number {
    const cursor: LeaseCursor = new ObjectLeaseCursor(leases);
    this.keys.deferOrder();
    // A known count sizes the key index once.
    if (Array.isArray(leases)) this.keys.reserve(leases.length);
    const slots = this.slots;
    const restoredSlots: number[] = [];
    let highest = fenceCeiling;
    while (cursor.next()) {
      const fence = cursor.fence;
      if (fence > highest) highest = fence;
      // Time left when the state was recorded, counted from now: a wall clock that jumped
      // while lockd was down can lengthen a lease by the downtime, never cut it short.
      const ttlMs = cursor.ttlMs;
      const remaining = Math.min(cursor.expiresAtMs - recordedAt, ttlMs);
      if (remaining <= 0) continue;
      if (slots.count >= slots.capacity) {
        throw new ResourceExhaustedError(`the store holds more live leases than lockd has room for (${slots.capacity}: --max-leases plus --max-waiters); raise --max-leases`);
      }
      const slot = slots.allocateFromBytes(cursor.bytes, cursor.keyAt, cursor.keyLength, cursor.digestAt, cursor.owner, fence, now + remaining, ttlMs, cursor.mode);
      slots.holdCount[slot] = cursor.holdCount;
      // The same lease twice (no store hands one out so): both are kept, as restore always did.
      if (this.keys.restoreHolder(slot) >= 0) this.keys.addHolder(this.keys.find(slots.keyOf(slot))!, slot);
      restoredSlots.push(slot);
    }
    // One heapify for all (the table is empty), not a push per lease; one sort for the key order.
    this.leaseExpiry.fill(restoredSlots);
    this.keys.buildOrder();
    // A fresh store has issued nothing, so fences start at 1; otherwise skip a whole block.
    this.lastFence = highest > 0 ? highest + FENCE_BLOCK : 0;
    this.fenceCeiling = this.lastFence;
    return restoredSlots.length;
  }

  /**
   * Starts a replay of a store's records straight into this empty table (see LeaseReplaySink):
   * the store reads its files into the returned sink, then the caller calls its finish. Leases
   * are held by their recorded terms until finish, which gives each the time it had left at
   * `recordedAt`, counted from `now` (as restore does), drops those with none left, and continues
   * fences above `fenceCeiling` and every replayed fence. Until finish the table must not serve.
   * Expired leases take a slot until finish: a store holding more leases than the table has
   * room for is refused (RESOURCE_EXHAUSTED) even when some of them have expired.
   */
  replay(): LeaseReplay {
    const slots = this.slots;
    const keys = this.keys;
    let highest = 0;
    // Built at finish, in one pass over the sorted keys (see KeyTable.deferOrder).
    keys.deferOrder();
    const drop = (slot: number): void => {
      const entry = keys.removeHolder(slot);
      slots.release(slot);
      if (entry !== undefined) keys.settle(entry);
    };
    return {
      grant: (bytes, keyAt, keyLength, digestAt, fence, mode, owner, holdCount, ttlMs, expiresAtMs) => {
        if (fence > highest) highest = fence;
        // No key is empty (validateKey): a record with none holds no lease a client could name.
        if (keyLength === 0) return;
        // At capacity, a grant recorded again over its lease must free the old one to find room.
        if (slots.count >= slots.capacity) {
          const replaced = keys.holderWithBytes(bytes, keyAt, keyLength, digestAt);
          if (replaced >= 0) drop(replaced);
          if (slots.count >= slots.capacity) {
            throw new ResourceExhaustedError(`the store holds more leases than lockd has room for (${slots.capacity}: --max-leases plus --max-waiters); raise --max-leases`);
          }
        }
        const slot = slots.allocateFromBytes(bytes, keyAt, keyLength, digestAt, owner, fence, expiresAtMs, ttlMs, mode);
        slots.holdCount[slot] = holdCount;
        // A grant replayed over a snapshot that already holds it: the record is the newer state.
        const replaced = keys.restoreHolder(slot);
        if (replaced >= 0) {
          drop(replaced);
          keys.restoreHolder(slot);
        }
      },
      update: (bytes, keyAt, keyLength, digestAt, holdCount, ttlMs, expiresAtMs) => {
        const slot = keys.holderWithBytes(bytes, keyAt, keyLength, digestAt);
        if (slot < 0) return;
        slots.holdCount[slot] = holdCount;
        slots.ttl[slot] = ttlMs;
        slots.expiresAt[slot] = expiresAtMs;
      },
      free: (bytes, keyAt, keyLength, digestAt) => {
        const slot = keys.holderWithBytes(bytes, keyAt, keyLength, digestAt);
        if (slot >= 0) drop(slot);
      },
      get leaseCount() {
        return slots.count;
      },
      finish: (fenceCeiling, now, recordedAt = now) => {
        // The survivors' slots, heapified at once (no growth of the array, no sift per lease).
        const live = new Array<number>(slots.count);
        let restored = 0;
        for (let slot = 0; slot < slots.usedSlotBound; slot++) {
          if (slots.keyLength[slot] === 0) continue;
          // As in restore: the time left when the state was recorded, counted from now.
          const remaining = Math.min(slots.expiresAt[slot] - recordedAt, slots.ttl[slot]);
          if (remaining <= 0) {
            drop(slot);
            continue;
          }
          slots.expiresAt[slot] = now + remaining;
          live[restored++] = slot;
        }
        live.length = restored;
        this.leaseExpiry.fill(live);
        keys.buildOrder();
        if (fenceCeiling > highest) highest = fenceCeiling;
        this.lastFence = highest > 0 ? highest + FENCE_BLOCK : 0;
        this.fenceCeiling = this.lastFence;
        return restored;
      },
    };
  }

  // -------------------------------------------------------------------------------------------

  /** A grant straight to a caller (not a waiter's): refused when it would pass maxLeases. */
  private grantNew(key: string, owner: string | undefined, mode: LockMode, ttlMs: number, request: AcquireRequest, now: number): number {
    if (this.slots.count >= this.limits.maxLeases) {
      throw new ResourceExhaustedError(`lockd holds ${this.slots.count} leases, the limit (--max-leases); retry once some are released`);
    }
    return this.grant(key, owner, mode, ttlMs, request.ephemeral === true, request.session, now);
  }

  private reenter(key: string, token: string, mode: LockMode, ttlMs: number, now: number): AcquireOutcome {
    const slot = this.findSlot(key, token);
    if (slot < 0) throw notHolder(key);
    const slots = this.slots;
    if (slots.mode[slot] !== mode) {
      throw new InvalidArgumentError(
        `the lease on ${JSON.stringify(key)} is ${modeName(slots.mode[slot])}; re-entering it as ${modeName(mode)} is not allowed (release it and acquire anew)`,
      );
    }
    slots.holdCount[slot]++;
    slots.ttl[slot] = ttlMs;
    if (now + ttlMs > slots.expiresAt[slot]) this.setExpiry(slot, now + ttlMs);
    this.recordUpdate(slot, key);
    // The caller presented the token: the reply echoes it (the table keeps only the digest).
    return { kind: 'granted', lease: slots.view(slot, token, key), reentered: true };
  }

  private grant(key: string, owner: string | undefined, mode: LockMode, ttlMs: number, ephemeral: boolean, session: SessionId, now: number): number {
    const fence = ++this.lastFence;
    if (fence > this.fenceCeiling) {
      this.fenceCeiling = fence + FENCE_BLOCK - 1;
      if (this.recording) this.observer.changed({ kind: 'fence-reserve', ceiling: this.fenceCeiling });
    }
    const slot = this.slots.allocate(key, owner, undefined, fence, now + ttlMs, ttlMs, mode, ephemeral ? session : 0);
    this.grantedToken = this.slots.drawToken(slot);
    this.leaseExpiry.push(slot);
    if (ephemeral) addToSet(this.sessionLeases, session, slot);
    else if (this.recording) this.observer.changed({ kind: 'grant', lease: this.slots.stored(slot, key) });
    return slot;
  }

  /** Frees a lease's slot and hands its key to the next waiters. */
  private free(slot: number, reason: LeaseEndReason, now: number): void {
    const slots = this.slots;
    if (this.observer.leaseEnded !== undefined) {
      this.ending.slot = slot;
      this.ending.endedAtMs = now;
      this.observer.leaseEnded(this.ending, reason);
    }
    const session = slots.session[slot];
    if (session === 0) {
      if (this.recording) this.observer.changed({ kind: 'free', key: slots.keyOf(slot), digest: slots.digestOf(slot), reason });
    } else if (reason !== 'session-closed') {
      deleteFromSet(this.sessionLeases, session, slot);
    }
    this.leaseExpiry.removeAt(slots.heapIndex[slot]);
    const entry = this.keys.removeHolder(slot);
    slots.release(slot);
    if (entry !== undefined) this.promote(entry, now);
  }

  /**
   * Grants the waiters at the head of the key's queue while they are compatible with the
   * holders: O(1) a grant, so letting k SHARED waiters in at once costs O(k).
   */
  private promote(entry: KeyEntry, now: number): void {
    const keys = this.keys;
    for (let next = keys.firstWaiter(entry); next !== undefined && this.compatible(entry, next.mode); next = keys.firstWaiter(entry)) {
      this.unqueue(next);
      deleteFromSet(this.sessionWaiters, next.session, next);
      const slot = this.grant(next.key, next.owner, next.mode, next.ttlMs, next.ephemeral, next.session, now);
      keys.addHolder(entry, slot);
      this.observer.waiterGranted(next, this.slots.view(slot, this.grantedToken, next.key));
    }
    keys.settle(entry);
  }

  /** Takes a waiter out of its queue and the deadline heap (not out of its session's set). */
  private unqueue(waiter: QueuedWaiter): KeyEntry | undefined {
    const entry = this.keys.unqueue(waiter);
    if (entry !== undefined) this.waiterCount--;
    if (waiter.heapIndex >= 0) this.waitDeadlines.removeAt(waiter.heapIndex);
    return entry;
  }

  /** Whether a request in `mode` can share the key with its holders. */
  private compatible(entry: KeyEntry, mode: LockMode): boolean {
    if (this.keys.holderCount(entry) === 0) return true;
    return mode === LockMode.SHARED && this.keys.holderMode(entry) === LockMode.SHARED;
  }

  /** The slot of the live lease on `key` whose token is `token` (hashed once), or -1. */
  private findSlot(key: string, token: string): number {
    const entry = this.keys.find(key);
    if (entry === undefined) return -1;
    // Hashed only once the key is held: a call on a free key costs no hash.
    const digest = tokenDigest(token);
    return digest === undefined ? -1 : this.keys.holderWithDigest(entry, digest);
  }

  private setExpiry(slot: number, expiresAtMs: number): void {
    this.slots.expiresAt[slot] = expiresAtMs;
    this.leaseExpiry.update(this.slots.heapIndex[slot]);
  }

  private recordUpdate(slot: number, key: string): void {
    const slots = this.slots;
    if (!this.recording || slots.session[slot] !== 0) return;
    this.observer.changed({
      kind: 'update',
      key,
      digest: slots.digestOf(slot),
      holdCount: slots.holdCount[slot],
      ttlMs: slots.ttl[slot],
      expiresAtMs: slots.expiresAt[slot],
    });
  }

  private *infosOf(keys: Iterable<string>): Generator<LockInfoView> {
    for (const key of keys) yield this.infoOf(key);
  }

  private infoOf(key: string): LockInfoView {
    const entry = this.keys.find(key);
    if (entry === undefined) return { key, holders: [], waiters: 0 };
    const slots = this.slots;
    const holders = this.keys.holders(entry).map((slot) => ({
      owner: slots.ownerOf(slot),
      mode: slots.mode[slot] as LockMode,
      fence: slots.fence[slot],
      expiresAtMs: slots.expiresAt[slot],
      holdCount: slots.holdCount[slot],
    }));
    return { key, holders, waiters: this.keys.waiterCount(entry) };
  }
}

function notHolder(key: string): NotHolderError {
  return new NotHolderError(`the token names no live lease on ${JSON.stringify(key)}: it was released, expired or never granted`);
}

/** "EXCLUSIVE" or "SHARED". */
export function modeName(mode: number): string {
  return mode === LockMode.SHARED ? 'SHARED' : 'EXCLUSIVE';
}

function addToSet<K, V>(map: Map<K, Set<V>>, key: K, value: V): void {
  const set = map.get(key);
  if (set === undefined) map.set(key, new Set([value]));
  else set.add(value);
}

function deleteFromSet<K, V>(map: Map<K, Set<V>>, key: K, value: V): void {
  const set = map.get(key);
  if (set === undefined) return;
  set.delete(value);
  if (set.size === 0) map.delete(key);
}
