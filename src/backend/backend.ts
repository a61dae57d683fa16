/**
 * The one interface every front end (the Thrift server, the HTTP gateway, metrics) is written
 * against to read and change lock state. `LocalBackend` implements it on this machine; a
 * replicated backend stands beside it. Calls are synchronous against the in-memory table; a
 * change is durable once `sync` calls back, so front ends answer changing calls only then.
 */
import type { LockdError } from '../errors';
import type { AcquireOutcome, AcquireRequest, EndingLease, LeaseView, LockInfoView, LockMode, SessionId, Waiter } from '../table/types';

/**
 * Hears the outcome of the waits a session parked. The backend calls the sink of the waiter's
 * own session, so a grant reaches the connection that asked with no lookup in between.
 */
export interface SessionSink {
  /** A parked acquire was granted (by a release, an expiry, or a waiter leaving ahead of it). */
  waiterGranted(waiter: Waiter, lease: LeaseView): void;
  /** A parked acquire's wait ran out; it is out of the queue. */
  waiterTimedOut(waiter: Waiter): void;
  /**
   * A parked acquire was refused while it waited (lockd began to drain); it is out of the queue.
   * Sinks without it hear waiterTimedOut instead.
   */
  waiterRefused?(waiter: Waiter, error: LockdError): void;
}

/** Why a lease ended, as lock events report it. */
export type LeaseEndReason = 'released' | 'expired' | 'session-closed' | 'rolled-back' | 'force-released';

/** Things that happened to leases, for logs and metrics; called synchronously, must not throw. */
export interface LockEventListener {
  /** A lease ended other than by its holder's release call (expiry, closed session, rollback). */
  leaseLost?(key: string, owner: string | undefined, fence: number, reason: Exclude<LeaseEndReason, 'released'>): void;
  /** Any lease ended, its holder's release included (metrics: hold time, expiries). `lease` is valid during the call only. */
  leaseEnded?(lease: EndingLease, reason: LeaseEndReason): void;
}

/** One lease an operator freed with forceRelease. */
export interface ForcedRelease {
  readonly key: string;
  readonly owner: string | undefined;
  readonly fence: number;
  readonly mode: LockMode;
}

/** Where a drain stands: new grants are refused while `draining`; it is done when no lease is left. */
export interface DrainStatus {
  readonly draining: boolean;
  /** Unix ms the drain began; undefined when not draining. */
  readonly sinceMs: number | undefined;
  readonly leases: number;
  readonly waiters: number;
}

/** Counts a front end may show (health, metrics, logs). */
export interface BackendStats {
  readonly leases: number;
  readonly waiters: number;
}

export interface Backend {
  /** True when changes must be synced before they are acknowledged. */
  readonly durable: boolean;

  /** Starts a session (a connection, the HTTP gateway); its waits' outcomes go to `sink`. */
  openSession(sink: SessionSink): SessionId;
  /** Ends a session: frees its ephemeral leases and drops its waiters. Returns the counts. */
  closeSession(session: SessionId): { leases: number; waiters: number };

  acquire(request: AcquireRequest): AcquireOutcome;
  /** Leaves the lease once (holdCount - 1); false when `token` names no live lease on `key`. */
  release(key: string, token: string): boolean;
  /** Extends the lease to now + ttlMs (absent: the lease's own TTL). Throws NotHolderError. */
  renew(key: string, token: string, ttlMs: number | undefined): LeaseView;
  /**
   * Undoes one grant or re-entry whose change could not be made durable, so no lease stays held
   * that its caller was told it did not get.
   */
  rollBack(key: string, token: string): void;
  /** True while `token` names a live lease on `key`. */
  isHeld(key: string, token: string): boolean;
  /** True while a live lease on `key` carries `fence`. */
  checkFence(key: string, fence: number): boolean;
  inspect(key: string): LockInfoView;
  /** Held keys starting with `prefix` and greater than `startAfter`, in byte order, lazily. */
  scan(prefix: string, startAfter: string | undefined): Iterable<LockInfoView>;
  /** Takes one parked waiter out of its queue; false when it is no longer parked. */
  cancelWaiter(waiter: Waiter): boolean;
  /** Takes every parked waiter out (shutdown); the caller answers each. */
  drainWaiters(): Waiter[];

  /** Calls `done` once every change made so far is durable (at once without a durable store). */
  sync(done: (error: Error | null) => void): void;
  /** Has changes no reply waits for (releases, expiries) written soon, with no sync of their own. */
  writeBehind(): void;

  // Operations (optional: a backend without them answers the admin routes UNAVAILABLE) --------
  /**
   * An operator frees every lease on `key` (only the one with `fence`, when given), whatever its
   * hold count. The freed tokens are remembered (a bounded number) so that a later renew or
   * re-entry with one gets NOT_HOLDER naming `reason` and `actor`: the holder learns why.
   */
  forceRelease?(key: string, fence: number | undefined, reason: string, actor: string): ForcedRelease[];
  /**
   * Starts draining: new leases are refused with UNAVAILABLE ("draining"), parked waiters are
   * refused (their sinks' waiterRefused), holders keep, renew and release their leases.
   */
  startDrain?(): DrainStatus;
  /** Stops draining: grants resume. */
  stopDrain?(): DrainStatus;
  drainStatus?(): DrainStatus;

  /** Adds a listener of lock events. */
  addListener(listener: LockEventListener): void;
  stats(): BackendStats;
  /** Stops timers and closes the store. */
  close(): Promise<void>;
}
