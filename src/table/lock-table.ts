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
 */
import { InvalidArgumentError, NotHolderError, ResourceExhaustedError } from '../errors';
import { BinaryHeap } from './heap';
import { KeyIndex } from './key-index';
import { LeaseSlots } from './lease-slots';
import {
  AcquireOutcome,
  AcquireRequest,
  HolderView,
  LeaseView,
  LockInfoView,
  LockMode,
  SessionId,
  TableObserver,
  Waiter,
} from './types';

/** Ranges the table enforces; the server fills them from its options. */
export interface TableLimits {
  defaultTtlMs: number;
  minTtlMs: number;
  maxTtlMs: number;
  maxWaitMs: number;
  defaultListLimit: number;
  maxListLimit: number;
  /** Live leases allowed at once: a direct grant beyond it is refused (RESOURCE_EXHAUSTED). */
  maxLeases: number;
  /** Parked waiters allowed at once. */
  maxWaiters: number;
}

/** Longest key, in UTF-8 bytes. */
export const MAX_KEY_BYTES = 1024;
/** Longest owner label, in UTF-8 bytes. */
export const MAX_OWNER_BYTES = 256;
/**
 * Fences reserved per journal record. A restart resumes one whole block above the last
 * reservation found on disk, so fences issued under a reservation that had not reached the disk
 * are still below every new one; a block is large enough that no flush interval uses it up.
 */
export const FENCE_BLOCK = 1 << 24;

/** A key with several holders or any waiters; a key with one holder and no queue is just its slot. */
interface KeyState {
  holders: number[];
  queue: QueuedWaiter[];
}

/**
 * Key -> state. The common case, one holder and nobody waiting, lives in a KeyIndex (no JS
 * object per key); keys with several holders or a queue live in a Map of KeyState.
 */
class KeyTable {
  private readonly single: KeyIndex;
  private readonly complex = new Map<string, KeyState>();

  constructor(private readonly slots: LeaseSlots) {
    this.single = new KeyIndex(slots);
  }

  get(key: string): number | KeyState | undefined {
    if (this.complex.size > 0) {
      const state = this.complex.get(key);
      if (state !== undefined) return state;
    }
    const slot = this.single.find(key);
    return slot < 0 ? undefined : slot;
  }

  /** Makes `slot` (which stores `key`) the key's lone holder. */
  setSingle(key: string, slot: number): void {
    this.complex.delete(key);
    this.single.insert(slot);
  }

  /** Gives the key a KeyState, taking it out of the single index if it was there. */
  setComplex(key: string, state: KeyState, formerSingle?: number): void {
    if (formerSingle !== undefined) this.single.remove(formerSingle);
    this.complex.set(key, state);
  }

  deleteComplex(key: string): void {
    this.complex.delete(key);
  }

  getComplex(key: string): KeyState | undefined {
    return this.complex.get(key);
  }

  /** Drops a lone holder's entry; false when the slot's key is complex instead. */
  removeSingle(slot: number): boolean {
    return this.single.remove(slot);
  }

  /** Every key with its holder slots; `key` is undefined for single keys (decode from the slot). */
  *entries(): IterableIterator<[string | undefined, number[]]> {
    for (const slot of this.single.indexedSlots()) yield [undefined, [slot]];
    for (const [key, state] of this.complex) yield [key, state.holders];
  }

  /** Single-holder slots whose key starts with `prefix`, and complex keys that do. */
  *keysWithPrefix(prefix: string): IterableIterator<string> {
    const bytes = Buffer.from(prefix, 'utf8');
    for (const slot of this.single.indexedSlots()) if (this.slots.keyStartsWith(slot, bytes)) yield this.slots.keyOf(slot);
    for (const key of this.complex.keys()) if (key.startsWith(prefix)) yield key;
  }
}

class QueuedWaiter implements Waiter {
  heapIndex = -1;
  constructor(
    readonly id: number,
    readonly key: string,
    readonly mode: LockMode,
    readonly owner: string | undefined,
    readonly ttlMs: number,
    readonly ephemeral: boolean,
    readonly session: SessionId,
    readonly deadlineMs: number,
  ) {}
}

const NO_OBSERVER: TableObserver = { waiterGranted() {}, waiterTimedOut() {}, changed() {} };

