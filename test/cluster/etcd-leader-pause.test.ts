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

/** A node whose etcd endpoints start with `first`'s: its keep-alive stream opens on that member. */
async function node(nodeId: string, first = 0): Promise<ClusterNode> {
  const endpoints = [...etcd.endpoints.slice(first), ...etcd.endpoints.slice(0, first)];
  const options = resolveClusterOptions({ etcdEndpoints: endpoints, cluster: `leader-pause-${process.pid}`, nodeId, advertise: '127.0.0.1:9200', partitions: P, nodeTtlMs: 5_000, etcdCallTimeoutMs: 500 }, {});
  const started = await startClusterNode(options, LIMITS, systemClock, { claimGraceMs: 300, reconcileMs: 200, settleMs: 60_000 });
  nodes.push(started);
  return started;
}


test('an etcd leader pause moves no partition, and every change made during it is acknowledged and replayed', async () => {
  // The node's keep-alives go to the leader, the member about to be paused: it must move on.
  const leader = await etcd.leader();
  const a = await node('a', leader);
  await until('a owns every partition', () => a.manager.owned().length === P, 20_000);
  const evictions: string[] = [];
  a.session.onEnd((why) => evictions.push(`session ended: ${why}`));
  const session = a.backend.openSession(SINK);
  const acknowledged: LeaseView[] = [];
  const grantAndSync = async (key: string) => {
    acknowledged.push(await grantDurably(a, key, session));
  };
  await grantAndSync('before');

  expect(await etcd.leader()).toBe(leader);
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
  expect(a.session.memberSwitches).toBeGreaterThan(0);
  expect(a.manager.owned()).toHaveLength(P);
  expect(a.manager.claims).toBe(P);

  await a.stop();
  nodes.splice(nodes.indexOf(a), 1);
  const b = await node('b');
  await until('b owns every partition', () => b.manager.owned().length === P, 20_000);
  for (const lease of acknowledged) expect(b.backend.checkFence(lease.key, lease.fence)).toBe(true);
  expect(b.backend.stats().leases).toBe(acknowledged.length);
}, 90_000);

test('a paused etcd member that has the keep-alive stream: the stream moves on to another member and the node keeps its partitions', async () => {
  for (const running of nodes.splice(0)) await running.stop();
  // A follower, so no election runs: only the keep-alive stream's own member is gone, for longer than the node TTL.
  const follower = ((await etcd.leader()) + 1) % etcd.endpoints.length;
  const c = await node('c', follower);
  await until('c owns every partition', () => c.manager.owned().length === P, 20_000);
  const ends: string[] = [];
  c.session.onEnd((why) => ends.push(why));
  const session = c.backend.openSession(SINK);
  await grantDurably(c, 'before-member-pause', session);
  etcd.pause(follower);
  try {
    await new Promise((r) => setTimeout(r, 6_000));
  } finally {
    etcd.resume(follower);
  }
  const after = await grantDurably(c, 'after-member-pause', session);
  expect(ends).toEqual([]);
  expect(c.session.memberSwitches).toBeGreaterThan(0);
  expect(c.manager.owned()).toHaveLength(P);
  expect(c.backend.checkFence(after.key, after.fence)).toBe(true);
}, 60_000);
