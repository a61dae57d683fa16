/**
 * LockClient with the addresses of a real cluster (one etcd member, two lockd nodes): kill -9 of
 * the node the client is connected to. The client fails over to the other node; its
 * non-ephemeral leases stay held (renewed there, also those on keys the dead node owned, once
 * the survivor has taken their partitions over); the ephemeral lease, bound to the dead
 * connection, is reported lost. `lockctl cluster` shows both nodes and their partitions.
 * With routeToOwner, calls go to the owner directly: an ephemeral lease on a key of the
 * surviving node lives on the client's own connection to that node, and outlives the death of
 * the node the client first connected to.
 */
import path from 'node:path';
import { crc32 } from 'node:zlib';
import { ClusterInfo, LockClient } from '../../src';
import { ConnectionError } from '../../src/errors';
import { type EtcdCluster, freePorts, startEtcd } from '../helpers/etcd';
import { type LockdProcess, startLockd } from '../helpers/lockd-process';
import { until } from '../helpers/in-process-lockd';
import { runProcess } from '../helpers/tools';

jest.setTimeout(90_000);

const LOCKCTL = path.resolve(__dirname, '../../bin/lockctl.js');
const PARTITIONS = 8;
let etcd: EtcdCluster;
const nodes: LockdProcess[] = [];
const clients: LockClient[] = [];
const addr = (i: number) => `127.0.0.1:${nodes[i]!.port}`;

/** A key whose partition node `nodeId` owns in `info`. */
function keyOwnedBy(info: ClusterInfo, nodeId: string, stem: string): string {
  for (let i = 0; i < 1000; i++) if (info.owners[crc32(`${stem}/${i}`) % PARTITIONS] === nodeId) return `${stem}/${i}`;
  throw new Error(`no key of node ${nodeId} found`);
}

beforeAll(async () => {
  etcd = await startEtcd();
  const ports = await freePorts(2);
  for (let i = 0; i < 2; i++) {
    const port = String(ports[i]);
    const args = ['--etcd', etcd.endpoints.join(','), '--cluster', 'cf', '--node-id', `n${i}`, '--port', port, '--advertise', `127.0.0.1:${port}`];
    nodes.push(await startLockd([...args, '--partitions', String(PARTITIONS), '--node-ttl', '3s'], { readyTimeoutMs: 30_000 }));
  }
});

afterAll(async () => {
  for (const c of clients) await c.close();
  await Promise.all(nodes.map((node) => node.stop()));
  await etcd?.stop();
});

test('kill -9 of the node in use: calls go on through the other node, leases stay held, the ephemeral one is reported lost', async () => {
  const c = new LockClient({ hosts: [addr(0), addr(1)], owner: 'cluster-failover', connectAttempts: 3, reconnectBaseMs: 20, reconnectMaxMs: 200 });
  clients.push(c);
  const connects: string[] = [];
  c.on('connect', (address) => connects.push(address));
  c.on('disconnect', () => {});
  let info: ClusterInfo | undefined;
  await until(
    async () => {
      info = await c.clusterInfo();
      return info.members.filter((m) => m.partitions.length > 0).length === 2 && info.owners.every((o) => o !== '');
    },
    'partitions spread over both nodes',
    40_000,
  );
  expect(connects).toEqual([addr(0)]);

  const shown = await runProcess(process.execPath, [LOCKCTL, '--addr', `${addr(1)},${addr(0)}`, 'cluster'], { timeoutMs: 20_000 });
  expect(shown.code).toBe(0);
  expect(shown.stdout).toMatch(new RegExp(`^cluster "cf": 2 nodes, 8 partitions \\(answered by n1\\)\nnode +address +owned +partitions\nn0 +${addr(0)} +\\d+ +[\\d,-]+\nn1 +${addr(1)} +\\d+ +[\\d,-]+\nunowned partitions: none\n$`));

  const onDead = keyOwnedBy(info!, 'n0', 'dead');
  const onLive = keyOwnedBy(info!, 'n1', 'live');
  const leases = [await c.acquire(onDead, { ttlMs: 20_000, autoRenew: 1_000 }), await c.acquire(onLive, { ttlMs: 20_000, autoRenew: 1_000 })];
  const ephemeral = await c.acquire(keyOwnedBy(info!, 'n1', 'eph'), { ttlMs: 20_000, ephemeral: true });

  const routing = new LockClient({ hosts: [addr(0), addr(1)], owner: 'routing', routeToOwner: true, connectAttempts: 3, reconnectBaseMs: 20, reconnectMaxMs: 200 });
  clients.push(routing);
  routing.on('disconnect', () => {});
  const direct = await routing.acquire(keyOwnedBy(info!, 'n1', 'direct'), { ttlMs: 20_000, ephemeral: true });
  const routedLeases = [await routing.acquire(keyOwnedBy(info!, 'n0', 'routed-dead'), { ttlMs: 20_000, autoRenew: 1_000 })];
  expect((await c.inspect(direct.key)).holders.map((h) => h.owner)).toEqual(['routing']);

  nodes[0]!.kill('SIGKILL');
  await nodes[0]!.exited();

  expect(await c.ping()).toBe('pong');
  expect(connects).toEqual([addr(0), addr(1)]);
  expect(ephemeral.signal.aborted).toBe(true);
  expect(ephemeral.signal.reason).toBeInstanceOf(ConnectionError);
  // Routed straight to n1, the other client's ephemeral lease never depended on n0.
  expect(await routing.ping()).toBe('pong');
  expect(direct.signal.aborted).toBe(false);
  expect((await c.inspect(direct.key)).holders.map((h) => h.fence)).toEqual([direct.fence]);

  // The survivor takes the dead node's partitions over (node TTL 3 s) and honours its leases.
  await until(async () => (await c.clusterInfo()).owners.every((o) => o === 'n1'), 'n1 to own every partition', 30_000);
  for (const lease of [...leases, ...routedLeases]) {
    const expiresBefore = lease.expiresAt;
    await until(() => lease.expiresAt > expiresBefore, `the lease on ${lease.key} to be renewed through n1`, 15_000);
    expect(lease.held).toBe(true);
    expect(await c.checkFence(lease.key, lease.fence)).toBe(true);
    expect((await c.inspect(lease.key)).holders.map((h) => h.fence)).toEqual([lease.fence]);
  }
  for (const lease of [...leases, ...routedLeases, direct]) expect(await lease.release()).toBe(true);
  expect((await routing.inspect(routedLeases[0]!.key)).holders).toEqual([]);
});
