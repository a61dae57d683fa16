/**
 * The HTTP JSON API in cluster mode, with real processes: one etcd member and two lockd nodes,
 * each with its HTTP listener. Keyed requests go to the node that does NOT own the key, so each
 * answer below travelled over the HTTP API's peer link (src/http/locks.ts) and is checked
 * against the owner's own Thrift port; the list merges both nodes' keys; /readyz follows the
 * node's etcd session; a write through the surviving node waits out its owner's failover.
 */
import type { WireClusterInfo } from '../../src/protocol/lock-service/structs';
import { call, type LockdCluster, startCluster } from '../helpers/cluster';
import { call as http, eventually, k } from '../http/http-lockd';

jest.setTimeout(90_000);

const PARTITIONS = 8;
const HTTP_READY = /^lockd http listening on (\S+):(\d+)$/m;
let cluster: LockdCluster;
let info: WireClusterInfo;

/** http://127.0.0.1:PORT of node i's HTTP listener, from the line it printed before its ready line. */
function httpOf(i: number): string {
  const match = HTTP_READY.exec(cluster.nodes[i]!.process!.output());
  if (match === null) throw new Error(`node ${i} printed no "lockd http listening on" line:\n${cluster.output()}`);
  return `http://127.0.0.1:${match[2]}`;
}

/** A key (with `stem` in its name) owned by node `owner`. */
function keyOwnedBy(owner: number, stem: string): string {
  for (let i = 0; i < 1000; i++) if (cluster.ownerOf(`${stem}/${i}`, info) === owner) return `${stem}/${i}`;
  throw new Error(`no key of node ${owner} found`);
}

/** The key's holders as its owner's Thrift port reports them. */
async function holdersAtOwner(owner: number, key: string) {
  return (await call(await cluster.connect(owner), 'inspect', { key }).reply).holders;
}

beforeAll(async () => {
  cluster = await startCluster({ nodes: 2, etcdMembers: 1, partitions: PARTITIONS, nodeTtl: '3s', name: 'httpc', logLevel: 'info', extraArgs: ['--http-port', '0'] });
  info = await cluster.settled();
});

afterAll(async () => cluster?.stop());

test("a key of node 0 through node 1's HTTP API: grant, inspect, checkFence, renew, release, and the owner's refusals as statuses", async () => {
  const key = keyOwnedBy(0, 'http-fwd');
  const via = httpOf(1);
  const granted = await http(via, 'POST', `/v1/locks/${k(key)}`, { ttlMs: 30_000, owner: 'via-n1' });
  expect(granted.status).toBe(200);
  expect(granted.json).toMatchObject({ key, mode: 'exclusive', ttlMs: 30_000, holdCount: 1, owner: 'via-n1', reentered: false });
  const { token, fence } = granted.json;

  // The owner holds the lease the other node reported.
  expect(await holdersAtOwner(0, key)).toEqual([expect.objectContaining({ owner: 'via-n1', fence })]);
  const inspected = await http(via, 'GET', `/v1/locks/${k(key)}`);
  expect(inspected.status).toBe(200);
  expect(inspected.json).toMatchObject({ key, waiters: 0, holders: [{ owner: 'via-n1', mode: 'exclusive', fence, holdCount: 1 }] });
  expect((await http(via, 'GET', `/v1/locks/${k(key)}/fence/${fence}`)).json).toEqual({ key, fence, current: true });
  expect((await http(via, 'GET', `/v1/locks/${k(key)}/fence/${fence + 1}`)).json).toEqual({ key, fence: fence + 1, current: false });

  const busy = await http(via, 'POST', `/v1/locks/${k(key)}`, {});
  expect([busy.status, busy.json.error.code]).toEqual([409, 'BUSY']);
  const reentered = await http(via, 'POST', `/v1/locks/${k(key)}`, { token });
  expect(reentered.status).toBe(200);
  expect(reentered.json).toMatchObject({ fence, holdCount: 2, reentered: true });

  const renewed = await http(via, 'POST', `/v1/locks/${k(key)}/renew`, { token, ttlMs: 40_000 });
  expect(renewed.status).toBe(200);
  expect(renewed.json).toMatchObject({ key, fence, ttlMs: 40_000 });
  // The owner's NOT_HOLDER comes back as the same 409 a local refusal gives.
  const wrong = await http(via, 'POST', `/v1/locks/${k(key)}/renew`, { token: '0'.repeat(32) });
  expect([wrong.status, wrong.json.error.code]).toEqual([409, 'NOT_HOLDER']);
  // The owner's INVALID_ARGUMENT (a TTL past --max-ttl) too.
  const tooLong = await http(via, 'POST', `/v1/locks/${k(key)}/renew`, { token, ttlMs: 48 * 3600_000 });
  expect([tooLong.status, tooLong.json.error.code]).toEqual([400, 'INVALID_ARGUMENT']);

  expect((await http(via, 'DELETE', `/v1/locks/${k(key)}?token=${token}`)).json).toEqual({ key, released: true });
  expect((await http(via, 'DELETE', `/v1/locks/${k(key)}`, { token })).status).toBe(200);
  const gone = await http(via, 'DELETE', `/v1/locks/${k(key)}?token=${token}`);
  expect([gone.status, gone.json.error.code]).toEqual([409, 'NOT_HOLDER']);
  expect(await holdersAtOwner(0, key)).toEqual([]);
});

