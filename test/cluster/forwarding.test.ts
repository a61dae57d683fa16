/**
 * Cluster mode's front end, with real processes: one etcd member and two lockd nodes. Every call
 * is sent to the node that does NOT own its key, so each answer below travelled over a peer link
 * (forwarding.ts): the owner's value, its errors, parked waits and their cancellation, the
 * connection-bound grants, listLocks merged across nodes, and the refusal on a peer link.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { ThriftConnection } from '../../src/client/thrift-connection';
import { NotHolderError, UnavailableError } from '../../src/errors';
import type { WireClusterInfo } from '../../src/protocol/lock-service/structs';
import { call, type LockdCluster, startCluster } from '../helpers/cluster';
import { DEBIAN_PYTHON, requirePythonThrift, requireThriftCompiler, run, runProcess } from '../helpers/tools';

jest.setTimeout(60_000);

const PARTITIONS = 8;
let cluster: LockdCluster;
let info: WireClusterInfo;

/** A connection to node `i` (closed by the harness). */
const connect = (i: number): Promise<ThriftConnection> => cluster.connect(i);

/** The node index (0 or 1) that owns `key`, per clusterInfo. */
const ownerIndex = (key: string): number => cluster.ownerOf(key, info);

/** A key (with `stem` in its name) owned by node `owner`. */
function keyOwnedBy(owner: number, stem: string): string {
  for (let i = 0; i < 1000; i++) if (ownerIndex(`${stem}/${i}`) === owner) return `${stem}/${i}`;
  throw new Error(`no key of node ${owner} found`);
}

beforeAll(async () => {
  cluster = await startCluster({ nodes: 2, etcdMembers: 1, partitions: PARTITIONS, nodeTtl: '3s', name: 'fwd', logLevel: 'info' });
  // Every partition owned, and both nodes own some.
  info = await cluster.settled();
});

afterAll(async () => cluster?.stop());

test('clusterInfo: both nodes, every partition owned, the same map from either node', async () => {
  const fromOther = await call(await connect(1), 'clusterInfo', undefined).reply;
  expect(info.cluster).toBe('fwd');
  expect(info.partitions).toBe(PARTITIONS);
  expect(info.members.map((m) => [m.nodeId, m.address])).toEqual([
    ['n0', cluster.nodes[0]!.address],
    ['n1', cluster.nodes[1]!.address],
  ]);
  expect(fromOther.nodeId).toBe('n1');
  expect(fromOther.owners).toEqual(info.owners);
});

test('a key of node 0, served through node 1: grant, inspect, checkFence, renew, release, and the owner\'s refusals', async () => {
  const key = keyOwnedBy(0, 'forwarded');
  const viaOther = await connect(1);
  const result = await call(viaOther, 'acquire', { lockKey: key, ttlMs: 30_000, owner: 'via-n1' }).reply;
  expect(result.acquired).toBe(true);
  const lease = result.lease!;
  expect(lease.lockKey).toBe(key);

  // The owner sees the same lease as the forwarding node reported.
  const atOwner = await call(await connect(0), 'inspect', { key }).reply;
  expect(atOwner.holders).toEqual([expect.objectContaining({ owner: 'via-n1', fence: lease.fence })]);
  expect(await call(viaOther, 'checkFence', { key, fence: lease.fence }).reply).toBe(true);
  expect(await call(viaOther, 'checkFence', { key, fence: lease.fence + 1 }).reply).toBe(false);

  const renewed = await call(viaOther, 'renew', { key, token: lease.token, ttlMs: 40_000 }).reply;
  expect(renewed.ttlMs).toBe(40_000);
  expect(renewed.fence).toBe(lease.fence);
  // The owner's LockError travels back as it is.
  await expect(call(viaOther, 'renew', { key, token: '0'.repeat(32) }).reply).rejects.toBeInstanceOf(NotHolderError);

  expect(await call(viaOther, 'release', { key, token: lease.token }).reply).toBe(true);
  expect(await call(viaOther, 'release', { key, token: lease.token }).reply).toBe(false);
});

test('a wait parked at the owner through another node is granted in order, and can be cancelled', async () => {
  const key = keyOwnedBy(0, 'waits');
  const holder = await connect(0);
  const first = (await call(holder, 'acquire', { lockKey: key, ttlMs: 30_000 }).reply).lease!;
  const viaOther = await connect(1);
  const cancelled = call(viaOther, 'acquire', { lockKey: key, waitMs: 20_000, owner: 'cancelled' });
  const granted = call(viaOther, 'acquire', { lockKey: key, waitMs: 20_000, owner: 'second' });
  // Both are parked at the owner before anything is cancelled or released.
  for (let i = 0; i < 200 && (await call(holder, 'inspect', { key }).reply).waiters < 2; i++) await new Promise((r) => setTimeout(r, 25));
  expect((await call(holder, 'inspect', { key }).reply).waiters).toBe(2);

  expect(await call(viaOther, 'cancelWait', { waitSeqid: cancelled.seqid }).reply).toBe(true);
  expect((await cancelled.reply).acquired).toBe(false);
  expect(await call(holder, 'release', { key, token: first.token }).reply).toBe(true);
  const second = await granted.reply;
  expect(second.acquired).toBe(true);
  expect(second.lease!.fence).toBeGreaterThan(first.fence);
  expect(await call(viaOther, 'release', { key, token: second.lease!.token }).reply).toBe(true);
});