export class LockTable {
  private readonly slots: LeaseSlots;
  private readonly entries: KeyTable;
  /** False when nobody keeps the change stream (in-memory): then no change objects are built. */
  private readonly recording: boolean;
  private readonly leaseExpiry: BinaryHeap<number>;
  private readonly waitDeadlines = new BinaryHeap<QueuedWaiter>(
    // Equal deadlines end in arrival order, so the outcome never depends on the heap's layout.
    (a, b) => a.deadlineMs < b.deadlineMs || (a.deadlineMs === b.deadlineMs && a.id < b.id),
    (w, index) => (w.heapIndex = index),
  );
  private readonly sessionLeases = new Map<SessionId, Set<number>>();
  private readonly sessionWaiters = new Map<SessionId, Set<QueuedWaiter>>();
  private lastFence = 0;
  private fenceCeiling = 0;
  private nextWaiterId = 1;
  private waiterCount = 0;

  constructor(
    readonly limits: TableLimits,
    private readonly observer: TableObserver = NO_OBSERVER,
  ) {
    // Leases plus parked waiters never exceed maxLeases + maxWaiters (see grantNew and acquire), and
    // a promotion turns a waiter into a lease: so a waiter's grant always finds a slot.
    const slots = (this.slots = new LeaseSlots(limits.maxLeases + limits.maxWaiters));
    this.entries = new KeyTable(slots);
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
   * Grants, re-enters, parks or refuses. Throws InvalidArgumentError for out-of-range input and
   * NotHolderError for a token that names no live lease on the key.
   */
  acquire(request: AcquireRequest, now: number): AcquireOutcome {
    this.expireDue(now);
    const key = request.key;
    validateKey(key);
    const ttlMs = this.checkTtl(request.ttlMs);
    const waitMs = this.checkWait(request.waitMs);
    const mode = checkMode(request.mode);
    const owner = checkOwner(request.owner);

    if (request.token !== undefined) return this.reenter(key, request.token, mode, ttlMs, now);

    const entry = this.entries.get(key);
    if (entry === undefined) {
      const slot = this.grantNew(key, owner, mode, ttlMs, request, now);
      this.entries.setSingle(key, slot);
      return { kind: 'granted', lease: this.slots.view(slot, key), reentered: false };
    }
    if (typeof entry === 'number') {
      if (mode === LockMode.SHARED && this.slots.mode[entry] === LockMode.SHARED) {
        const slot = this.grantNew(key, owner, mode, ttlMs, request, now);
        this.entries.setComplex(key, { holders: [entry, slot], queue: [] }, entry);
        return { kind: 'granted', lease: this.slots.view(slot, key), reentered: false };
      }
    } else if (entry.queue.length === 0 && this.compatible(entry.holders, mode)) {
      const slot = this.grantNew(key, owner, mode, ttlMs, request, now);
      entry.holders.push(slot);
      return { kind: 'granted', lease: this.slots.view(slot, key), reentered: false };
    }

    if (waitMs === 0) return { kind: 'busy' };
    if (this.waiterCount >= this.limits.maxWaiters) {
      throw new ResourceExhaustedError(`${this.waiterCount} callers already wait (the limit, --max-waiters); retry later`);
    }
    if (this.slots.count + this.waiterCount >= this.slots.capacity) {
      throw new ResourceExhaustedError(`lockd holds ${this.slots.count} leases and ${this.waiterCount} waiters, all it has room for (--max-leases plus --max-waiters); retry later`);
    }
    const waiter = new QueuedWaiter(
      this.nextWaiterId++,
      key,
      mode,
      owner,
      ttlMs,
      request.ephemeral === true,
      request.session,
      waitMs < 0 ? Infinity : now + waitMs,
    );
    const state = typeof entry === 'number' ? { holders: [entry], queue: [] as QueuedWaiter[] } : entry;
    if (state !== entry) this.entries.setComplex(key, state, entry as number);
    state.queue.push(waiter);
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
    const asked = ttlMs === undefined ? undefined : this.checkTtl(ttlMs);
    const slot = this.findSlot(key, token);
    if (slot < 0) throw notHolder(key);
    const ttl = asked ?? this.slots.ttl[slot];
    this.slots.ttl[slot] = ttl;
    this.setExpiry(slot, now + ttl);
    this.recordUpdate(slot, key);
    return this.slots.view(slot, key);
  }

  /** True while `token` names a live lease on `key`. */
  isHeld(key: string, token: string, now: number): boolean {
    this.expireDue(now);
    return this.findSlot(key, token) >= 0;
  }

  /** True while a live lease on `key` carries `fence`. */
  checkFence(key: string, fence: number, now: number): boolean {
    this.expireDue(now);
    validateKey(key);
    const entry = this.entries.get(key);
    if (entry === undefined) return false;
    if (typeof entry === 'number') return this.slots.fence[entry] === fence;
    return entry.holders.some((slot) => this.slots.fence[slot] === fence);
  }

  /** Holders and waiter count of one key; empty when nobody holds it. */
  inspect(key: string, now: number): LockInfoView {
    this.expireDue(now);
    validateKey(key);
    return this.infoOf(key, this.entries.get(key));
  }

  /** Held keys starting with `prefix`, in key order, at most `limit` (<= 0: the default). */
  list(prefix: string, limit: number | undefined, now: number): LockInfoView[] {
    this.expireDue(now);
    const { defaultListLimit, maxListLimit } = this.limits;
    if (limit !== undefined && limit > maxListLimit) {
      throw new InvalidArgumentError(`limit must be at most ${maxListLimit}, got ${limit} (<= 0 means the default ${defaultListLimit})`);
    }
    const count = limit === undefined || limit <= 0 ? defaultListLimit : limit;
    // Keep the `count` smallest keys in a max-heap: O(n log count) without sorting every key.
    const chosen = new BinaryHeap<string>((a, b) => a > b);
    for (const key of this.entries.keysWithPrefix(prefix)) {
      if (chosen.size < count) chosen.push(key);
      else if (key < (chosen.peek() as string)) {
        chosen.pop();
        chosen.push(key);
      }
    }
    return chosen
      .drain()
      .sort()
      .map((key) => this.infoOf(key, this.entries.get(key)));
  }

  /** Held keys starting with `prefix` and after `startAfter`, in key order, lazily. */
  *scan(prefix: string, startAfter: string | undefined, now: number): IterableIterator<LockInfoView> {
    this.expireDue(now);
    const keys = [...this.entries.keysWithPrefix(prefix)].filter((key) => startAfter === undefined || key > startAfter).sort();
    for (const key of keys) {
      const entry = this.entries.get(key);
      if (entry !== undefined) yield this.infoOf(key, entry);
    }
  }

  /**
   * Ends a session: its waiters leave their queues (without a callback: the session is gone)
   * and its ephemeral leases are freed, granting whoever waits next. Returns the counts.
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
      for (const waiter of waiters) {
        this.unqueue(waiter);
        waiterCount++;
      }
      for (const waiter of waiters) this.promote(waiter.key, now);
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
   * behind it in. False when it is no longer parked.
   */
  cancelWaiter(waiter: Waiter, now: number): boolean {
    const queued = waiter as QueuedWaiter;
    const entry = this.entries.get(queued.key);
    if (entry === undefined || typeof entry === 'number' || !entry.queue.includes(queued)) return false;
    this.unqueue(queued);
    deleteFromSet(this.sessionWaiters, queued.session, queued);
    // Sweep before letting waiters in (after unqueueing: the cancelled waiter is never granted).
    this.expireDue(now);
    this.promote(queued.key, now);
    return true;
  }

  /** Removes every waiter from every queue and returns them (shutdown answers each). */
  drainWaiters(): Waiter[] {
    const all: Waiter[] = [];
    for (const set of this.sessionWaiters.values()) for (const waiter of set) all.push(waiter);
    for (const waiter of all) this.unqueue(waiter as QueuedWaiter);
    this.sessionWaiters.clear();
    for (const waiter of all) this.normalize(waiter.key);
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
        this.unqueue(timedOut);
        deleteFromSet(this.sessionWaiters, timedOut.session, timedOut);
        this.observer.waiterTimedOut(timedOut);
        this.promote(timedOut.key, now);
      } else {
        return;
      }
    }
  }

  /** A grant straight to a caller (not a waiter's): refused when it would pass maxLeases. */
  private grantNew(key: string, owner: string | undefined, mode: LockMode, ttlMs: number, request: AcquireRequest, now: number): number {
    if (this.slots.count >= this.limits.maxLeases) {
      throw new ResourceExhaustedError(`lockd holds ${this.slots.count} leases, the limit (--max-leases); retry once some are released`);
    }
    return this.grant(key, owner, mode, ttlMs, request.ephemeral === true, request.session, now);
  }

  /** Every live lease that outlives its connection: what a snapshot of durable state holds. */
  *durableLeases(): IterableIterator<LeaseView> {
    // By slot number, checking each slot as it is reached: safe to interleave with changes (a
    // compaction pauses between chunks), each lease is seen as it is at that moment.
    const slots = this.slots;
    for (let slot = 0; slot < slots.usedSlotBound; slot++) {
      if (slots.keyLength[slot] > 0 && slots.session[slot] === 0) yield slots.view(slot);
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
   * none left are dropped. Call on an empty table, before serving.
   */
  restore(leases: Iterable<LeaseView>, fenceCeiling: number, now: number, recordedAt: number = now): number {
    let restored = 0;
    let highest = fenceCeiling;
    for (const lease of leases) {
      if (lease.fence > highest) highest = lease.fence;
      // Time left when the state was recorded, counted from now: a wall clock that jumped
      // while lockd was down can lengthen a lease by the downtime, never cut it short.
      const remaining = Math.min(lease.expiresAtMs - recordedAt, lease.ttlMs);
      if (remaining <= 0) continue;
      if (this.slots.count >= this.slots.capacity) {
        throw new ResourceExhaustedError(`the store holds more live leases than lockd has room for (${this.slots.capacity}: --max-leases plus --max-waiters); raise --max-leases`);
      }
      const slot = this.slots.allocate(lease.key, lease.owner, lease.token, lease.fence, now + remaining, lease.ttlMs, lease.mode, 0);
      this.slots.holdCount[slot] = lease.holdCount;
      this.leaseExpiry.push(slot);
      const entry = this.entries.get(lease.key);
      if (entry === undefined) this.entries.setSingle(lease.key, slot);
      else if (typeof entry === 'number') this.entries.setComplex(lease.key, { holders: [entry, slot], queue: [] }, entry);
      else entry.holders.push(slot);
      restored++;
    }
    // A fresh store has issued nothing, so fences start at 1; otherwise skip a whole block.
    this.lastFence = highest > 0 ? highest + FENCE_BLOCK : 0;
    this.fenceCeiling = this.lastFence;
    return restored;
  }

  // -------------------------------------------------------------------------------------------

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
    return { kind: 'granted', lease: slots.view(slot, key), reentered: true };
  }

  private grant(key: string, owner: string | undefined, mode: LockMode, ttlMs: number, ephemeral: boolean, session: SessionId, now: number): number {
    const fence = ++this.lastFence;
    if (fence > this.fenceCeiling) {
      this.fenceCeiling = fence + FENCE_BLOCK - 1;
      if (this.recording) this.observer.changed({ kind: 'fence-reserve', ceiling: this.fenceCeiling });
    }
    const slot = this.slots.allocate(key, owner, undefined, fence, now + ttlMs, ttlMs, mode, ephemeral ? session : 0);
    this.leaseExpiry.push(slot);
    if (ephemeral) addToSet(this.sessionLeases, session, slot);
    else if (this.recording) this.observer.changed({ kind: 'grant', lease: this.slots.view(slot, key) });
    return slot;
  }

  /** Frees a lease's slot and hands its key to the next waiters. */
  private free(slot: number, reason: 'released' | 'expired' | 'session-closed', now: number): void {
    const slots = this.slots;
    const session = slots.session[slot];
    if (session === 0) {
      if (this.recording) this.observer.changed({ kind: 'free', key: slots.keyOf(slot), token: slots.tokenOf(slot), reason });
    } else if (reason !== 'session-closed') {
      deleteFromSet(this.sessionLeases, session, slot);
    }
    this.leaseExpiry.removeAt(slots.heapIndex[slot]);
    if (this.entries.removeSingle(slot)) {
      slots.release(slot);
      return;
    }
    const key = slots.keyOf(slot);
    slots.release(slot);
    const entry = this.entries.getComplex(key);
    if (entry === undefined) return;
    const holders = entry.holders;
    holders.splice(holders.indexOf(slot), 1);
    this.promote(key, now);
  }

  /** Grants queued waiters at the head of the key's queue while they are compatible. */
  private promote(key: string, now: number): void {
    const entry = this.entries.get(key);
    if (entry === undefined || typeof entry === 'number') return;
    const { holders, queue } = entry;
    while (queue.length > 0) {
      const next = queue[0];
      if (!this.compatible(holders, next.mode)) break;
      queue.shift();
      this.waiterCount--;
      if (next.heapIndex >= 0) this.waitDeadlines.removeAt(next.heapIndex);
      deleteFromSet(this.sessionWaiters, next.session, next);
      const slot = this.grant(key, next.owner, next.mode, next.ttlMs, next.ephemeral, next.session, now);
      holders.push(slot);
      this.observer.waiterGranted(next, this.slots.view(slot, key));
    }
    this.normalize(key);
  }

  /** Returns a key to its compact form: no entry when free, the bare slot for a lone holder. */
  private normalize(key: string): void {
    const entry = this.entries.get(key);
    if (entry === undefined || typeof entry === 'number' || entry.queue.length > 0) return;
    if (entry.holders.length === 0) this.entries.deleteComplex(key);
    else if (entry.holders.length === 1) this.entries.setSingle(key, entry.holders[0]);
  }

  /** Takes a waiter out of its queue and the deadline heap (not out of its session's set). */
  private unqueue(waiter: QueuedWaiter): void {
    const entry = this.entries.get(waiter.key);
    if (entry !== undefined && typeof entry !== 'number') {
      const index = entry.queue.indexOf(waiter);
      if (index >= 0) {
        entry.queue.splice(index, 1);
        this.waiterCount--;
      }
    }
    if (waiter.heapIndex >= 0) this.waitDeadlines.removeAt(waiter.heapIndex);
  }

  private compatible(holders: number[], mode: LockMode): boolean {
    if (holders.length === 0) return true;
    if (mode === LockMode.EXCLUSIVE) return false;
    // Holders are all shared or one exclusive, so the first one decides.
    return this.slots.mode[holders[0]] === LockMode.SHARED;
  }

  private findSlot(key: string, token: string): number {
    const entry = this.entries.get(key);
    if (entry === undefined) return -1;
    if (typeof entry === 'number') return this.slots.tokenMatches(entry, token) ? entry : -1;
    for (const slot of entry.holders) if (this.slots.tokenMatches(slot, token)) return slot;
    return -1;
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
      token: slots.tokenOf(slot),
      holdCount: slots.holdCount[slot],
      ttlMs: slots.ttl[slot],
      expiresAtMs: slots.expiresAt[slot],
    });
  }

  private infoOf(key: string, entry: number | KeyState | undefined): LockInfoView {
    if (entry === undefined) return { key, holders: [], waiters: 0 };
    const slots = typeof entry === 'number' ? [entry] : entry.holders;
    const holders: HolderView[] = slots.map((slot) => ({
      owner: this.slots.ownerOf(slot),
      mode: this.slots.mode[slot] as LockMode,
      fence: this.slots.fence[slot],
      expiresAtMs: this.slots.expiresAt[slot],
      holdCount: this.slots.holdCount[slot],
    }));
    return { key, holders, waiters: typeof entry === 'number' ? 0 : entry.queue.length };
  }

  private checkTtl(ttlMs: number | undefined): number {
    if (ttlMs === undefined) return this.limits.defaultTtlMs;
    const { minTtlMs, maxTtlMs, defaultTtlMs } = this.limits;
    if (!(ttlMs >= minTtlMs && ttlMs <= maxTtlMs)) {
      throw new InvalidArgumentError(
        `ttlMs must be between ${minTtlMs} and ${maxTtlMs} ms, got ${ttlMs} (omit it for the default ${defaultTtlMs} ms)`,
      );
    }
    return ttlMs;
  }

  private checkWait(waitMs: number | undefined): number {
    if (waitMs === undefined) return 0;
    const max = this.limits.maxWaitMs;
    if (waitMs === -1 || (waitMs >= 0 && waitMs <= max)) return waitMs;
    throw new InvalidArgumentError(`waitMs must be -1 (wait until granted) or 0..${max} ms, got ${waitMs}`);
  }
}

