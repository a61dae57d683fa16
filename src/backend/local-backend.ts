/**
 * The lock table on this machine: the pure LockTable plus what it needs to run for real — a
 * clock, the one expiry timer, and a LeaseStore that makes changes durable.
 */
import type { LeaseStore } from '../store/store';
import { LockTable, TableLimits } from '../table/lock-table';
import { fullGc } from '../util/reclaim';
import type { AcquireOutcome, AcquireRequest, Clock, LeaseView, LockInfoView, SessionId, TableObserver, Waiter } from '../table/types';
import type { Backend, BackendStats, LockEventListener, SessionSink } from './backend';

/** setTimeout's longest delay; later deadlines re-arm when it fires. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** Session 0 is "no connection" (leases restored from disk); sessions count up from 1 and wrap. */
const MAX_SESSION = 0x7fffffff;

export class LocalBackend implements Backend {
  private readonly table: LockTable;
  private readonly sessions = new Map<SessionId, SessionSink>();
  private readonly listeners: LockEventListener[] = [];
  private nextSession = 1;
  private timer: NodeJS.Timeout | undefined;
  private timerAt = Infinity;

  constructor(
    limits: TableLimits,
    private readonly store: LeaseStore,
    private readonly clock: Clock,
    /** False for MemoryStore: replies need not wait for a sync. */
    readonly durable: boolean,
  ) {
    const observer: TableObserver = {
      recordsChanges: durable,
      waiterGranted: (waiter, lease) => this.sessions.get(waiter.session)?.waiterGranted(waiter, lease),
      waiterTimedOut: (waiter) => this.sessions.get(waiter.session)?.waiterTimedOut(waiter),
      changed: (change) => store.append(change),
    };
    this.table = new LockTable(limits, observer);
  }

  /** Loads the store's state into the table. Call once before serving. */
  async open(): Promise<{ restored: number; summary: string }> {
    // The store snapshots the table through this backend (durableLeases, reservedFenceCeiling).
    const { leases, fenceCeiling, summary, lastWrittenAtMs } = await this.store.open(this);
    const now = this.clock.now();
    // Leases resume with the time they had left at the last write: a wall clock that jumped
    // ahead while lockd was down must not end them (see the README, "Time").
    const restored = this.table.restore(leases, fenceCeiling, now, Math.min(now, lastWrittenAtMs ?? now));
    leases.length = 0;
    this.armTimer();
    // The recovered image (an object per lease) is garbage now: collect it before serving, or a
    // restart with a million leases keeps ~600 MB of RSS until V8 next runs a full collection.
    if (restored > 0) fullGc()?.();
    return { restored, summary };
  }

  /** Every live durable lease, for the store's snapshots. */
  durableLeases(): Iterable<LeaseView> {
    return this.table.durableLeases();
  }

  /** The highest fence the journal has reserved, for the store's snapshots. */
  get reservedFenceCeiling(): number {
    return this.table.reservedFenceCeiling;
  }

  openSession(sink: SessionSink): SessionId {
    let session = this.nextSession;
    // Skip ids still in use after a wrap (a connection open across 2^31 others).
    while (this.sessions.has(session)) session = session >= MAX_SESSION ? 1 : session + 1;
    this.nextSession = session >= MAX_SESSION ? 1 : session + 1;
    this.sessions.set(session, sink);
    return session;
  }

  closeSession(session: SessionId): { leases: number; waiters: number } {
    this.sessions.delete(session);
    const result = this.table.closeSession(session, this.clock.now());
    this.armTimer();
    return result;
  }

  acquire(request: AcquireRequest): AcquireOutcome {
    const outcome = this.table.acquire(request, this.clock.now());
    this.armTimer();
    return outcome;
  }

  release(key: string, token: string): boolean {
    const released = this.table.release(key, token, this.clock.now());
    this.armTimer();
    return released;
  }

  renew(key: string, token: string, ttlMs: number | undefined): LeaseView {
    const lease = this.table.renew(key, token, ttlMs, this.clock.now());
    this.armTimer();
    return lease;
  }

  rollBack(key: string, token: string): void {
    this.release(key, token);
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

  addListener(listener: LockEventListener): void {
    this.listeners.push(listener);
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
