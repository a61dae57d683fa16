/**
 * Node sessions and partition ownership against a real etcd: every partition gets exactly one
 * owner; a node cut off from etcd stops owning before another node can claim its partitions; a
 * crashed node's partitions are claimed by another once its lease expires.
 */
import { spawn } from 'node:child_process';
import path from 'node:path';
import type { Etcd3 } from 'etcd3';
import { createEtcdClient } from '../../src/cluster/etcd-client';
import { EtcdJournal, type PartitionReplay } from '../../src/cluster/etcd-journal';
import { ClusterKeys } from '../../src/cluster/keys';
import { NodeSession } from '../../src/cluster/node-session';
import { PartitionManager } from '../../src/cluster/partition-manager';
import { partitionOf, publishFence, localFence } from '../../src/cluster/partitions';
import { EtcdCluster, startEtcd } from '../helpers/etcd';
import { startTcpProxy } from '../helpers/tcp-proxy';
import { until } from './support';

const P = 8;
const NODE_TTL_MS = 2_000;

let etcd: EtcdCluster;
let clusterSeq = 0;
const cleanups: Array<() => Promise<void> | void> = [];

beforeAll(async () => {
  etcd = await startEtcd({ members: 1 });
}, 60_000);
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});
afterAll(async () => etcd?.stop());

interface TestNode {
  id: string;
  client: Etcd3;
  session: NodeSession;
  manager: PartitionManager;
  adopted: Map<number, { at: number; replay: PartitionReplay }>;
  evicted: Array<{ p: number; at: number; reason: string }>;
  sessionEndedAt: number | undefined;
}

function startNode(keys: ClusterKeys, id: string, endpoints: string[], settleMs = 60_000): TestNode {
  const client = createEtcdClient(endpoints, 1_000);
  const session = new NodeSession(client, keys, { nodeId: id, advertise: `127.0.0.1:${9000 + clusterSeq}`, nodeTtlMs: NODE_TTL_MS });
  const journal = new EtcdJournal(client, keys, { deadline: () => session.deadline });
  const node: TestNode = { id, client, session, manager: undefined as never, adopted: new Map(), evicted: [], sessionEndedAt: undefined };
  session.onEnd(() => (node.sessionEndedAt ??= performance.now()));
  node.manager = new PartitionManager(
    client,
    keys,
    session,
    journal,
    {
      adopt: (p, replay) => node.adopted.set(p, { at: performance.now(), replay }),
      evict: (p, reason) => node.evicted.push({ p, at: performance.now(), reason }),
    },
    { nodeId: id, partitions: P, settleMs, claimGraceMs: 500, reconcileMs: 200 },
  );
  cleanups.push(async () => {
    await node.manager.stop();
    await session.close();
    client.close();
  });
  return node;
}


function freshKeys(): ClusterKeys {
  return new ClusterKeys(`partitions-test-${process.pid}-${clusterSeq++}`);
}

test('partitionOf is CRC-32 (IEEE) of the UTF-8 bytes mod P, and published fences map back to their partition only', () => {
  // crc32("hello") = 0x3610a686 = 907060870 (zlib, Python zlib.crc32, Go crc32.ChecksumIEEE).
  expect(partitionOf('hello', 64)).toBe(907060870 % 64);
  expect(partitionOf('hello', 1)).toBe(0);
  // UTF-8 bytes, not UTF-16 units: crc32("é") over c3 a9 = 0x0b8b5b2e... computed by zlib here.
  expect(partitionOf('é', 1 << 30)).toBe(require('node:zlib').crc32(Buffer.from([0xc3, 0xa9])) % (1 << 30));
  const fence = publishFence(7, 5, 64, 1000);
  expect(fence).toBe(1000 + 7 * 64 + 5);
  expect(localFence(fence, 5, 64, 1000)).toBe(7);
  expect(localFence(fence, 6, 64, 1000)).toBeUndefined();
});

test('three nodes share the partitions: every partition has exactly one owner', async () => {
  const keys = freshKeys();
  const nodes = ['n1', 'n2', 'n3'].map((id) => startNode(keys, id, etcd.endpoints, 0));
  await Promise.all(nodes.map((n) => n.manager.start()));
  await until('every partition owned', () => nodes.reduce((sum, n) => sum + n.manager.owned().length, 0) === P, 20_000);
  // Settle: hand-offs towards preferred owners (settleMs 0) finish; still exactly one owner each.
  await until('preferred owners', () => nodes.every((n) => n.manager.owned().every((p) => PartitionManager.preferred(p, ['n1', 'n2', 'n3']) === n.id)), 20_000);
  const owned = nodes.flatMap((n) => n.manager.owned()).sort((a, b) => a - b);
  expect(owned).toEqual([...Array(P).keys()]);
  const inEtcd = await nodes[0].client.getAll().prefix(keys.ownersPrefix).strings();
  expect(Object.keys(inEtcd)).toHaveLength(P);
  for (let p = 0; p < P; p++) expect(inEtcd[keys.owner(p)]).toBe(PartitionManager.preferred(p, ['n1', 'n2', 'n3']));
}, 60_000);