test("the seed's HTTP route takes and releases a key of the other node", async () => {
  const key = keyOwnedBy(1, 'http-seed');
  const via = httpOf(0);
  const taken = await http(via, 'POST', `/lock?lock_key=${k(key)}&lock_value=seed-http`);
  expect(taken.status).toBe(200);
  expect(taken.json).toMatchObject({ message: 'Lock acquired successfully', lock_key: key, lock_value: 'seed-http' });
  expect(await holdersAtOwner(1, key)).toEqual([expect.objectContaining({ owner: 'seed-http', fence: taken.json.fence })]);
  expect((await http(via, 'POST', `/lock?lock_key=${k(key)}`)).status).toBe(409);
  expect((await http(via, 'DELETE', `/lock?lock_key=${k(key)}&token=${taken.json.token}`)).json).toEqual({ message: 'Lock released successfully', lock_key: key });
  expect(await holdersAtOwner(1, key)).toEqual([]);
});

test('a wait parked at the owner through HTTP is granted when the holder releases, times out with 408, and is cancelled when its client goes away', async () => {
  const key = keyOwnedBy(0, 'http-wait');
  const via = httpOf(1);
  const owner = await cluster.connect(0);
  const waiters = async () => (await call(owner, 'inspect', { key }).reply).waiters;
  const first = (await call(owner, 'acquire', { lockKey: key, ttlMs: 30_000 }).reply).lease!;

  const timedOut = await http(via, 'POST', `/v1/locks/${k(key)}`, { waitMs: 200 });
  expect([timedOut.status, timedOut.json.error.code]).toEqual([408, 'LOCK_TIMEOUT']);

  // A client that goes away: its wait at the owner is cancelled.
  const gone = new AbortController();
  const abandoned = http(via, 'POST', `/v1/locks/${k(key)}`, { waitMs: 60_000, owner: 'abandoned' }, { signal: gone.signal }).catch((error: Error) => error);
  await eventually(async () => (await waiters()) === 1, 'the abandoned wait to be parked at the owner');
  gone.abort();
  expect(await abandoned).toMatchObject({ name: 'AbortError' });
  await eventually(async () => (await waiters()) === 0, 'the abandoned wait to be cancelled at the owner');

  const waiting = http(via, 'POST', `/v1/locks/${k(key)}`, { waitMs: 60_000, owner: 'second' });
  await eventually(async () => (await waiters()) === 1, 'the wait to be parked at the owner');
  expect(await call(owner, 'release', { key, token: first.token }).reply).toBe(true);
  const second = await waiting;
  expect(second.status).toBe(200);
  expect(second.json).toMatchObject({ key, owner: 'second', reentered: false });
  expect(second.json.fence).toBeGreaterThan(first.fence);
  expect(await holdersAtOwner(0, key)).toEqual([expect.objectContaining({ owner: 'second', fence: second.json.fence })]);
  expect((await http(via, 'DELETE', `/v1/locks/${k(key)}?token=${second.json.token}`)).status).toBe(200);
});

