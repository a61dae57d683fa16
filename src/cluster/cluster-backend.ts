/**
 * The Backend of a cluster node: the lock table for the partitions this node owns, journaled in
 * etcd. It mirrors LocalBackend (the pure LockTable + a clock + one expiry timer + a store), with
 * the etcd journal as the store and `sync` = the partition journal commit (a reply that changed
 * state is sent only once its batch committed under this node's claim).
 *
 * Each owned partition has its own LockTable, built from the journal's replay when the partition
 * is adopted and discarded when it is evicted. Tables count fences k = 1, 2, ... per partition;
 * what leaves this module is the published fence fenceBase + k × P + p (partitions.ts), so fences
 * strictly increase per key across owners and never collide across keys.
 *
 * Calls for a key whose partition this node does not serve (another node owns it, nobody does
 * yet, or this node's ownership deadline passed) throw UnavailableError naming the owner's
 * address when it is known; forwarding is the front end's job.
 *
 * Ephemeral grants (released when their connection closes) are journaled too, by this module,
 * since the table reports only durable leases: a new owner that did not know them could grant
 * the key while the old owner is merely paused and its holder still believes it holds the lock
 * (design study §4.8). A new owner keeps them as ordinary leases until their expiry; frees are
 * journaled on release and on the session's end (a free lost with a crash only keeps the key
 * held until the lease's TTL, the safe direction).
 *
 * --max-leases and --max-waiters bound the node: admission counts every table's leases and
 * waiters. Each table still reserves address space for the full limit (virtual memory only:
 * pages are touched as leases use them); one table per node with partition-aware fences (design
 * study §4.7) would reserve it once.
 */
import { ResourceExhaustedError, UnavailableError } from '../errors';
import type { Backend, BackendStats, LockEventListener, SessionSink } from '../backend/backend';
import { SessionRegistry } from '../backend/session-registry';
import { LockTable, type TableLimits, WaiterIdSource } from '../table/lock-table';
import { tokenDigest } from '../table/token-digest';
import type { AcquireOutcome, AcquireRequest, Clock, LeaseView, LockInfoView, SessionId, StoredLease, TableChange, Waiter } from '../table/types';
import type { EtcdJournal, PartitionReplay, SyncDone } from './etcd-journal';
import { localFence, partitionOf, publishFence } from './partitions';

/** setTimeout's longest delay; later deadlines re-arm when it fires. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** Who serves which partition, as the partition manager knows it. */
export interface PartitionDirectory {
  /** True while this node may answer for p (claimed, replayed, ownership deadline not passed). */
  serves(p: number): boolean;
  /** The owner of p as last read from etcd, with its address when known. */
  ownerOf(p: number): { nodeId: string; addr: string | undefined } | undefined;
}

export interface ClusterBackendOptions {
  /** This node's id (to tell "another node owns it" from "our ownership lapsed"). */
  nodeId: string;
  partitions: number;
  /** Added to every published fence (config.fenceBase: continue above a migrated single node). */
  fenceBase: number;
  /** Replayed leases are honoured this much longer than their journaled expiry (other nodes' clocks). */
  maxClockSkewMs: number;
}

/** An ephemeral lease this node granted and journaled, as the table knows it (partition-local fence, token digest). */
interface EphemeralLease {
  lease: StoredLease;
  readonly session: SessionId;
}

/** One owned partition: its table, its expiry timer, its journaled ephemeral leases by token digest. */
class PartitionTable {
  timer: NodeJS.Timeout | undefined;
  timerAt = Infinity;
  readonly ephemeral = new Map<string, EphemeralLease>();
  constructor(
    readonly p: number,
    readonly table: LockTable,
  ) {}
}

export class ClusterBackend implements Backend {
  readonly durable = true;
  private readonly tables = new Map<number, PartitionTable>();
  private readonly sessions = new SessionRegistry<SessionSink>();
  /** One counter for every partition's table: a session finds its waits by id, whatever their partition. */
  private readonly waiterIds = new WaiterIdSource();
  private readonly listeners: LockEventListener[] = [];
  /**
   * Partitions with changes appended since the last `sync` call, each with the claim the changes
   * went to: what the next sync waits for. A partition evicted (or claimed anew) before that sync
   * stays here, so the sync fails instead of acknowledging changes that were never written.
   */
  private dirty = new Map<number, string>();
  private closed = false;

  constructor(
    private readonly limits: TableLimits,
    private readonly journal: EtcdJournal,
    private readonly directory: PartitionDirectory,
    private readonly clock: Clock,
    private readonly options: ClusterBackendOptions,
  ) {
    journal.stateOf = (p) => {
      const part = this.tables.get(p);
      return part && { leases: this.snapshotLeases(part), leaseCount: part.table.leaseCount, fenceCeiling: part.table.reservedFenceCeiling };
    };
  }

