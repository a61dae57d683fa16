/**
 * routeToOwner with a stale partition map, against a real cluster: the client learns the map
 * while one node owns every partition; a second node then joins and takes some over. A call on
 * a key that moved is sent to the old owner over a peer link, answered UNAVAILABLE with the new
 * owner's address, and sent there: the ephemeral lease it gets lives on the client's own
 * connection to the new owner, so it outlives a kill -9 of the old one.
 */
import { crc32 } from 'node:zlib';
import { ClusterInfo, LockClient } from '../../src';
import { type EtcdCluster, freePorts, startEtcd } from '../helpers/etcd';
import { type LockdProcess, startLockd } from '../helpers/lockd-process';
import { until } from '../helpers/in-process-lockd';

jest.setTimeout(90_000);

const PARTITIONS = 8;
let etcd: EtcdCluster;
const nodes: LockdProcess[] = [];
const clients: LockClient[] = [];
let ports: number[];
const addr = (i: number) => `127.0.0.1:${ports[i]}`;

function startNode(i: number): Promise<LockdProcess> {
  const port = String(ports[i]);
  const args = ['--etcd', etcd.endpoints.join(','), '--cluster', 'rt', '--node-id', `n${i}`, '--port', port, '--advertise', `127.0.0.1:${port}`];
  return startLockd([...args, '--partitions', String(PARTITIONS), '--node-ttl', '3s'], { readyTimeoutMs: 30_000 });
}

beforeAll(async () => {
  etcd = await startEtcd();
  ports = await freePorts(2);
  nodes.push(await startNode(0));
});

afterAll(async () => {
  for (const c of clients) await c.close();
  await Promise.all(nodes.map((node) => node.stop()));
  await etcd?.stop();
});

test('a key that moved to a joining node: redirected there, and the ephemeral lease lives on the direct connection', async () => {
  const observer = new LockClient({ hosts: [addr(0)], owner: 'observer' });
  const routing = new LockClient({ hosts: [addr(0), addr(1)], owner: 'routing', routeToOwner: true, connectAttempts: 3, reconnectBaseMs: 20, reconnectMaxMs: 200 });
  clients.push(observer, routing);
  routing.on('disconnect', () => {});
  await until(async () => (await observer.clusterInfo()).owners.every((o) => o === 'n0'), 'n0 to own every partition', 30_000);
  // The routing client fetches its map now: every partition on n0.
  const warm = await routing.acquire('warm-up', { ttlMs: 20_000 });
  expect(await warm.release()).toBe(true);

  nodes.push(await startNode(1));
  let info: ClusterInfo | undefined;
  await until(
    async () => {
      info = await observer.clusterInfo();
      return info.members.filter((m) => m.partitions.length > 0).length === 2 && info.owners.every((o) => o !== '');
    },
    'n1 to take partitions over',
    40_000,
  );
  let moved = '';
  for (let i = 0; moved === ''; i++) if (info!.owners[crc32(`moved/${i}`) % PARTITIONS] === 'n1') moved = `moved/${i}`;

  const lease = await routing.acquire(moved, { ttlMs: 20_000, ephemeral: true });
  expect((await observer.inspect(moved)).holders.map((h) => h.fence)).toEqual([lease.fence]);

  nodes[0]!.kill('SIGKILL');
  await nodes[0]!.exited();
  expect(await routing.ping()).toBe('pong'); // failed over to n1
  expect(lease.signal.aborted).toBe(false);
  expect((await routing.inspect(moved)).holders.map((h) => h.fence)).toEqual([lease.fence]);
  expect(await lease.release()).toBe(true);
});