/** Throws InvalidArgumentError unless `key` is 1..1024 bytes of UTF-8. */
export function validateKey(key: string | undefined): asserts key is string {
  if (key === undefined) throw new InvalidArgumentError('lockKey is required');
  // A UTF-16 unit is at most 3 UTF-8 bytes, so short keys need no byte count.
  const bytes = key.length * 3 <= MAX_KEY_BYTES ? key.length : Buffer.byteLength(key, 'utf8');
  if (bytes === 0 || bytes > MAX_KEY_BYTES) {
    throw new InvalidArgumentError(`lockKey must be 1..${MAX_KEY_BYTES} bytes of UTF-8, got ${bytes} bytes`);
  }
}

function checkMode(mode: number | undefined): LockMode {
  if (mode === undefined || mode === LockMode.EXCLUSIVE) return LockMode.EXCLUSIVE;
  if (mode === LockMode.SHARED) return LockMode.SHARED;
  throw new InvalidArgumentError(`mode must be EXCLUSIVE (1) or SHARED (2), got ${mode}`);
}

function checkOwner(owner: string | undefined): string | undefined {
  if (owner === undefined || owner.length * 3 <= MAX_OWNER_BYTES) return owner;
  const bytes = Buffer.byteLength(owner, 'utf8');
  if (bytes > MAX_OWNER_BYTES) throw new InvalidArgumentError(`owner must be at most ${MAX_OWNER_BYTES} bytes, got ${bytes}`);
  return owner;
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
