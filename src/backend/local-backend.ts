/**
 * The lock table on this machine: the pure LockTable plus what it needs to run for real — a
 * clock, the one expiry timer, and a LeaseStore that makes changes durable.
 */
import { NotHolderError, UnavailableError } from '../errors';
import type { LeaseStore, RecoveredState } from '../store/store';
import { LockTable, TableLimits } from '../table/lock-table';
import { fullGc } from '../util/reclaim';
import { tokenDigest } from '../table/token-digest';
import type { AcquireOutcome, AcquireRequest, Clock, LeaseView, LockInfoView, SessionId, StoredLease, TableObserver, Waiter } from '../table/types';
import type { Backend, BackendStats, DrainStatus, ForcedRelease, LockEventListener, SessionSink } from './backend';
import { SessionRegistry } from './session-registry';

/** setTimeout's longest delay; later deadlines re-arm when it fires. */
const MAX_TIMER_MS = 2 ** 31 - 1;


/** Operations settings of a LocalBackend. */
export interface BackendOpsOptions {
  /** Force-released tokens remembered for the holder's next renew (oldest forgotten first). */
  readonly forceReleaseHistory: number;
}

/** Why a token stopped naming a lease, when an operator freed it. */
interface ForceReleaseNote {
  readonly reason: string;
  readonly actor: string;
  readonly atMs: number;
}

export class LocalBackend implements Backend {
  private readonly table: LockTable;
  private readonly sessions = new SessionRegistry<SessionSink>();
  private readonly listeners: LockEventListener[] = [];
  private timer: NodeJS.Timeout | undefined;
  private timerAt = Infinity;
  private readonly observer: TableObserver;
  /** Set while rollBack frees a lease, so its end is reported as 'rolled-back'. */
  private rollingBack = false;
  /** Force-released lease's token digest -> why; insertion order is age order (oldest evicted first). */
  private readonly forced = new Map<string, ForceReleaseNote>();
  private drainingSince: number | undefined;

  constructor(
    limits: TableLimits,
    private readonly store: LeaseStore,
    private readonly clock: Clock,
    /** False for MemoryStore: replies need not wait for a sync. */
    readonly durable: boolean,
    private readonly ops: BackendOpsOptions = { forceReleaseHistory: 10_000 },
  ) {
    this.observer = {
      recordsChanges: durable,
      waiterGranted: (waiter, lease) => this.sessions.get(waiter.session)?.waiterGranted(waiter, lease),
      waiterTimedOut: (waiter) => this.sessions.get(waiter.session)?.waiterTimedOut(waiter),
      changed: (change) => store.append(change),
    };
    this.table = new LockTable(limits, this.observer);
  }

  /** Loads the store's state into the table. Call once before serving. */
  async open(): Promise<{ restored: number; summary: string }> {
    // The store snapshots the table through this backend (durableLeases, reservedFenceCeiling).
    // A FileStore replays its records straight into the table (no image of the leases first).
    const replay = this.table.replay();
    let recovered: RecoveredState | undefined = await this.store.open(this, replay);
    const { fenceCeiling, summary, lastWrittenAtMs } = recovered;
    const now = this.clock.now();
    // Leases resume with the time they had left at the last write: a wall clock that jumped
    // ahead while lockd was down must not end them (see the README, "Time").
    const recordedAt = Math.min(now, lastWrittenAtMs ?? now);
    const replayed = recovered.replayed === true;
    const restored = replayed ? replay.finish(fenceCeiling, now, recordedAt) : this.table.restore(recovered.leases, fenceCeiling, now, recordedAt);
    // Let go of the recovered image (its leases hold it) before collecting it.
    recovered = undefined;
    this.armTimer();
    // A recovered image (a store that handed leases back, its arena of records) is garbage now,
    // and so are a replay's read buffers and the scratch arrays that sorted the keys (~20 MiB at
    // a million leases): collect them before serving, or a restart keeps them in RSS until V8
    // next runs a full collection. After a turn: until then the settled promise of store.open
    // still holds the image (measured: collected at once it kept ~100 MiB of a million leases').
    if (restored > 0) {
      await new Promise((resolve) => setImmediate(resolve));
      fullGc()?.();
    }
    return { restored, summary };
  }

  /** Every live durable lease, for the store's snapshots. */
  durableLeases(): Iterable<StoredLease> {
    return this.table.durableLeases();
  }

  /** The highest fence the journal has reserved, for the store's snapshots. */
  get reservedFenceCeiling(): number {
    return this.table.reservedFenceCeiling;
  }

  openSession(sink: SessionSink): SessionId {
    return this.sessions.open(sink);
  }

  closeSession(session: SessionId): { leases: number; waiters: number } {
    this.sessions.delete(session);
    const result = this.table.closeSession(session, this.clock.now());
    this.armTimer();
    return result;
  }

  acquire(request: AcquireRequest): AcquireOutcome {
    if (this.drainingSince !== undefined && request.token === undefined) throw drainingError();
    let outcome: AcquireOutcome;
    try {
      outcome = this.table.acquire(request, this.clock.now());
    } catch (error) {
      throw this.explained(error, request.key, request.token);
    }
    this.armTimer();
    return outcome;
  }