test('an ephemeral grant made through another node ends when the client\'s connection to that node closes', async () => {
  const key = keyOwnedBy(0, 'ephemeral');
  const client = await connect(1);
  expect((await call(client, 'acquire', { lockKey: key, ttlMs: 60_000, ephemeral: true }).reply).acquired).toBe(true);
  const owner = await connect(0);
  expect((await call(owner, 'inspect', { key }).reply).holders).toHaveLength(1);
  client.close();
  let holders = 1;
  for (let i = 0; i < 200 && holders > 0; i++) {
    await new Promise((r) => setTimeout(r, 25));
    holders = (await call(owner, 'inspect', { key }).reply).holders.length;
  }
  expect(holders).toBe(0);
});

test('listLocks through either node pages over both nodes\' keys in key order, each key once', async () => {
  const keys = [...Array.from({ length: 5 }, (_, i) => keyOwnedBy(0, `list-${i}`)), ...Array.from({ length: 5 }, (_, i) => keyOwnedBy(1, `list-${i + 5}`))];
  const holder = await connect(0);
  for (const key of keys) expect((await call(holder, 'acquire', { lockKey: key, ttlMs: 60_000 }).reply).acquired).toBe(true);
  for (const via of [0, 1]) {
    const lister = await connect(via);
    const seen: string[] = [];
    let startAfter: string | undefined;
    for (let page = 0; page < 20; page++) {
      const infos = await call(lister, 'listLocks', { prefix: 'list-', limit: 3, ...(startAfter !== undefined && { startAfter }) }).reply;
      if (infos.length === 0) break;
      expect(infos.length).toBeLessThanOrEqual(3);
      seen.push(...infos.map((i) => i.lockKey));
      startAfter = infos[infos.length - 1]!.lockKey;
    }
    expect(seen).toEqual([...keys].sort());
  }
});

test('on a peer link (peerConnection) a key of another node is refused with its owner\'s address, not forwarded', async () => {
  const key = keyOwnedBy(0, 'peer');
  const link = await connect(1);
  expect(await call(link, 'peerConnection', { nodeId: 'test' }).reply).toBe('n1');
  const refusal = await call(link, 'inspect', { key }).reply.then(
    () => undefined,
    (error: unknown) => error,
  );
  expect(refusal).toBeInstanceOf(UnavailableError);
  expect((refusal as UnavailableError).ownerAddress).toBe(cluster.nodes[0]!.address);
  // Its own keys it serves.
  expect((await call(link, 'inspect', { key: keyOwnedBy(1, 'peer') }).reply).holders).toEqual([]);
});

test("the seed's Python client, unchanged, takes and releases a lock of another node through the node it dialled", async () => {
  requireThriftCompiler();
  requirePythonThrift();
  const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'lockd-seed-cluster-'));
  try {
    const seedDir = path.join(__dirname, '../interop/seed');
    run('thrift', ['-r', '--gen', 'py', '-out', scratch, path.join(seedDir, 'lock_service.thrift')]);
    const key = 'file_lock_key'; // the seed client's own key
    const dialled = 1 - ownerIndex(key);
    const result = await runProcess(DEBIAN_PYTHON, [path.join(seedDir, 'run_seed_client.py'), scratch, String(cluster.nodes[dialled]!.port)], {
      env: { PYTHONDONTWRITEBYTECODE: '1', PYTHONUNBUFFERED: '1' },
      timeoutMs: 20_000,
    });
    expect(result.stderr).toBe('');
    expect(result.stdout).toBe('Lock acquired. Writing to file...\nLock released.\n');
    expect((await call(await connect(ownerIndex(key)), 'inspect', { key }).reply).holders).toEqual([]);
  } finally {
    fs.rmSync(scratch, { recursive: true, force: true });
  }
});

// Last: it kills node 0.
test('when the owner dies, a call through the surviving node waits out the failover and finds the lease still held', async () => {
  const key = keyOwnedBy(0, 'failover');
  const viaSurvivor = await connect(1);
  const lease = (await call(viaSurvivor, 'acquire', { lockKey: key, ttlMs: 60_000, owner: 'survivor' }).reply).lease!;
  await cluster.killNode(0);
  // No error in between: node 1 holds the calls until it has taken the partition over.
  const info = await call(viaSurvivor, 'inspect', { key }).reply;
  expect(info.holders).toEqual([expect.objectContaining({ owner: 'survivor', fence: lease.fence })]);
  const renewed = await call(viaSurvivor, 'renew', { key, token: lease.token }).reply;
  expect(renewed.fence).toBe(lease.fence);
  const other = await call(await connect(1), 'acquire', { lockKey: key, ttlMs: 10_000 }).reply;
  expect(other.acquired).toBe(false);
  expect(await call(viaSurvivor, 'release', { key, token: lease.token }).reply).toBe(true);
  const next = await call(viaSurvivor, 'acquire', { lockKey: key, ttlMs: 10_000 }).reply;
  expect(next.lease!.fence).toBeGreaterThan(lease.fence);
});
