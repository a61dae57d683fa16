/**
 * The cluster backend over a real etcd: grants are acknowledged after their journal commit, with
 * fences published per partition; a node that takes over replays every acknowledged lease (same
 * token and fence, renewable) and continues fences above them; keys of another node's partitions
 * are refused UNAVAILABLE naming that node; a node cut off from etcd answers nothing.
 */
import { UnavailableError } from '../../src/errors';
import { startClusterNode, type ClusterNode } from '../../src/cluster/cluster-node';
import { resolveClusterOptions } from '../../src/cluster/options';
import { PartitionManager } from '../../src/cluster/partition-manager';
import { partitionOf } from '../../src/cluster/partitions';
import { systemClock, type LeaseView } from '../../src/table/types';
import { grantDurably as grant, LIMITS, NO_WAITS as SINK, synced, until } from './support';
import { EtcdCluster, startEtcd } from '../helpers/etcd';
import { startTcpProxy } from '../helpers/tcp-proxy';

const P = 4;

let etcd: EtcdCluster;
let clusterSeq = 0;
const nodes: ClusterNode[] = [];

beforeAll(async () => {
  etcd = await startEtcd({ members: 1 });
}, 60_000);
afterEach(async () => {
  for (const node of nodes.splice(0).reverse()) await node.stop().catch(() => undefined);
});
afterAll(async () => etcd?.stop());

async function node(cluster: string, nodeId: string, endpoints = etcd.endpoints, settleMs = 60_000): Promise<ClusterNode> {
  const options = resolveClusterOptions({ etcdEndpoints: endpoints, cluster, nodeId, advertise: `127.0.0.1:${9100 + nodes.length}`, partitions: P, nodeTtlMs: 4_000, etcdCallTimeoutMs: 1_000 }, {});
  const started = await startClusterNode(options, LIMITS, systemClock, { claimGraceMs: 300, reconcileMs: 200, settleMs });
  nodes.push(started);
  return started;
}




test('a node that takes over replays every acknowledged lease (same token and fence, renewable) and continues fences above them', async () => {
  const cluster = `backend-${process.pid}-${clusterSeq++}`;
  const a = await node(cluster, 'a');
  await until('a owns every partition', () => a.manager.owned().length === P, 20_000);
  const session = a.backend.openSession(SINK);
  const leases: LeaseView[] = [];
  for (let i = 0; i < 12; i++) leases.push(await grant(a, `key-${i}`, session));
  // Published fences: unique, and each names its key's partition.
  expect(new Set(leases.map((l) => l.fence)).size).toBe(leases.length);
  for (const lease of leases) expect(lease.fence % P).toBe(partitionOf(lease.key, P));
  expect(a.backend.checkFence('key-0', leases[0].fence)).toBe(true);

  await a.stop(); // graceful: hands every partition back
  nodes.splice(nodes.indexOf(a), 1);
  const b = await node(cluster, 'b');
  await until('b owns every partition', () => b.manager.owned().length === P, 20_000);
  for (const lease of leases) {
    expect(b.backend.checkFence(lease.key, lease.fence)).toBe(true);
    const renewed = b.backend.renew(lease.key, lease.token, 30_000);
    expect(renewed.fence).toBe(lease.fence);
  }
  await synced(b);
  const s = b.backend.openSession(SINK);
  expect(b.backend.release('key-0', leases[0].token)).toBe(true);
  const next = await grant(b, 'key-0', s);
  expect(next.fence).toBeGreaterThan(leases[0].fence);
  expect(next.fence % P).toBe(partitionOf('key-0', P));
}, 60_000);

test('a change made just before its partition leaves the node is never acknowledged: the sync after it fails', async () => {
  const cluster = `backend-${process.pid}-${clusterSeq++}`;
  const a = await node(cluster, 'a');
  await until('a owns every partition', () => a.manager.owned().length === P, 20_000);
  const session = a.backend.openSession(SINK);
  const granted = a.backend.acquire({ key: 'leaving', session, ttlMs: 30_000 });
  expect(granted.kind).toBe('granted');
  // What the partition manager does when the node session ends (or a hand-off or loss): the
  // journal drops the partition with its unwritten changes, the backend evicts its table. The
  // reply to the grant is flushed only after that (a grant made while another partition's
  // failed sync was rolled back, say), so its sync is the one that must fail.
  const p = partitionOf('leaving', P);
  a.journal.drop(p, 'test: the session ended');
  a.backend.evict(p, 'test: the session ended');
  const outcome = await new Promise<Error | null>((resolve) => a.backend.sync(resolve));
  expect(outcome).toBeInstanceOf(UnavailableError);
  // The next sync has nothing of that partition left to fail on.
  expect(await new Promise<Error | null>((resolve) => a.backend.sync(resolve))).toBeNull();
}, 60_000);

