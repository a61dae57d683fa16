/**
 * A Backend that records metrics around another one (the local table or a replicated backend).
 * Front ends are given this instead of the inner backend when metrics are on; with metrics off
 * they get the inner backend itself, so the bookkeeping costs nothing.
 */
import { performance } from 'node:perf_hooks';
import type { Backend, BackendStats, DrainStatus, ForcedRelease, LockEventListener, SessionSink } from '../backend/backend';
import { LockdError } from '../errors';
import { adminOp } from '../backend/admin-op';
import type { AcquireOutcome, AcquireRequest, LeaseView, LockInfoView, SessionId, Waiter } from '../table/types';
import type { LockMetrics, WaitOutcome } from './lock-metrics';

/** A session's sink that times its waits on the way through. */
class MeteredSink implements SessionSink {
  /** Parked waiters of this session -> performance.now() when they were parked. */
  readonly parkedAt = new Map<Waiter, number>();

  constructor(
    private readonly inner: SessionSink,
    private readonly owner: MeteredBackend,
  ) {}

  waiterGranted(waiter: Waiter, lease: LeaseView): void {
    this.ended(waiter, 'granted');
    this.owner.recordGrant(lease, true);
    this.inner.waiterGranted(waiter, lease);
  }

  waiterTimedOut(waiter: Waiter): void {
    this.ended(waiter, 'timed_out');
    this.inner.waiterTimedOut(waiter);
  }

  waiterRefused(waiter: Waiter, error: LockdError): void {
    this.ended(waiter, 'cancelled');
    if (this.inner.waiterRefused !== undefined) this.inner.waiterRefused(waiter, error);
    else this.inner.waiterTimedOut(waiter);
  }

  /** Records how a wait ended and forgets it. */
  ended(waiter: Waiter, outcome: WaitOutcome): void {
    const since = this.parkedAt.get(waiter);
    if (since === undefined) return;
    this.parkedAt.delete(waiter);
    this.owner.metrics.waitEnded(waiter.key, performance.now() - since, outcome);
  }
}

export class MeteredBackend implements Backend {
  private readonly sinks = new Map<SessionId, MeteredSink>();
  /** Changing calls since the last sync: the next sync's batch size. */
  private changesSinceSync = 0;

  constructor(
    private readonly inner: Backend,
    readonly metrics: LockMetrics,
  ) {
    inner.addListener(metrics);
  }

  get durable(): boolean {
    return this.inner.durable;
  }

  openSession(sink: SessionSink): SessionId {
    const metered = new MeteredSink(sink, this);
    const session = this.inner.openSession(metered);
    this.sinks.set(session, metered);
    return session;
  }

  closeSession(session: SessionId): { leases: number; waiters: number } {
    const metered = this.sinks.get(session);
    this.sinks.delete(session);
    const result = this.inner.closeSession(session);
    if (metered !== undefined) for (const waiter of [...metered.parkedAt.keys()]) metered.ended(waiter, 'cancelled');
    return result;
  }

  acquire(request: AcquireRequest): AcquireOutcome {
    let outcome: AcquireOutcome;
    try {
      outcome = this.inner.acquire(request);
    } catch (error) {
      throw this.refused(error);
    }
    switch (outcome.kind) {
      case 'granted':
        if (outcome.reentered) {
          this.metrics.reentered();
          this.changesSinceSync++;
        } else {
          this.recordGrant(outcome.lease, false);
        }
        break;
      case 'queued':
        this.metrics.contended(request.key, true);
        this.sinks.get(request.session)?.parkedAt.set(outcome.waiter, performance.now());
        break;
      case 'busy':
        this.metrics.contended(request.key, false);
        break;
    }
    return outcome;
  }

  release(key: string, token: string): boolean {
    let released: boolean;
    try {
      released = this.inner.release(key, token);
    } catch (error) {
      throw this.refused(error);
    }
    this.metrics.releaseCalled(released);
    if (released) this.changesSinceSync++;
    return released;
  }

  renew(key: string, token: string, ttlMs: number | undefined): LeaseView {
    let lease: LeaseView;
    try {
      lease = this.inner.renew(key, token, ttlMs);
    } catch (error) {
      throw this.refused(error);
    }
    this.metrics.renewed();
    this.changesSinceSync++;
    return lease;
  }

  rollBack(key: string, token: string): void {
    this.inner.rollBack(key, token);
  }

  isHeld(key: string, token: string): boolean {
    return this.inner.isHeld(key, token);
  }

  checkFence(key: string, fence: number): boolean {
    return this.inner.checkFence(key, fence);
  }

  inspect(key: string): LockInfoView {
    return this.inner.inspect(key);
  }

  scan(prefix: string, startAfter: string | undefined): Iterable<LockInfoView> {
    return this.inner.scan(prefix, startAfter);
  }

  cancelWaiter(waiter: Waiter): boolean {
    const cancelled = this.inner.cancelWaiter(waiter);
    if (cancelled) this.sinks.get(waiter.session)?.ended(waiter, 'cancelled');
    return cancelled;
  }

  drainWaiters(): Waiter[] {
    const waiters = this.inner.drainWaiters();
    for (const waiter of waiters) this.sinks.get(waiter.session)?.ended(waiter, 'cancelled');
    return waiters;
  }

  sync(done: (error: Error | null) => void): void {
    if (!this.inner.durable) return this.inner.sync(done);
    const changes = this.changesSinceSync;
    this.changesSinceSync = 0;
    const startedAt = performance.now();
    this.inner.sync((error) => {
      this.metrics.synced((performance.now() - startedAt) / 1000, changes, error !== null);
      done(error);
    });
  }

  writeBehind(): void {
    this.inner.writeBehind();
  }

  forceRelease(key: string, fence: number | undefined, reason: string, actor: string): ForcedRelease[] {
    const freed = adminOp(this.inner.forceRelease, 'force-release').call(this.inner, key, fence, reason, actor);
    this.changesSinceSync += freed.length;
    return freed;
  }

  startDrain(): DrainStatus {
    return adminOp(this.inner.startDrain, 'drain').call(this.inner);
  }

  stopDrain(): DrainStatus {
    return adminOp(this.inner.stopDrain, 'drain').call(this.inner);
  }

  drainStatus(): DrainStatus {
    return adminOp(this.inner.drainStatus, 'drain').call(this.inner);
  }

  addListener(listener: LockEventListener): void {
    this.inner.addListener(listener);
  }

  stats(): BackendStats {
    return this.inner.stats();
  }

  close(): Promise<void> {
    return this.inner.close();
  }

  /** A new lease, granted at once or after a wait. @internal */
  recordGrant(lease: LeaseView, afterWait: boolean): void {
    this.metrics.granted(lease.key, lease.fence, lease.expiresAtMs - lease.ttlMs, afterWait);
    this.changesSinceSync++;
  }

  /** Counts a refusal by its code and returns the error to rethrow. */
  private refused(error: unknown): unknown {
    if (error instanceof LockdError && error.wireCode !== undefined) this.metrics.refused(error.code.replace(/^LOCKD_/, ''));
    return error;
  }
}