test("GET /v1/locks through either node pages over both nodes' keys in key order, each key once", async () => {
  const keys = [...Array.from({ length: 4 }, (_, i) => keyOwnedBy(0, `hlist-${i}`)), ...Array.from({ length: 4 }, (_, i) => keyOwnedBy(1, `hlist-${i + 4}`))];
  for (const key of keys) expect((await http(httpOf(0), 'POST', `/v1/locks/${k(key)}`, { ttlMs: 60_000 })).status).toBe(200);
  for (const via of [0, 1]) {
    const seen: string[] = [];
    let startAfter: string | undefined;
    for (let page = 0; page < 20; page++) {
      const listed = await http(httpOf(via), 'GET', `/v1/locks?prefix=hlist-&limit=3${startAfter === undefined ? '' : `&startAfter=${k(startAfter)}`}`);
      expect(listed.status).toBe(200);
      expect(listed.json.locks.length).toBeLessThanOrEqual(3);
      seen.push(...listed.json.locks.map((lock: { key: string }) => lock.key));
      if (listed.json.next === undefined) break;
      startAfter = listed.json.next;
    }
    expect(seen).toEqual([...keys].sort());
  }
  // One page that holds them all carries no `next`.
  const whole = await http(httpOf(1), 'GET', `/v1/locks?prefix=hlist-&limit=50`);
  expect(whole.json.locks.map((lock: { key: string }) => lock.key)).toEqual([...keys].sort());
  expect(whole.json.next).toBeUndefined();
});

// Last: it cuts node 1 off etcd.
test("/readyz follows the node's etcd session, and a renew through the other node waits out the failover", async () => {
  for (const via of [0, 1]) {
    const ready = await http(httpOf(via), 'GET', '/readyz');
    expect(ready.status).toBe(200);
    expect(ready.json).toMatchObject({ ready: true, checks: { cluster: { ok: true, nodeId: `n${via}` } } });
  }
  const key = keyOwnedBy(1, 'http-failover');
  const granted = await http(httpOf(0), 'POST', `/v1/locks/${k(key)}`, { ttlMs: 60_000, owner: 'survivor' });
  expect(granted.status).toBe(200);

  cluster.cutNode(1);
  // Node 1 cannot journal the renew; node 0 holds the request until it has taken the partition over.
  const renewed = await http(httpOf(0), 'POST', `/v1/locks/${k(key)}/renew`, { token: granted.json.token });
  expect(renewed.status).toBe(200);
  expect(renewed.json.fence).toBe(granted.json.fence);
  expect((await http(httpOf(0), 'GET', `/v1/locks/${k(key)}`)).json.holders).toEqual([expect.objectContaining({ owner: 'survivor', fence: granted.json.fence })]);

  let notReady: Awaited<ReturnType<typeof http>> | undefined;
  await eventually(async () => (notReady = await http(httpOf(1), 'GET', '/readyz')).status === 503, 'node 1 /readyz to answer 503', 30_000);
  expect(notReady!.json).toMatchObject({ ready: false, checks: { cluster: { ok: false, nodeId: 'n1' } } });
  expect(notReady!.json.checks.cluster.reason).toMatch(/no live etcd session/);
  expect((await http(httpOf(0), 'GET', '/readyz')).status).toBe(200);

  cluster.healNode(1);
  await eventually(async () => (await http(httpOf(1), 'GET', '/readyz')).status === 200, 'node 1 /readyz to answer 200 again', 30_000);
  expect((await http(httpOf(1), 'DELETE', `/v1/locks/${k(key)}?token=${granted.json.token}`)).status).toBe(200);
});