test("a key of another node's partition is refused UNAVAILABLE naming that node's address", async () => {
  const cluster = `backend-${process.pid}-${clusterSeq++}`;
  const a = await node(cluster, 'a', etcd.endpoints, 0);
  const b = await node(cluster, 'b', etcd.endpoints, 0);
  await until('both own partitions, all owned', () => a.manager.owned().length > 0 && b.manager.owned().length > 0 && a.manager.owned().length + b.manager.owned().length === P, 20_000);
  await until('a knows b', () => a.manager.liveNodes().length === 2, 10_000);
  // Partitions first claimed by whichever node was quicker move to their preferred node: wait until that settled.
  const settled = (n: ClusterNode) => n.manager.owned().every((p) => PartitionManager.preferred(p, ['a', 'b']) === (n === a ? 'a' : 'b'));
  await until('every partition on its preferred node', () => settled(a) && settled(b) && a.manager.owned().length + b.manager.owned().length === P, 20_000);
  const p = b.manager.owned()[0];
  let key = '';
  for (let i = 0; key === '' && i < 10_000; i++) if (partitionOf(`k${i}`, P) === p) key = `k${i}`;
  // a learns who owns p at its next read of owners/ (every reconcile round).
  await until("a's view names b as p's owner", () => a.manager.ownerOf(p)?.nodeId === 'b', 10_000);
  const session = a.backend.openSession(SINK);
  const attempt = () => a.backend.acquire({ key, session });
  expect(attempt).toThrow(UnavailableError);
  expect(attempt).toThrow(/node b at 127\.0\.0\.1:\d+ owns it/);
  // b grants it.
  const lease = await grant(b, key, b.backend.openSession(SINK));
  expect(lease.key).toBe(key);
}, 60_000);

test('a node cut off from etcd refuses every call once its ownership deadline passes', async () => {
  const cluster = `backend-${process.pid}-${clusterSeq++}`;
  const proxy = await startTcpProxy(etcd.members[0].clientPort);
  try {
    const a = await node(cluster, 'a', [proxy.endpoint]);
    await until('a owns every partition', () => a.manager.owned().length === P, 20_000);
    const session = a.backend.openSession(SINK);
    const lease = await grant(a, 'held', session);
    proxy.blackhole();
    await until('a steps down', () => !a.session.live(), 20_000);
    expect(a.backend.ownedPartitions()).toEqual([]);
    expect(() => a.backend.acquire({ key: 'other', session })).toThrow(UnavailableError);
    expect(() => a.backend.checkFence('held', lease.fence)).toThrow(UnavailableError);
    expect(() => a.backend.renew('held', lease.token, undefined)).toThrow(UnavailableError);
  } finally {
    proxy.pass();
    await proxy.close();
  }
}, 60_000);

test("an ephemeral grant is journaled: after its owner crashes the new owner keeps it until expiry; once its session closed, the key is free there", async () => {
  const cluster = `backend-${process.pid}-${clusterSeq++}`;
  const a = await node(cluster, 'a');
  await until('a owns every partition', () => a.manager.owned().length === P, 20_000);
  const holder = a.backend.openSession(SINK);
  const closing = a.backend.openSession(SINK);
  const held = a.backend.acquire({ key: 'eph-held', session: holder, ephemeral: true, ttlMs: 60_000 });
  const freed = a.backend.acquire({ key: 'eph-freed', session: closing, ephemeral: true, ttlMs: 60_000 });
  if (held.kind !== 'granted' || freed.kind !== 'granted') throw new Error('not granted');
  // Re-entry of an ephemeral lease is journaled as well.
  a.backend.acquire({ key: 'eph-held', session: holder, token: held.lease.token, ttlMs: 60_000 });
  await synced(a);
  expect(a.backend.closeSession(closing).leases).toBe(1);
  a.backend.writeBehind();
  await synced(a);

  // a crashes: its lease is not renewed, nothing is handed back, its connections never close.
  a.manager.halt();
  a.session.abandon();
  const b = await node(cluster, 'b');
  await until('b owns every partition', () => b.manager.owned().length === P, 20_000);
  expect(b.backend.checkFence('eph-held', held.lease.fence)).toBe(true);
  expect(b.backend.inspect('eph-held').holders[0].holdCount).toBe(2);
  const s = b.backend.openSession(SINK);
  expect(b.backend.acquire({ key: 'eph-held', session: s }).kind).toBe('busy');
  expect(b.backend.acquire({ key: 'eph-freed', session: s }).kind).toBe('granted');
}, 60_000);