test('a node cut off from etcd stops owning its partitions before another node claims any of them', async () => {
  const keys = freshKeys();
  const proxy = await startTcpProxy(etcd.members[0].clientPort);
  cleanups.push(() => proxy.close());
  const a = startNode(keys, 'a', [proxy.endpoint]);
  await a.manager.start();
  await until('a owns every partition', () => a.manager.owned().length === P, 20_000);
  const b = startNode(keys, 'b', etcd.endpoints);
  await b.manager.start();
  expect(b.manager.owned()).toEqual([]);

  proxy.blackhole();
  await until('b owns every partition', () => b.manager.owned().length === P, 30_000);
  expect(a.sessionEndedAt).toBeDefined();
  expect(a.manager.owned()).toEqual([]);
  expect(a.evicted.map((e) => e.p).sort((x, y) => x - y)).toEqual([...Array(P).keys()]);
  // Ordering on this process's one monotonic clock: a stopped answering before b adopted anything.
  const firstAdoptByB = Math.min(...[...b.adopted.values()].map((v) => v.at));
  const lastEvictByA = Math.max(...a.evicted.map((e) => e.at));
  expect(lastEvictByA).toBeLessThan(firstAdoptByB);

  // Reconnected, a rejoins with a new lease and claims nothing b holds.
  proxy.pass();
  await until('a has a new session', () => a.session.live(), 20_000);
  expect(a.manager.owned()).toEqual([]);
  expect(b.manager.owned()).toHaveLength(P);
}, 60_000);

test("a crashed node's partitions are claimed by another node after its lease expires", async () => {
  const keys = freshKeys();
  const a = startNode(keys, 'a', etcd.endpoints);
  await a.manager.start();
  await until('a owns every partition', () => a.manager.owned().length === P, 20_000);
  const b = startNode(keys, 'b', etcd.endpoints);
  await b.manager.start();
  // Crash: a stops renewing its lease and never releases anything.
  a.manager.halt();
  a.session.abandon();
  const crashedAt = performance.now();
  await until('b owns every partition', () => b.manager.owned().length === P, NODE_TTL_MS + 15_000);
  const takeoverMs = Math.max(...[...b.adopted.values()].map((v) => v.at)) - crashedAt;
  console.log(`takeover of ${P} partitions after a crash: ${takeoverMs.toFixed(0)} ms (node TTL ${NODE_TTL_MS} ms)`);
  // b got them by claims after a's lease expired in etcd (a's registration went with it).
  expect(b.manager.claims).toBe(P);
  expect(await b.client.get(keys.node('a')).string()).toBeNull();
}, 60_000);

test("kill -9 of a node process: another node claims all its partitions once its lease expires", async () => {
  const keys = freshKeys();
  const child = spawn(
    process.execPath,
    ['--require', path.resolve(__dirname, '../helpers/exit-with-parent.js'), path.resolve(__dirname, '../helpers/cluster-node-child.js'), etcd.endpoints.join(','), keys.cluster, 'victim', String(P), String(NODE_TTL_MS)],
    { stdio: ['pipe', 'pipe', 'pipe'] },
  );
  let output = '';
  child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise((resolve) => child.once('exit', resolve));
  cleanups.push(async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await exited;
    child.stdin!.destroy();
  });
  const all = JSON.stringify([...Array(P).keys()]);
  await until(`the child owns every partition (it printed: ${output})`, () => output.includes(`owned ${all}`), 30_000);
  const b = startNode(keys, 'b', etcd.endpoints);
  await b.manager.start();
  expect(b.manager.owned()).toEqual([]);

  child.kill('SIGKILL');
  await exited;
  const killedAt = performance.now();
  await until('b owns every partition', () => b.manager.owned().length === P, NODE_TTL_MS + 15_000);
  const takeoverMs = Math.max(...[...b.adopted.values()].map((v) => v.at)) - killedAt;
  console.log(`takeover of ${P} partitions after kill -9: ${takeoverMs.toFixed(0)} ms (node TTL ${NODE_TTL_MS} ms)`);
  expect(b.manager.claims).toBe(P);
  expect(await b.client.get(keys.node('victim')).string()).toBeNull();
}, 60_000);
