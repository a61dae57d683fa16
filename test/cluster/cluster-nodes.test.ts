/**
 * Cluster mode with real processes, no faults: three etcd members and three lockd nodes on
 * loopback. Mutual exclusion and fences under concurrent load through all nodes (checked by the
 * history checker), FIFO of waiters parked through different nodes, and an ephemeral grant
 * ending with its client's connection to a forwarding node.
 */
import { type LockdCluster, call, startCluster } from '../helpers/cluster';
import { checkHistory, summarize } from './checker';
import { Workload } from './workload';

jest.setTimeout(90_000);

let cluster: LockdCluster;

beforeAll(async () => {
  cluster = await startCluster({ nodes: 3, partitions: 8, nodeTtl: '3s', name: 'nodes' });
  await cluster.settled();
});

afterAll(async () => {
  await cluster?.stop();
});

/** A key (named after `stem`) whose partition node `owner` serves. */
async function keyOwnedBy(owner: number, stem: string): Promise<string> {
  const info = await cluster.info();
  for (let i = 0; i < 10_000; i++) if (cluster.ownerOf(`${stem}/${i}`, info) === owner) return `${stem}/${i}`;
  throw new Error(`no key of node ${owner}`);
}

test('mutual exclusion and fences under concurrent load through all three nodes', async () => {
  const seed = Number(process.env.CLUSTER_SEED ?? Date.now() % 1_000_000);
  const keys = Array.from({ length: 8 }, (_, i) => `load/${i}`);
  const load = new Workload(cluster, { keys, workers: 12, ttlMs: 2_000, waitMs: 2_000, longHoldRatio: 0.02, seed }).start();
  try {
    await load.progress(300, 60_000);
  } finally {
    await load.stop();
  }
  const violations = checkHistory(load.records);
  const summary = `seed ${seed}: ${load.records.length} records, ${load.grants()} grants, ${JSON.stringify(summarize(violations))}, errors ${JSON.stringify([...load.errors])}`;
  expect({ summary, violations: violations.slice(0, 10) }).toEqual({ summary, violations: [] });
  // Every node took part, and keys of more than one owner were used.
  const info = await cluster.info();
  expect(new Set(load.records.map((r) => r.node))).toEqual(new Set(['n0', 'n1', 'n2']));
  expect(new Set(keys.map((k) => cluster.ownerOf(k, info))).size).toBeGreaterThan(1);
  expect(load.errors.size).toBe(0);
});

test('FIFO through different nodes: waiters parked through nodes 0 and 1 on a key of node 2 are granted in arrival order', async () => {
  const key = await keyOwnedBy(2, 'fifo');
  const owner = await cluster.connect(2);
  const viaA = await cluster.connect(0);
  const viaB = await cluster.connect(1);
  const first = (await call(owner, 'acquire', { lockKey: key, ttlMs: 30_000 }).reply).lease!;
  const order: string[] = [];
  const waits: Promise<void>[] = [];
  const names = ['a1', 'b1', 'a2', 'b2', 'a3', 'b3'];
  for (const [n, name] of names.entries()) {
    const via = name.startsWith('a') ? viaA : viaB;
    const pending = call(via, 'acquire', { lockKey: key, ttlMs: 30_000, waitMs: 30_000, owner: name }, 40_000).reply;
    waits.push(
      pending.then(async (result) => {
        order.push(name);
        expect(result.acquired).toBe(true);
        expect(await call(via, 'release', { key, token: result.lease!.token }).reply).toBe(true);
      }),
    );
    // The next waiter is sent only once this one is parked at the owner: arrival order is known.
    let parked = 0;
    for (let i = 0; i < 400 && parked < n + 1; i++) {
      parked = (await call(owner, 'inspect', { key }).reply).waiters;
      if (parked < n + 1) await new Promise((r) => setTimeout(r, 25));
    }
    expect(parked).toBe(n + 1);
  }
  expect(await call(owner, 'release', { key, token: first.token }).reply).toBe(true);
  await Promise.all(waits);
  expect(order).toEqual(names);
});

test('an ephemeral grant through a forwarding node ends when the client\'s connection to that node closes', async () => {
  const key = await keyOwnedBy(2, 'ephemeral');
  const client = await cluster.connect(0);
  const granted = await call(client, 'acquire', { lockKey: key, ttlMs: 60_000, ephemeral: true }).reply;
  expect(granted.acquired).toBe(true);
  const observer = await cluster.connect(1);
  expect((await call(observer, 'inspect', { key }).reply).holders).toHaveLength(1);
  client.close();
  // Bounded wait for the owner to drop it (the forwarding node closes its peer link).
  let holders = 1;
  for (let i = 0; i < 400 && holders > 0; i++) {
    holders = (await call(observer, 'inspect', { key }).reply).holders.length;
    if (holders > 0) await new Promise((r) => setTimeout(r, 25));
  }
  expect(holders).toBe(0);
  // Long before its 60 s TTL, another client gets it, with a larger fence.
  const next = await call(observer, 'acquire', { lockKey: key, ttlMs: 5_000 }).reply;
  expect(next.acquired).toBe(true);
  expect(next.lease!.fence).toBeGreaterThan(granted.lease!.fence);
});
