/**
 * lockd's metrics: what happens to locks, per key prefix where it tells an operator who waits
 * on what, plus the store's sync latency. Values are plain numbers updated on the hot path and
 * turned into Prometheus text by prom-client when /metrics is scraped.
 *
 * Names follow Prometheus conventions: `lockd_` prefix, base units (`_seconds`), `_total` on
 * counters. Per-prefix series are bounded by --metrics-max-prefixes (see KeyPrefixes).
 */
import { Registry } from 'prom-client';
import type { LeaseEndReason, LockEventListener } from '../backend/backend';
import type { EndingLease } from '../table/types';
import { Buckets, CallbackFamily, HistogramFamily } from './families';
import { HoldTracker } from './hold-tracker';
import { KeyPrefixes } from './prefixes';
import { registerProcessMetrics } from './process-metrics';

/** Wait time buckets, seconds: from a hand-off on a busy key to the longest --max-wait. */
const WAIT_BUCKETS = [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300, 1800];
/** Hold time buckets, seconds: from a short critical section to the longest --max-ttl. */
const HOLD_BUCKETS = [0.01, 0.1, 0.5, 1, 5, 10, 30, 60, 300, 1800, 3600, 21600, 86400];
/** Store sync latency buckets, seconds: a page-cache write to a struggling disk. */
const SYNC_BUCKETS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1];
/** Changes one sync made durable (group commit size). */
const BATCH_BUCKETS = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096];

/** How a parked wait ended. */
export type WaitOutcome = 'granted' | 'timed_out' | 'cancelled';

/** Counts kept per key prefix. */
class PrefixStats {
  grants = 0;
  /** Acquires that found the key held: refused busy or parked. */
  contended = 0;
  expiries = 0;
  constructor(
    readonly waitGranted: Buckets,
    readonly waitTimedOut: Buckets,
    readonly waitCancelled: Buckets,
    readonly hold: Buckets,
  ) {}

  waitBuckets(outcome: WaitOutcome): Buckets {
    return outcome === 'granted' ? this.waitGranted : outcome === 'timed_out' ? this.waitTimedOut : this.waitCancelled;
  }
}

/** What the metrics read from the rest of lockd at scrape time. */
export interface MetricsSources {
  leases(): number;
  waiters(): number;
  /** Open Thrift connections. */
  connections(): number;
  /** HTTP requests parked in a wait. */
  httpWaits(): number;
  draining(): boolean;
}

export interface LockMetricsOptions {
  prefixDepth: number;
  maxPrefixes: number;
  /** Told once when keys start being counted under "_other". */
  onPrefixOverflow(prefix: string): void;
  /** Also export process_* and nodejs_* metrics (CPU, memory, file descriptors, event-loop lag). Default true. */
  processMetrics?: boolean;
}

const END_REASONS: readonly LeaseEndReason[] = ['released', 'expired', 'session-closed', 'rolled-back', 'force-released'];

export class LockMetrics implements LockEventListener {
  readonly registry = new Registry();
  private readonly prefixes: KeyPrefixes<PrefixStats>;
  /** fence -> grant time and prefix, for hold times. Restored leases have none and are not timed. */
  private readonly holds = new HoldTracker<PrefixStats>();
  private grantsImmediate = 0;
  private grantsAfterWait = 0;
  private reentries = 0;
  private busy = 0;
  private queued = 0;
  private released = 0;
  private releaseMisses = 0;
  private renewals = 0;
  private readonly ends: Record<LeaseEndReason, number> = { released: 0, expired: 0, 'session-closed': 0, 'rolled-back': 0, 'force-released': 0 };
  private readonly refusals = new Map<string, number>();
  private syncErrors = 0;
  private readonly syncLatency: Buckets;
  private readonly syncBatch: Buckets;

