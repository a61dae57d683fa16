/** A LockTable on a ManualClock with a recording observer. */
import { LockTable, TableLimits } from '../../src/table/lock-table';
import { AcquireRequest, LeaseView, ManualClock, TableChange, Waiter } from '../../src/table/types';

export const LIMITS: TableLimits = { defaultTtlMs: 1_000, minTtlMs: 10, maxTtlMs: 60_000, maxWaitMs: 30_000, defaultListLimit: 3, maxListLimit: 10 };

export function setup(limits: TableLimits = LIMITS) {
  const clock = new ManualClock();
  const granted: Array<{ waiter: Waiter; lease: LeaseView }> = [];
  const timedOut: Waiter[] = [];
  const changes: TableChange[] = [];
  const table = new LockTable(limits, {
    waiterGranted: (waiter, lease) => granted.push({ waiter, lease }),
    waiterTimedOut: (waiter) => timedOut.push(waiter),
    changed: (change) => changes.push(change),
  });
  const acquire = (request: Partial<AcquireRequest> & { key: string }) => table.acquire({ session: 1, ...request }, clock.now());
  /** Acquires and expects a grant; returns the lease. */
  const grant = (request: Partial<AcquireRequest> & { key: string }): LeaseView => {
    const outcome = acquire(request);
    if (outcome.kind !== 'granted') throw new Error(`expected a grant of ${request.key}, got ${outcome.kind}`);
    return outcome.lease;
  };
  /** Acquires and expects to be queued; returns the waiter. */
  const park = (request: Partial<AcquireRequest> & { key: string }): Waiter => {
    const outcome = acquire({ waitMs: -1, ...request });
    if (outcome.kind !== 'queued') throw new Error(`expected ${request.key} to queue, got ${outcome.kind}`);
    return outcome.waiter;
  };
  return { clock, table, granted, timedOut, changes, acquire, grant, park };
}
