/**
 * A three-member etcd whose leader is paused (SIGSTOP) while a cluster node writes: the node
 * keeps its partitions (node TTL 5 s outlives an etcd election), every change made during the
 * pause is acknowledged once etcd answers again, and a node taking over replays all of them.
 */
import { startClusterNode, type ClusterNode } from '../../src/cluster/cluster-node';
import { resolveClusterOptions } from '../../src/cluster/options';
import { systemClock, type LeaseView } from '../../src/table/types';
import { startEtcd, type EtcdCluster } from '../helpers/etcd';
import { grantDurably, LIMITS, NO_WAITS as SINK, until } from './support';

const P = 4;

let etcd: EtcdCluster;
const nodes: ClusterNode[] = [];

beforeAll(async () => {
  etcd = await startEtcd({ members: 3 });
}, 60_000);
afterAll(async () => {
  for (const node of nodes) await node.stop().catch(() => undefined);
  await etcd?.stop();
});

async function node(nodeId: string): Promise<ClusterNode> {
  const options = resolveClusterOptions({ etcdEndpoints: etcd.endpoints, cluster: `leader-pause-${process.pid}`, nodeId, advertise: '127.0.0.1:9200', partitions: P, nodeTtlMs: 5_000, etcdCallTimeoutMs: 500 }, {});
  const started = await startClusterNode(options, LIMITS, systemClock, { claimGraceMs: 300, reconcileMs: 200, settleMs: 60_000 });
  nodes.push(started);
  return started;
}


test('an etcd leader pause moves no partition, and every change made during it is acknowledged and replayed', async () => {
  const a = await node('a');
  await until('a owns every partition', () => a.manager.owned().length === P, 20_000);
  const evictions: string[] = [];
  a.session.onEnd((why) => evictions.push(`session ended: ${why}`));
  const session = a.backend.openSession(SINK);
  const acknowledged: LeaseView[] = [];
  const grantAndSync = async (key: string) => {
    acknowledged.push(await grantDurably(a, key, session));
  };
  await grantAndSync('before');

  const leader = await etcd.leader();
  etcd.pause(leader);
  let writes: Promise<void>;
  try {
    // Writes issued during the pause; they complete after the election.
    writes = Promise.all(Array.from({ length: 10 }, (_, i) => grantAndSync(`during-${i}`))).then(() => undefined);
    await new Promise((r) => setTimeout(r, 3_000));
  } finally {
    etcd.resume(leader);
  }
  await writes;
  await grantAndSync('after');
  expect(evictions).toEqual([]);
  expect(a.manager.owned()).toHaveLength(P);
  expect(a.manager.claims).toBe(P);

  await a.stop();
  nodes.splice(nodes.indexOf(a), 1);
  const b = await node('b');
  await until('b owns every partition', () => b.manager.owned().length === P, 20_000);
  for (const lease of acknowledged) expect(b.backend.checkFence(lease.key, lease.fence)).toBe(true);
  expect(b.backend.stats().leases).toBe(acknowledged.length);
}, 90_000);
