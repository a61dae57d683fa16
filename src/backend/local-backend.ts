/**
 * The lock table on this machine: the pure LockTable plus what it needs to run for real — the
 * wall clock, the one expiry timer, and a LeaseStore that makes changes durable. The server
 * talks to lock state only through this class (a replicated backend will stand beside it).
 */
import type { LeaseStore } from '../store/store';
import { LockTable, TableLimits } from '../table/lock-table';
import { fullGc } from '../util/reclaim';
import type { AcquireOutcome, AcquireRequest, Clock, LeaseView, LockInfoView, SessionId, TableObserver, Waiter } from '../table/types';

/** What the server hears from the backend outside the call that caused it. */
export interface WaiterEvents {
  waiterGranted(waiter: Waiter, lease: LeaseView): void;
  waiterTimedOut(waiter: Waiter): void;
  /** Called after a timer-driven expiry round, so the server can flush replies it caused. */
  afterTimer(): void;
}

/** setTimeout's longest delay; later deadlines re-arm when it fires. */
const MAX_TIMER_MS = 2 ** 31 - 1;

export class LocalBackend {
  readonly table: LockTable;
  private timer: NodeJS.Timeout | undefined;
  private timerAt = Infinity;
  private events: WaiterEvents | undefined;

  constructor(
    limits: TableLimits,
    readonly store: LeaseStore,
    private readonly clock: Clock,
    /** False for MemoryStore: replies need not wait for a sync. */
    readonly durable: boolean,
  ) {
    const observer: TableObserver = {
      recordsChanges: durable,
      waiterGranted: (waiter, lease) => this.events?.waiterGranted(waiter, lease),
      waiterTimedOut: (waiter) => this.events?.waiterTimedOut(waiter),
      changed: (change) => store.append(change),
    };
    this.table = new LockTable(limits, observer);
  }

  /** Loads the store's state into the table. Call once before serving. */
  async open(): Promise<{ restored: number; summary: string }> {
    const { leases, fenceCeiling, summary } = await this.store.open(this.table);
    const restored = this.table.restore(leases, fenceCeiling, this.clock.now());
    leases.length = 0;
    this.armTimer();
    // The recovered image (an object per lease) is garbage now: collect it before serving, or a
    // restart with a million leases keeps ~600 MB of RSS until V8 next runs a full collection.
    if (restored > 0) fullGc()?.();
    return { restored, summary };
  }

  /** Routes waiter outcomes to the server. */
  listen(events: WaiterEvents): void {
    this.events = events;
  }

  now(): number {
    return this.clock.now();
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

  /** True while `token` names a live lease on `key`. */
  isHeld(key: string, token: string): boolean {
    return this.table.isHeld(key, token, this.clock.now());
  }

  checkFence(key: string, fence: number): boolean {
    return this.table.checkFence(key, fence, this.clock.now());
  }

  inspect(key: string): LockInfoView {
    return this.table.inspect(key, this.clock.now());
  }

  list(prefix: string, limit: number | undefined): LockInfoView[] {
    return this.table.list(prefix, limit, this.clock.now());
  }

  /** Frees the session's ephemeral leases and drops its waiters. */
  closeSession(session: SessionId): { leases: number; waiters: number } {
    const result = this.table.closeSession(session, this.clock.now());
    this.armTimer();
    return result;
  }

  /** Takes one parked waiter out of its queue; false when it is no longer parked. */
  cancelWaiter(waiter: Waiter): boolean {
    const cancelled = this.table.cancelWaiter(waiter, this.clock.now());
    this.armTimer();
    return cancelled;
  }

  /** Takes every parked waiter out (shutdown). */
  drainWaiters(): Waiter[] {
    return this.table.drainWaiters();
  }

  /** Calls `done` once every change made so far is durable (at once for the memory store). */
  sync(done: (error: Error | null) => void): void {
    this.store.sync(done);
  }

  /** Has changes no reply waits for (releases, expiries) written soon, without a sync of their own. */
  writeBehind(): void {
    this.store.writeBehind();
  }

  /** Stops the timer and closes the store. */
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
    this.events?.afterTimer();
  };
}