  /** Partitions this node serves now (a table here, and the ownership deadline not passed). */
  ownedPartitions(): number[] {
    return [...this.tables.keys()].filter((p) => this.directory.serves(p)).sort((a, b) => a - b);
  }

  /**
   * Builds p's table from its replay (PartitionHooks.adopt). Leases keep the time they had left
   * on the journaling node's clock plus the clock-skew margin, at most their TTL from now.
   */
  adopt(p: number, replay: PartitionReplay): void {
    this.evict(p, 'adopted again');
    const table = new LockTable(this.limits, {
      waiterGranted: (waiter, lease) => {
        if (waiter.ephemeral) this.journalEphemeralGrant(part, lease, waiter.session);
        this.sessions.get(waiter.session)?.waiterGranted(waiter, this.publish(p, lease));
      },
      waiterTimedOut: (waiter) => this.sessions.get(waiter.session)?.waiterTimedOut(waiter),
      changed: (change: TableChange) => this.append(p, change),
    }, { waiterIds: this.waiterIds });
    const part: PartitionTable = new PartitionTable(p, table);
    const now = this.clock.now();
    table.restore(replay.leases, replay.fenceCeiling, now, now - this.options.maxClockSkewMs);
    this.tables.set(p, part);
    this.armTimer(part);
  }

  /** Drops p's table (PartitionHooks.evict): its parked waiters are answered UNAVAILABLE. */
  evict(p: number, reason: string): void {
    const part = this.tables.get(p);
    if (part === undefined) return;
    this.tables.delete(p);
    // Not forgotten from `dirty`: replies to its unwritten changes must fail at the next sync.
    clearTimeout(part.timer);
    const error = this.unavailable(p, `partition ${p} left this node (${reason})`);
    for (const waiter of part.table.drainWaiters()) {
      const sink = this.sessions.get(waiter.session);
      // The waiter's partition left this node (hand-off, lost ownership): UNAVAILABLE, retry.
      if (sink?.waiterRefused) sink.waiterRefused(waiter, error);
      else sink?.waiterTimedOut(waiter);
    }
  }

  openSession(sink: SessionSink): SessionId {
    return this.sessions.open(sink);
  }

  closeSession(session: SessionId): { leases: number; waiters: number } {
    this.sessions.delete(session);
    const now = this.clock.now();
    let leases = 0;
    let waiters = 0;
    for (const part of this.tables.values()) {
      const closed = part.table.closeSession(session, now);
      leases += closed.leases;
      waiters += closed.waiters;
      // The table freed the session's ephemeral leases without reporting it: journal the frees.
      for (const [digest, entry] of part.ephemeral) if (entry.session === session) this.journalEphemeralEnd(part, entry.lease.key, digest);
      this.armTimer(part);
    }
    return { leases, waiters };
  }

  acquire(request: AcquireRequest): AcquireOutcome {
    const part = this.route(request.key);
    const waiters = this.admit(request);
    const outcome = part.table.acquire(request, this.clock.now());
    if (outcome.kind === 'queued' && waiters >= this.limits.maxWaiters) {
      part.table.cancelWaiter(outcome.waiter, this.clock.now());
      throw new ResourceExhaustedError(`${waiters} callers already wait on this node (the limit, --max-waiters); retry later`);
    }
    if (outcome.kind === 'granted') {
      if (outcome.reentered) this.journalEphemeralUpdate(part, outcome.lease);
      else if (request.ephemeral === true) this.journalEphemeralGrant(part, outcome.lease, request.session);
    }
    this.armTimer(part);
    return outcome.kind === 'granted' ? { ...outcome, lease: this.publish(part.p, outcome.lease) } : outcome;
  }

  release(key: string, token: string): boolean {
    const part = this.route(key);
    return this.releaseIn(part, key, token);
  }

  renew(key: string, token: string, ttlMs: number | undefined): LeaseView {
    const part = this.route(key);
    const lease = part.table.renew(key, token, ttlMs, this.clock.now());
    this.journalEphemeralUpdate(part, lease);
    this.armTimer(part);
    return this.publish(part.p, lease);
  }

  rollBack(key: string, token: string): void {
    // No serving check: a partition that left this node took its table (and the change) with it.
    const p = partitionOf(key, this.options.partitions);
    const part = this.tables.get(p);
    // A partition the journal already dropped (ownership lost; the sync that failed is why this
    // rolls back) is about to be evicted: its table goes, and nothing of it may be journaled.
    if (part !== undefined && this.journal.isOpen(p)) this.releaseIn(part, key, token);
  }

  isHeld(key: string, token: string): boolean {
    return this.route(key).table.isHeld(key, token, this.clock.now());
  }

