/**
 * Cluster mode's write path against etcd's own lock, side by side on the same etcd:
 *   - lockd: one cluster node in this process (ClusterBackend, no Thrift), C workers each
 *     acquiring a key of its own, waiting for the journal commit, releasing (written behind);
 *   - etcd3 Lock: C workers each `lock(key).acquire()` then `release()` (lease grant + txn + revoke).
 * Reports acquire/release pairs per second and etcd txns per second of the journal.
 *
 *   npm run build && node dist/scripts/bench/cluster-journal.js --etcd http://127.0.0.1:2379 [--seconds 3] [--concurrency 64]
 *
 * Start etcd yourself (see the design study §9.2 for three members on loopback); this script
 * only writes under /lockd/bench-<pid>/ and lockd-bench-lock/.
 */
import { Etcd3 } from 'etcd3';
import { startClusterNode } from '../../src/cluster/cluster-node';
import { parseEndpoints, resolveClusterOptions } from '../../src/cluster/options';
import type { TableLimits } from '../../src/table/lock-table';
import { systemClock } from '../../src/table/types';

const LIMITS: TableLimits = { defaultTtlMs: 30_000, minTtlMs: 10, maxTtlMs: 600_000, maxWaitMs: 30_000, defaultListLimit: 100, maxListLimit: 1000, maxLeases: 100_000, maxWaiters: 100_000 };

function arg(name: string, fallback: string): string {
  const at = process.argv.indexOf(`--${name}`);
  return at >= 0 && process.argv[at + 1] !== undefined ? process.argv[at + 1] : fallback;
}

async function runFor(seconds: number, concurrency: number, pair: (worker: number, i: number) => Promise<void>): Promise<number> {
  const end = Date.now() + seconds * 1000;
  let pairs = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async (_, worker) => {
      for (let i = 0; Date.now() < end; i++) {
        await pair(worker, i);
        pairs++;
      }
    }),
  );
  return pairs / seconds;
}

async function main(): Promise<void> {
  const endpoints = parseEndpoints(arg('etcd', 'http://127.0.0.1:2379'));
  const seconds = Number(arg('seconds', '3'));
  const concurrency = Number(arg('concurrency', '64'));

  const options = resolveClusterOptions({ etcdEndpoints: endpoints, cluster: `bench-${process.pid}`, nodeId: 'bench', advertise: '127.0.0.1:1', nodeTtlMs: 5_000 }, {});
  const node = await startClusterNode(options, LIMITS, systemClock, { claimGraceMs: 0 });
  for (let i = 0; i < 500 && node.manager.owned().length < options.partitions; i++) await new Promise((r) => setTimeout(r, 20));
  const session = node.backend.openSession({ waiterGranted() {}, waiterTimedOut() {} });
  const txnsBefore = node.journal.txnsSent;
  const lockdPairs = await runFor(seconds, concurrency, async (worker, i) => {
    const key = `w${worker}-${i % 100}`;
    const outcome = node.backend.acquire({ key, session });
    if (outcome.kind !== 'granted') throw new Error(`not granted: ${key}`);
    await new Promise<void>((resolve, reject) => node.backend.sync((error) => (error ? reject(error) : resolve())));
    node.backend.release(key, outcome.lease.token);
    node.backend.writeBehind();
  });
  const txnsPerSecond = (node.journal.txnsSent - txnsBefore) / seconds;
  await node.stop();

  const client = new Etcd3({ hosts: endpoints });
  const etcdPairs = await runFor(seconds, concurrency, async (worker) => {
    const lock = client.lock(`lockd-bench-lock/w${worker}`).ttl(5);
    await lock.acquire();
    await lock.release();
  });
  client.close();

  console.log(
    JSON.stringify({
      etcdMembers: endpoints.length,
      concurrency,
      seconds,
      lockdClusterPairsPerSecond: Math.round(lockdPairs),
      lockdJournalTxnsPerSecond: Math.round(txnsPerSecond),
      etcd3LockPairsPerSecond: Math.round(etcdPairs),
      ratio: Number((lockdPairs / etcdPairs).toFixed(2)),
    }),
  );
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