  release(key: string, token: string): boolean {
    const released = this.table.release(key, token, this.clock.now());
    this.armTimer();
    return released;
  }

  renew(key: string, token: string, ttlMs: number | undefined): LeaseView {
    let lease: LeaseView;
    try {
      lease = this.table.renew(key, token, ttlMs, this.clock.now());
    } catch (error) {
      throw this.explained(error, key, token);
    }
    this.armTimer();
    return lease;
  }

  rollBack(key: string, token: string): void {
    this.rollingBack = true;
    try {
      this.release(key, token);
    } finally {
      this.rollingBack = false;
    }
  }

  isHeld(key: string, token: string): boolean {
    return this.table.isHeld(key, token, this.clock.now());
  }

  checkFence(key: string, fence: number): boolean {
    return this.table.checkFence(key, fence, this.clock.now());
  }

  inspect(key: string): LockInfoView {
    return this.table.inspect(key, this.clock.now());
  }

  scan(prefix: string, startAfter: string | undefined): Iterable<LockInfoView> {
    return this.table.scan(prefix, startAfter, this.clock.now());
  }

  cancelWaiter(waiter: Waiter): boolean {
    const cancelled = this.table.cancelWaiter(waiter, this.clock.now());
    this.armTimer();
    return cancelled;
  }

  drainWaiters(): Waiter[] {
    return this.table.drainWaiters();
  }

  sync(done: (error: Error | null) => void): void {
    this.store.sync(done);
  }

  writeBehind(): void {
    this.store.writeBehind();
  }

  // Operations ---------------------------------------------------------------------------------

  forceRelease(key: string, fence: number | undefined, reason: string, actor: string): ForcedRelease[] {
    const now = this.clock.now();
    const freed = this.table.forceRelease(key, fence, now);
    for (const lease of freed) {
      if (this.forced.size >= this.ops.forceReleaseHistory) this.forced.delete(this.forced.keys().next().value as string);
      this.forced.set(lease.digest, { reason, actor, atMs: now });
    }
    this.armTimer();
    return freed.map(({ key: k, owner, fence: f, mode }) => ({ key: k, owner, fence: f, mode }));
  }

  startDrain(): DrainStatus {
    if (this.drainingSince === undefined) {
      this.drainingSince = this.clock.now();
      const error = drainingError();
      for (const waiter of this.table.drainWaiters()) {
        const sink = this.sessions.get(waiter.session);
        if (sink?.waiterRefused !== undefined) sink.waiterRefused(waiter, error);
        else sink?.waiterTimedOut(waiter);
      }
      this.armTimer();
    }
    return this.drainStatus();
  }

  stopDrain(): DrainStatus {
    this.drainingSince = undefined;
    return this.drainStatus();
  }

  drainStatus(): DrainStatus {
    const { leases, waiters } = this.stats();
    return { draining: this.drainingSince !== undefined, sinceMs: this.drainingSince, leases, waiters };
  }

  addListener(listener: LockEventListener): void {
    this.listeners.push(listener);
    // The table decodes key and owner for every end only once somebody listens.
    this.observer.leaseEnded ??= (lease, tableReason) => {
      const reason = this.rollingBack ? 'rolled-back' : tableReason;
      for (const l of this.listeners) {
        l.leaseEnded?.(lease, reason);
        if (reason !== 'released') l.leaseLost?.(lease.key, lease.owner, lease.fence, reason);
      }
    };
  }

  /** A NOT_HOLDER for a token an operator freed says who did it and why; other errors pass. */
  private explained(error: unknown, key: string, token: string | undefined): unknown {
    if (token === undefined || this.forced.size === 0 || !(error instanceof NotHolderError)) return error;
    // Hashed again only here, on a refusal while force-releases are remembered.
    const digest = tokenDigest(token);
    const note = digest === undefined ? undefined : this.forced.get(digest);
    if (note === undefined) return error;
    return new NotHolderError(
      `the lease on ${JSON.stringify(key)} was force-released by ${note.actor} at ${new Date(note.atMs).toISOString()}: ${note.reason}`,
    );
  }

  stats(): BackendStats {
    return { leases: this.table.leaseCount, waiters: this.table.waiterTotal };
  }

  async close(): Promise<void> {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    this.timerAt = -Infinity;
    await this.store.close();
  }

  /**
   * Keeps one timer armed for the table's next deadline. Re-arming only when the deadline moves
   * earlier keeps setTimeout off the hot path: a later deadline just lets the timer fire early.
   */
  private armTimer(): void {
    const next = this.table.nextDeadline();
    if (next >= this.timerAt || next === Infinity) return;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timerAt = next;
    const delay = Math.min(Math.max(0, next - this.clock.now()), MAX_TIMER_MS);
    this.timer = setTimeout(this.onTimer, delay);
    this.timer.unref();
  }

  private readonly onTimer = (): void => {
    this.timer = undefined;
    this.timerAt = Infinity;
    this.table.expireDue(this.clock.now());
    this.armTimer();
    // Expiries answer nobody: their records ride along with the next write.
    if (this.durable) this.store.writeBehind();
  };
}

function drainingError(): UnavailableError {
  return new UnavailableError('lockd is draining for maintenance and grants no new leases; retry against another instance or after it restarts');
}