  checkFence(key: string, fence: number): boolean {
    const part = this.route(key);
    const k = localFence(fence, part.p, this.options.partitions, this.options.fenceBase);
    return k !== undefined && part.table.checkFence(key, k, this.clock.now());
  }

  inspect(key: string): LockInfoView {
    const part = this.route(key);
    return this.publishInfo(part.p, part.table.inspect(key, this.clock.now()));
  }

  /** Held keys of the partitions this node serves, merged in byte order (other nodes' keys are the front end's fan-out). */
  *scan(prefix: string, startAfter: string | undefined): Iterable<LockInfoView> {
    const now = this.clock.now();
    const heads: Array<{ p: number; it: Iterator<LockInfoView>; next: IteratorResult<LockInfoView> }> = [];
    for (const part of this.tables.values()) {
      if (!this.directory.serves(part.p)) continue;
      const it = part.table.scan(prefix, startAfter, now)[Symbol.iterator]();
      heads.push({ p: part.p, it, next: it.next() });
    }
    for (;;) {
      let best: (typeof heads)[number] | undefined;
      for (const head of heads) if (!head.next.done && (best === undefined || head.next.value.key < (best.next.value as LockInfoView).key)) best = head;
      if (best === undefined) return;
      yield this.publishInfo(best.p, best.next.value as LockInfoView);
      best.next = best.it.next();
    }
  }

  cancelWaiter(waiter: Waiter): boolean {
    const part = this.tables.get(partitionOf(waiter.key, this.options.partitions));
    if (part === undefined) return false;
    const cancelled = part.table.cancelWaiter(waiter, this.clock.now());
    this.armTimer(part);
    return cancelled;
  }

  drainWaiters(): Waiter[] {
    return [...this.tables.values()].flatMap((part) => part.table.drainWaiters());
  }

  /**
   * Calls `done` once the changes of every partition changed since the last sync call are
   * committed in etcd, under the claim they were made in; with an error if any cannot be.
   */
  sync(done: (error: Error | null) => void): void {
    const partitions = [...this.dirty];
    this.dirty = new Map();
    if (partitions.length === 0) {
      done(null);
      return;
    }
    let left = partitions.length;
    let failed = false;
    const one: SyncDone = (error) => {
      if (failed) return;
      if (error !== null) {
        failed = true;
        done(error);
      } else if (--left === 0) done(null);
    };
    for (const [p, claimRev] of partitions) this.journal.sync(p, one, claimRev);
  }

  writeBehind(): void {
    for (const p of this.dirty.keys()) this.journal.writeBehind(p);
  }

  addListener(listener: LockEventListener): void {
    this.listeners.push(listener);
  }

