/**
 * A graceful hand-off seen from a client, with real processes: a node joins, partitions move to
 * it, and a wait parked on the old owner follows its key to the new owner instead of failing.
 */
import { crc32 } from 'node:zlib';
import { ThriftConnection } from '../../src/client/thrift-connection';
import { CALL_WRITERS, type CallArgs, type CallWriter, type MethodName, type ResultOf } from '../../src/protocol/lock-service/client';
import { type EtcdCluster, freePorts, startEtcd } from '../helpers/etcd';
import { type LockdProcess, startLockd } from '../helpers/lockd-process';

jest.setTimeout(90_000);

const PARTITIONS = 4;
let etcd: EtcdCluster;
const nodes: LockdProcess[] = [];
const open: ThriftConnection[] = [];

async function startNode(i: number, port: number): Promise<LockdProcess> {
  const node = await startLockd(['--etcd', etcd.endpoints.join(','), '--cluster', 'handoff', '--node-id', `n${i}`, '--port', String(port), '--advertise', `127.0.0.1:${port}`, '--partitions', String(PARTITIONS)], {
    readyTimeoutMs: 30_000,
  });
  nodes.push(node);
  return node;
}

async function connect(node: LockdProcess): Promise<ThriftConnection> {
  const connection = await ThriftConnection.connect({ host: '127.0.0.1', port: node.port, transport: 'buffered', protocol: 'binary', connectTimeoutMs: 5_000, maxMessageBytes: 1 << 20 });
  open.push(connection);
  return connection;
}

function call<M extends MethodName>(connection: ThriftConnection, method: M, args: CallArgs[M]) {
  return connection.call(method, CALL_WRITERS[method] as CallWriter<CallArgs[M]>, args, 60_000) as { seqid: number; reply: Promise<ResultOf<M>> };
}

beforeAll(async () => {
  etcd = await startEtcd();
});

afterAll(async () => {
  for (const connection of open) connection.close();
  await Promise.all(nodes.map((node) => node.stop()));
  await etcd?.stop();
});

test('a wait parked on a node that hands its key over is granted by the new owner, on the same connection', async () => {
  const [port0, port1] = await freePorts(2);
  const first = await startNode(0, port0!);
  const direct = await connect(first);
  // Alone, node 0 owns every partition: park a wait on one of them, on node 0 itself.
  const keys = Array.from({ length: 40 }, (_, i) => `moving/${i}`);
  const holder = await connect(first);
  const leases = new Map<string, ResultOf<'acquire'>>();
  for (const key of keys) leases.set(key, await call(holder, 'acquire', { lockKey: key, ttlMs: 60_000 }).reply);
  const waits = keys.map((key) => ({ key, wait: call(direct, 'acquire', { lockKey: key, waitMs: 30_000, owner: 'waiter' }) }));
  await call(direct, 'ping', undefined).reply;

  await startNode(1, port1!);
  // Partitions move to node 1 once it has settled: wait until node 0 reports some owned by node 1.
  let moved: number[] = [];
  for (let i = 0; i < 300 && moved.length === 0; i++) {
    const info = await call(direct, 'clusterInfo', undefined).reply;
    moved = info.owners.flatMap((owner, p) => (owner === 'n1' ? [p] : []));
    if (moved.length === 0) await new Promise((r) => setTimeout(r, 100));
  }
  expect(moved.length).toBeGreaterThan(0);
  const movedKeys = keys.filter((key) => moved.includes(crc32(key) % PARTITIONS));
  expect(movedKeys.length).toBeGreaterThan(0);

  // Release every holder (through node 1: forwarded where node 0 still owns the key).
  const viaNew = await connect(nodes[1]!);
  for (const key of keys) expect(await call(viaNew, 'release', { key, token: leases.get(key)!.lease!.token }).reply).toBe(true);
  // Every wait is granted, those of moved keys included, with a fence above the holder's.
  for (const { key, wait } of waits) {
    const granted = await wait.reply.catch(async (e) => {
      throw new Error(`${key} (p${crc32(key) % PARTITIONS}, moved ${movedKeys.includes(key)}): ${e}\n${nodes[0]!.output().slice(-3000)}\n${nodes[1]!.output().slice(-2000)}`);
    });
    expect(granted.acquired).toBe(true);
    expect(granted.lease!.fence).toBeGreaterThan(leases.get(key)!.lease!.fence);
  }
  // The moved keys' grants were made by the new owner.
  for (const key of movedKeys) expect((await call(await connect(nodes[1]!), 'inspect', { key }).reply).holders).toEqual([expect.objectContaining({ owner: 'waiter' })]);
});