  constructor(options: LockMetricsOptions, sources: MetricsSources) {
    const r = this.registry;
    const wait = new HistogramFamily('lockd_wait_seconds', 'Time acquires spent parked in a key queue, by key prefix and how the wait ended.', WAIT_BUCKETS, () =>
      this.perPrefix((stats, prefix) =>
        (['granted', 'timed_out', 'cancelled'] as const).map((outcome) => ({ labels: { prefix, outcome }, buckets: stats.waitBuckets(outcome) })),
      ),
    ).registerIn(r);
    const hold = new HistogramFamily('lockd_hold_seconds', 'Time from grant to the end of a lease (release, expiry, ...), by key prefix.', HOLD_BUCKETS, () =>
      this.perPrefix((stats, prefix) => [{ labels: { prefix }, buckets: stats.hold }]),
    ).registerIn(r);
    const sync = new HistogramFamily('lockd_store_sync_seconds', 'Time from asking the store for durability to its answer (write plus fsync).', SYNC_BUCKETS, () => [
      { labels: {}, buckets: this.syncLatency },
    ]).registerIn(r);
    const batch = new HistogramFamily('lockd_store_sync_changes', 'Lock changes (grants, renewals, releases) made durable by one sync: the group-commit batch size.', BATCH_BUCKETS, () => [
      { labels: {}, buckets: this.syncBatch },
    ]).registerIn(r);
    this.syncLatency = sync.buckets();
    this.syncBatch = batch.buckets();
    this.prefixes = new KeyPrefixes(
      options.prefixDepth,
      options.maxPrefixes,
      () => new PrefixStats(wait.buckets(), wait.buckets(), wait.buckets(), hold.buckets()),
      options.onPrefixOverflow,
    );

    const counter = (name: string, help: string, read: () => Iterable<{ labels?: Record<string, string>; value: number }>) =>
      new CallbackFamily(name, help, 'counter', read).registerIn(r);
    const gauge = (name: string, help: string, read: () => number) => new CallbackFamily(name, help, 'gauge', () => [{ value: read() }]).registerIn(r);

    counter('lockd_grants_total', 'New leases granted (not re-entries), by key prefix.', () => this.perPrefix((s, prefix) => [{ labels: { prefix }, value: s.grants }]));
    counter('lockd_contended_acquires_total', 'Acquires that found the key held (refused busy or parked), by key prefix.', () =>
      this.perPrefix((s, prefix) => [{ labels: { prefix }, value: s.contended }]),
    );
    counter('lockd_expiries_total', 'Leases that ended because their TTL ran out unrenewed, by key prefix.', () =>
      this.perPrefix((s, prefix) => [{ labels: { prefix }, value: s.expiries }]),
    );
    counter('lockd_acquires_total', 'Acquire calls by result: granted at once, re-entered, parked, refused busy (no wait asked).', () => [
      { labels: { result: 'granted' }, value: this.grantsImmediate },
      { labels: { result: 'reentered' }, value: this.reentries },
      { labels: { result: 'queued' }, value: this.queued },
      { labels: { result: 'busy' }, value: this.busy },
    ]);
    counter('lockd_wait_grants_total', 'Parked acquires that were granted.', () => [{ value: this.grantsAfterWait }]);
    counter('lockd_releases_total', 'Release calls by result: released, or not_held (the token named no live lease).', () => [
      { labels: { result: 'released' }, value: this.released },
      { labels: { result: 'not_held' }, value: this.releaseMisses },
    ]);
    counter('lockd_renewals_total', 'Leases renewed.', () => [{ value: this.renewals }]);
    counter('lockd_lease_ends_total', 'Leases that ended, by reason.', () =>
      END_REASONS.map((reason) => ({ labels: { reason: reason.replace('-', '_') }, value: this.ends[reason] })),
    );
    counter('lockd_refusals_total', 'Calls refused with a LockError, by code (INVALID_ARGUMENT, NOT_HOLDER, RESOURCE_EXHAUSTED, UNAVAILABLE, ...).', () =>
      [...this.refusals].map(([code, value]) => ({ labels: { code }, value })),
    );
    counter('lockd_store_sync_errors_total', 'Syncs that failed (their changes were undone and answered UNAVAILABLE).', () => [{ value: this.syncErrors }]);
    counter('lockd_metrics_prefix_overflow_total', 'Events counted under prefix="_other" because --metrics-max-prefixes was reached.', () => [
      { value: this.prefixes.overflowed },
    ]);
    gauge('lockd_leases', 'Live leases.', sources.leases);
    gauge('lockd_waiters', 'Parked acquires, over all keys.', sources.waiters);
    gauge('lockd_connections', 'Open Thrift connections.', sources.connections);
    gauge('lockd_http_waits', 'HTTP acquire requests parked in a wait.', sources.httpWaits);
    gauge('lockd_draining', '1 while lockd drains (grants no new leases), else 0.', () => (sources.draining() ? 1 : 0));
    gauge('lockd_metrics_prefixes', 'Distinct key prefixes with their own series (at most --metrics-max-prefixes, plus _other).', () => this.prefixes.size);
    if (options.processMetrics !== false) registerProcessMetrics(r);
  }

  /** Prometheus text of every metric. */
  async scrape(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  // Recorders: called on the hot path, so plain arithmetic only. ----------------------------

  /** A new lease; `grantedAtMs` is on the backend's clock (the lease's expiry minus its TTL). */
  granted(key: string, fence: number, grantedAtMs: number, afterWait: boolean): void {
    if (afterWait) this.grantsAfterWait++;
    else this.grantsImmediate++;
    const stats = this.prefixes.statsOf(key);
    stats.grants++;
    this.holds.start(fence, grantedAtMs, stats);
  }

  reentered(): void {
    this.reentries++;
  }

  /** The key was held: refused (no wait asked) or parked. */
  contended(key: string, parked: boolean): void {
    if (parked) this.queued++;
    else this.busy++;
    this.prefixes.statsOf(key).contended++;
  }

  waitEnded(key: string, waitedMs: number, outcome: WaitOutcome): void {
    this.prefixes.statsOf(key).waitBuckets(outcome).observe(waitedMs / 1000);
  }

  /** Reads only the fence unless the lease was restored from disk (then its key, for expiries). */
  leaseEnded(lease: EndingLease, reason: LeaseEndReason): void {
    this.ends[reason]++;
    const stats = this.holds.end(lease.fence);
    if (stats === undefined) {
      if (reason === 'expired') this.prefixes.statsOf(lease.key).expiries++;
      return;
    }
    if (reason === 'expired') stats.expiries++;
    stats.hold.observe(Math.max(0, lease.endedAtMs - this.holds.endedStartedAt) / 1000);
  }

  releaseCalled(released: boolean): void {
    if (released) this.released++;
    else this.releaseMisses++;
  }

  renewed(): void {
    this.renewals++;
  }

  /** A refusal, by its LockError code name ("NOT_HOLDER"). */
  refused(code: string): void {
    this.refusals.set(code, (this.refusals.get(code) ?? 0) + 1);
  }

  synced(seconds: number, changes: number, failed: boolean): void {
    this.syncLatency.observe(seconds);
    this.syncBatch.observe(changes);
    if (failed) this.syncErrors++;
  }

  private *perPrefix<T>(each: (stats: PrefixStats, prefix: string) => T[]): Iterable<T> {
    for (const [prefix, stats] of this.prefixes.entries()) yield* each(stats, prefix);
  }
}