  stats(): BackendStats {
    let leases = 0;
    let waiters = 0;
    for (const part of this.tables.values()) {
      leases += part.table.leaseCount;
      waiters += part.table.waiterTotal;
    }
    return { leases, waiters };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const part of this.tables.values()) clearTimeout(part.timer);
    await this.journal.close();
  }

  private releaseIn(part: PartitionTable, key: string, token: string): boolean {
    const now = this.clock.now();
    const released = part.table.release(key, token, now);
    // Hashed again only while this partition has journaled ephemeral leases.
    const digest = released && part.ephemeral.size > 0 ? tokenDigest(token) : undefined;
    if (digest !== undefined && part.ephemeral.has(digest)) {
      if (part.table.holdsDigest(key, digest, now)) this.journalUpdate(part, digest, this.afterPartialRelease(part, digest));
      else this.journalEphemeralEnd(part, key, digest);
    }
    this.armTimer(part);
    return released;
  }

  /** Journals an ephemeral grant, with its token's digest (the journal never holds a token). */
  private journalEphemeralGrant(part: PartitionTable, granted: LeaseView, session: SessionId): void {
    const lease = storedLease(granted, tokenDigest(granted.token)!);
    part.ephemeral.set(lease.digest, { lease, session });
    this.append(part.p, { kind: 'grant', lease });
  }

  /** Journals a re-entry or renewal of a journaled ephemeral lease (no-op for others: the table journals them). */
  private journalEphemeralUpdate(part: PartitionTable, lease: LeaseView): void {
    if (part.ephemeral.size === 0) return;
    const digest = tokenDigest(lease.token);
    if (digest === undefined || !part.ephemeral.has(digest)) return;
    this.journalUpdate(part, digest, storedLease(lease, digest));
  }

  /** Journals the new terms of the journaled ephemeral lease with this digest. */
  private journalUpdate(part: PartitionTable, digest: string, lease: StoredLease): void {
    const entry = part.ephemeral.get(digest);
    if (entry === undefined) return;
    entry.lease = lease;
    const { key, holdCount, ttlMs, expiresAtMs } = lease;
    this.append(part.p, { kind: 'update', key, digest, holdCount, ttlMs, expiresAtMs });
  }

  private journalEphemeralEnd(part: PartitionTable, key: string, digest: string): void {
    if (!part.ephemeral.delete(digest)) return;
    this.append(part.p, { kind: 'free', key, digest, reason: 'released' });
  }

  /** A held ephemeral lease's current state (after a partial release: holdCount and expiry as the table has them). */
  private afterPartialRelease(part: PartitionTable, digest: string): StoredLease {
    const lease = part.ephemeral.get(digest)!.lease;
    return { ...lease, holdCount: lease.holdCount - 1 };
  }

  private append(p: number, change: TableChange): void {
    const claimRev = this.journal.append(p, change);
    const earlier = this.dirty.get(p);
    // Changes of one sync made under two claims of p (dropped and claimed again in between):
    // the earlier claim's can no longer be written, so that sync must fail; '' matches no claim.
    this.dirty.set(p, earlier === undefined || earlier === claimRev ? claimRev : '');
  }

  /** What a snapshot of p holds: the table's durable leases and the journaled ephemeral ones still held. */
  private *snapshotLeases(part: PartitionTable): Iterable<StoredLease> {
    yield* part.table.durableLeases();
    const now = this.clock.now();
    for (const [digest, entry] of part.ephemeral) {
      // An ephemeral lease that expired is freed by the table silently; forget it here too.
      if (part.table.holdsDigest(entry.lease.key, digest, now)) yield entry.lease;
      else part.ephemeral.delete(digest);
    }
  }

  /**
   * --max-leases and --max-waiters bound the node, not each partition's table: a new lease or
   * wait is refused once the node's tables together hold that many (a re-entry holds nothing new).
   * Returns the waiters parked on the node, for the check once the acquire is known to queue.
   */
  private admit(request: AcquireRequest): number {
    const { leases, waiters } = this.stats();
    if (request.token !== undefined) return waiters;
    if (leases >= this.limits.maxLeases) {
      throw new ResourceExhaustedError(`this node holds ${leases} leases, its limit (--max-leases); retry later or on a node with fewer`);
    }
    return waiters;
  }

  /** The table serving `key`, or UnavailableError naming who serves it. */
  private route(key: string): PartitionTable {
    const p = partitionOf(key, this.options.partitions);
    const part = this.tables.get(p);
    if (part !== undefined && this.directory.serves(p)) return part;
    throw this.unavailable(p, `this node does not serve partition ${p} of ${JSON.stringify(key)}`);
  }

  private unavailable(p: number, what: string): UnavailableError {
    const owner = this.directory.ownerOf(p);
    let where: string;
    if (owner === undefined) where = 'no node owns it right now; retry shortly';
    else if (owner.nodeId === this.options.nodeId) where = "this node's ownership lapsed (etcd unreachable?); retry shortly or ask another node";
    else where = `node ${owner.nodeId} at ${owner.addr ?? 'an unknown address'} owns it; ask that node`;
    return new UnavailableError(`${what}: ${where}`);
  }

  private publish(p: number, lease: LeaseView): LeaseView {
    return { ...lease, fence: publishFence(lease.fence, p, this.options.partitions, this.options.fenceBase) };
  }

  private publishInfo(p: number, info: LockInfoView): LockInfoView {
    if (info.holders.length === 0) return info;
    const { partitions, fenceBase } = this.options;
    return { ...info, holders: info.holders.map((h) => ({ ...h, fence: publishFence(h.fence, p, partitions, fenceBase) })) };
  }

  /** As LocalBackend: one timer per table, re-armed only when its next deadline moves earlier. */
  private armTimer(part: PartitionTable): void {
    const next = part.table.nextDeadline();
    if (next >= part.timerAt || next === Infinity) return;
    clearTimeout(part.timer);
    part.timerAt = next;
    const delay = Math.min(Math.max(0, next - this.clock.now()), MAX_TIMER_MS);
    part.timer = setTimeout(() => {
      part.timer = undefined;
      part.timerAt = Infinity;
      if (this.tables.get(part.p) !== part) return;
      part.table.expireDue(this.clock.now());
      this.armTimer(part);
      // Expiries answer nobody: their records ride along with the next write.
      this.journal.writeBehind(part.p);
    }, delay);
    part.timer.unref();
  }
}

/** A granted lease as the journal keeps it: its token's digest in place of the token. */
function storedLease(lease: LeaseView, digest: string): StoredLease {
  const { key, fence, ttlMs, expiresAtMs, mode, holdCount, owner } = lease;
  return { key, digest, fence, ttlMs, expiresAtMs, mode, holdCount, owner };
}