test('a graceful hand-off to a joining node under load loses no acknowledged grant', async () => {
  const cluster = `backend-${process.pid}-${clusterSeq++}`;
  const a = await node(cluster, 'a', etcd.endpoints, 0);
  await until('a owns every partition', () => a.manager.owned().length === P, 20_000);
  const sessions = new Map<ClusterNode, number>();
  const acknowledged: LeaseView[] = [];
  let refused = 0;
  let b: ClusterNode | undefined;
  const worker = async (w: number) => {
    for (let i = 0; i < 40; i++) {
      const key = `w${w}-${i}`;
      // Ask a, then b: a refused call (UNAVAILABLE) is what a client retries at the other node.
      for (const n of b === undefined ? [a] : [a, b]) {
        if (!sessions.has(n)) sessions.set(n, n.backend.openSession(SINK));
        try {
          acknowledged.push(await grant(n, key, sessions.get(n)!));
          break;
        } catch (error) {
          if (!(error instanceof UnavailableError)) throw error;
          refused++;
        }
      }
      await new Promise((r) => setTimeout(r, 10));
    }
  };
  const load = Promise.all([0, 1, 2, 3].map(worker));
  b = await node(cluster, 'b', etcd.endpoints, 0);
  await load;
  await until('both own partitions', () => a.manager.owned().length > 0 && b!.manager.owned().length > 0 && a.manager.owned().length + b!.manager.owned().length === P, 20_000);
  const owner = (key: string) => (a.manager.serves(partitionOf(key, P)) ? a : b!);
  for (const lease of acknowledged) expect(owner(lease.key).backend.checkFence(lease.key, lease.fence)).toBe(true);
  console.log(`hand-off under load: ${acknowledged.length} acknowledged, ${refused} refused and retried elsewhere`);
}, 90_000);

test('--max-leases and --max-waiters bound the node as a whole, not each partition', async () => {
  const cluster = `backend-${process.pid}-${clusterSeq++}`;
  const options = resolveClusterOptions({ etcdEndpoints: etcd.endpoints, cluster, nodeId: 'small', advertise: '127.0.0.1:9199', partitions: P, nodeTtlMs: 4_000, etcdCallTimeoutMs: 1_000 }, {});
  const small = await startClusterNode(options, { ...LIMITS, maxLeases: 3, maxWaiters: 1 }, systemClock, { claimGraceMs: 300, reconcileMs: 200 });
  nodes.push(small);
  await until('every partition owned', () => small.manager.owned().length === P, 20_000);
  const session = small.backend.openSession(SINK);
  // Keys of different partitions: each table alone is far from its own limit.
  const keys: string[] = [];
  for (let i = 0; keys.length < P; i++) if (!keys.some((k) => partitionOf(k, P) === partitionOf(`limit${i}`, P))) keys.push(`limit${i}`);
  const leases = keys.slice(0, 3).map((key) => small.backend.acquire({ key, session, ttlMs: 60_000 }));
  expect(leases.map((outcome) => outcome.kind)).toEqual(['granted', 'granted', 'granted']);
  expect(() => small.backend.acquire({ key: keys[3]!, session, ttlMs: 60_000 })).toThrow(/holds 3 leases, its limit \(--max-leases\)/);
  // A re-entry holds nothing new.
  const first = leases[0]!;
  if (first.kind !== 'granted') throw new Error('not granted');
  expect(small.backend.acquire({ key: keys[0]!, session, token: first.lease.token })).toMatchObject({ kind: 'granted', reentered: true });
  expect(small.backend.release(keys[2]!, (leases[2] as { lease: LeaseView }).lease.token)).toBe(true);
  // One waiter fits, a second (on another partition's key) does not.
  expect(small.backend.acquire({ key: keys[1]!, session, waitMs: 10_000 }).kind).toBe('queued');
  expect(() => small.backend.acquire({ key: keys[0]!, session, waitMs: 10_000 })).toThrow(/callers already wait on this node \(the limit, --max-waiters\)/);
  expect(small.backend.stats()).toEqual({ leases: 2, waiters: 1 });
  await synced(small);
}, 60_000);
