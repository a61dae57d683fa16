/** Shared pieces of the cluster-mode tests. */
import type { SessionSink } from '../../src/backend/backend';
import type { ClusterNode } from '../../src/cluster/cluster-node';
import type { TableLimits } from '../../src/table/lock-table';
import type { LeaseView } from '../../src/table/types';

/** Table limits roomy enough for every test here. */
export const LIMITS: TableLimits = { defaultTtlMs: 60_000, minTtlMs: 10, maxTtlMs: 600_000, maxWaitMs: 30_000, defaultListLimit: 100, maxListLimit: 1000, maxLeases: 10_000, maxWaiters: 10_000 };

/** A session sink for tests that park no waiters. */
export const NO_WAITS: SessionSink = { waiterGranted() {}, waiterTimedOut() {} };

/** Polls `condition` every 20 ms; rejects naming `what` after `timeoutMs`. */
export async function until(what: string, condition: () => boolean, timeoutMs: number): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Resolves once everything `node` changed so far is committed in etcd. */
export function synced(node: ClusterNode): Promise<void> {
  return new Promise((resolve, reject) => node.backend.sync((error) => (error ? reject(error) : resolve())));
}

/** Acquires `key` (TTL 60 s) on `node` and resolves with the lease once its grant is committed. */
export async function grantDurably(node: ClusterNode, key: string, session: number): Promise<LeaseView> {
  const outcome = node.backend.acquire({ key, session, ttlMs: 60_000 });
  if (outcome.kind !== 'granted') throw new Error(`${key}: ${outcome.kind}`);
  await synced(node);
  return outcome.lease;
}
