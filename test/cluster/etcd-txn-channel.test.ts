/**
 * The journal's hand-encoded KV.Txn channel against a real etcd: what it writes and reads equals
 * what etcd3 writes and reads; etcd's refusals come back with their gRPC status and message; a
 * member that does not answer (blackholed) or refuses connections is left for the next one.
 */
import { Etcd3 } from 'etcd3';
import { createEtcdClient } from '../../src/cluster/etcd-client';
import { EtcdTxnChannel, type TxnRequest } from '../../src/cluster/etcd-txn-channel';
import { UnavailableError } from '../../src/errors';
import { EtcdCluster, freePorts, startEtcd } from '../helpers/etcd';
import { startTcpProxy } from '../helpers/tcp-proxy';

let etcd: EtcdCluster;
let client: Etcd3;
const channels: EtcdTxnChannel[] = [];

beforeAll(async () => {
  etcd = await startEtcd({ members: 1 });
  client = createEtcdClient(etcd.endpoints, 2_000);
}, 60_000);
afterAll(async () => {
  for (const channel of channels) channel.close();
  client?.close();
  await etcd?.stop();
});

function channel(endpoints = etcd.endpoints, timeoutMs = 2_000): EtcdTxnChannel {
  const created = new EtcdTxnChannel(endpoints, timeoutMs);
  channels.push(created);
  return created;
}

const key = (name: string) => Buffer.from(`/txn-channel-test/${process.pid}/${name}`);

test('a guarded put commits, and the same txn again fails its compares and reads back what etcd3 reads', async () => {
  const owner = key('owner');
  await client.put(owner).value('claim');
  const ownerRev = (await client.kv.range({ key: owner })).kvs[0].create_revision;
  const value = Buffer.from([0, 1, 2, 255, 128, 10]);
  const request: TxnRequest = {
    compare: [
      { key: owner, target: 'Create', result: 'Equal', create_revision: ownerRev },
      { key: key('log/0'), target: 'Version', result: 'Equal', version: 0 },
    ],
    success: [{ request_put: { key: key('log/0'), value } }],
    failure: [{ request_range: { key: owner } }, { request_range: { key: key('log/0') } }],
  };
  const first = await channel().txn(request);
  expect(first.succeeded).toBe(true);
  expect(first.responses).toHaveLength(1);

  const again = await channel().txn(request);
  expect(again.succeeded).toBe(false);
  const viaEtcd3 = await client.kv.txn(request);
  expect(viaEtcd3.succeeded).toBe(false);
  const fields = (kvs: Array<{ key: Buffer; create_revision: string; mod_revision: string; version: string; value: Buffer }>) =>
    kvs.map(({ key: k, create_revision, mod_revision, version, value: v }) => ({ key: k.toString('hex'), create_revision, mod_revision, version, value: v.toString('hex') }));
  expect(again.responses.map((r) => fields(r.response_range.kvs))).toEqual(viaEtcd3.responses.map((r) => fields(r.response_range.kvs)));
  expect(again.responses[1].response_range.kvs[0].value.equals(value)).toBe(true);
  expect(again.responses[0].response_range.kvs[0].create_revision).toBe(ownerRev);
});

test('a value of 1 MiB goes and comes back byte for byte; a missing key reads back as no key-value', async () => {
  const big = Buffer.alloc(1024 * 1024);
  for (let i = 0; i < big.length; i++) big[i] = (i * 7919) & 255;
  const put = await channel().txn({ compare: [], success: [{ request_put: { key: key('big'), value: big } }], failure: [] });
  expect(put.succeeded).toBe(true);
  const read = await channel().txn({
    compare: [{ key: key('big'), target: 'Version', result: 'Equal', version: 0 }],
    success: [],
    failure: [{ request_range: { key: key('big') } }, { request_range: { key: key('absent') } }],
  });
  expect(read.succeeded).toBe(false);
  expect(read.responses[0].response_range.kvs[0].value.equals(big)).toBe(true);
  expect(read.responses[1].response_range.kvs).toEqual([]);
});

test('a range delete removes exactly [key, range_end), and a put beside it in the same txn stands', async () => {
  for (const name of ['d/0', 'd/1', 'd/2', 'd/3']) await client.put(key(name)).value(name);
  const response = await channel().txn({
    compare: [],
    success: [
      { request_put: { key: key('d/0'), value: Buffer.from('kept') } },
      { request_delete_range: { key: key('d/1'), range_end: key('d/3') } },
    ],
    failure: [],
  });
  expect(response.succeeded).toBe(true);
  const left = await client.getAll().prefix(key('d/').toString()).strings();
  expect(left).toEqual({ [key('d/0').toString()]: 'kept', [key('d/3').toString()]: 'd/3' });
});

test("etcd's refusal comes back as an UnavailableError with its gRPC status and message", async () => {
  // etcd's --max-txn-ops defaults to 128.
  const success = Array.from({ length: 200 }, (_, i) => ({ request_put: { key: key(`many/${i}`), value: Buffer.from('x') } }));
  const refused = channel().txn({ compare: [], success, failure: [] });
  await expect(refused).rejects.toThrow(UnavailableError);
  await expect(refused).rejects.toThrow(/too many operations in txn request \(gRPC status 3\)/);
});

test('a member that refuses connections, or takes no answer within the deadline, is left for the next one', async () => {
  const [closedPort] = await freePorts(1);
  const refusing = channel([`http://127.0.0.1:${closedPort}`, etcd.endpoints[0]]);
  const put = { compare: [], success: [{ request_put: { key: key('moved'), value: Buffer.from('1') } }], failure: [] };
  await expect(refusing.txn(put)).rejects.toThrow(/gRPC status 14/);
  expect((await refusing.txn(put)).succeeded).toBe(true);

  const proxy = await startTcpProxy(Number(new URL(etcd.endpoints[0]).port));
  const stalling = channel([proxy.endpoint, etcd.endpoints[0]], 300);
  expect((await stalling.txn(put)).succeeded).toBe(true); // through the proxy
  proxy.blackhole();
  await expect(stalling.txn(put)).rejects.toThrow(/no answer within 300 ms \(gRPC status 4\)/);
  expect((await stalling.txn(put)).succeeded).toBe(true);
  await proxy.close();
});
