/**
 * LockClient with several addresses, against real lockd processes: it connects to the first that
 * answers, fails over to the next when its node dies (SIGKILL) or answers UNAVAILABLE (a drained
 * lockd), parks waits again there, reports ephemeral leases of a lost connection as lost, and
 * keeps a connection it failed over from open while an ephemeral lease still lives on it.
 *
 * The two lockd processes here are independent single servers standing in for two nodes of a
 * cluster: they test the client's mechanics, not shared lock state (a real cluster would honour
 * a non-ephemeral lease on every node; here the second node does not know it).
 */
import net from 'node:net';
import { LockClient } from '../../src';
import { ConnectionError, LockdError, NotHolderError, UnavailableError } from '../../src/errors';
import { LockdProcess, startLockd, stopAllLockd } from '../helpers/lockd-process';
import { until } from '../helpers/in-process-lockd';
import { call, startHttpLockd } from '../http/http-lockd';

const clients: LockClient[] = [];
afterEach(async () => {
  for (const c of clients.splice(0)) await c.close();
  await stopAllLockd();
});

const addr = (lockd: { port: number }) => `127.0.0.1:${lockd.port}`;

type Recorded = LockClient & { connects: string[]; disconnects: LockdError[] };

function client(hosts: string[], owner = 'failover-test'): Recorded {
  const c = Object.assign(new LockClient({ hosts, owner, connectAttempts: 3, reconnectBaseMs: 20, reconnectMaxMs: 200 }), {
    connects: [] as string[],
    disconnects: [] as LockdError[],
  });
  c.on('connect', (address) => c.connects.push(address));
  c.on('disconnect', (error) => c.disconnects.push(error));
  clients.push(c);
  return c;
}

/** A port nothing listens on: bound by the OS, then closed. */
async function closedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** Resolves with the signal's reason once it aborts; rejects after 10 s. */
function abortReason(signal: AbortSignal): Promise<unknown> {
  if (signal.aborted) return Promise.resolve(signal.reason);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('the signal did not abort within 10 s')), 10_000);
    signal.addEventListener('abort', () => {
      clearTimeout(timer);
      resolve(signal.reason);
    });
  });
}

test('the first address refuses connections: the client connects to the second, and the options keep host and port of the first', async () => {
  const b = await startLockd();
  const closed = await closedPort();
  const c = client([`127.0.0.1:${closed}`, addr(b)]);
  expect(c.options).toMatchObject({ host: '127.0.0.1', port: closed, hosts: [`127.0.0.1:${closed}`, addr(b)] });
  expect(await c.ping()).toBe('pong');
  expect(c.connects).toEqual([addr(b)]);
  // Nothing before the send could have been granted: a try-lock goes to the second address too.
  const lease = await c.tryAcquire('first-closed', { ttlMs: 30_000 });
  expect(lease).not.toBeNull();
  const other = client([addr(b)], 'observer');
  expect((await other.inspect('first-closed')).holders).toHaveLength(1);
  expect(await lease!.release()).toBe(true);
});

test('no address answers: ConnectionError naming every address', async () => {
  const [p1, p2] = [await closedPort(), await closedPort()];
  const c = new LockClient({ hosts: [`127.0.0.1:${p1}`, `127.0.0.1:${p2}`], connectAttempts: 2, reconnectBaseMs: 10 });
  clients.push(c);
  const error = await c.ping().catch((e: unknown) => e);
  expect(error).toBeInstanceOf(ConnectionError);
  expect((error as Error).message).toContain(`cannot reach lockd at any of 127.0.0.1:${p1},127.0.0.1:${p2}`);
});

test('SIGKILL of the node the client uses: calls continue on the other, a parked wait is parked again there, leases of the dead node are reported lost', async () => {
  const a = await startLockd();
  const b = await startLockd();
  const c = client([addr(a), addr(b)]);
  const blocker = client([addr(a)], 'blocker');
  expect(await c.ping()).toBe('pong');
  expect(c.connects).toEqual([addr(a)]);

  const ephemeral = await c.acquire('eph', { ttlMs: 60_000, ephemeral: true });
  const renewed = await c.acquire('renewed', { ttlMs: 60_000, autoRenew: true });
  await blocker.acquire('queue', { ttlMs: 60_000 });
  const waiting = c.acquire('queue', { waitMs: 60_000, ttlMs: 30_000 });
  await until(async () => (await blocker.inspect('queue')).waiters === 1, 'the wait to park on the first node');

  a.kill('SIGKILL');
  await a.exited();

  // The wait is parked again on the second node, where "queue" is free: granted there.
  const granted = await waiting;
  expect(granted.held).toBe(true);
  expect(c.connects).toEqual([addr(a), addr(b)]);
  expect(c.disconnects.length).toBeGreaterThanOrEqual(1);
  expect(await c.ping()).toBe('pong');
  expect((await c.inspect('queue')).holders).toHaveLength(1);
  const observer = client([addr(b)], 'observer');
  expect((await observer.inspect('queue')).holders[0].fence).toBe(granted.fence);

  // The ephemeral lease died with its connection; the renewed one is unknown to the second node.
  expect(await abortReason(ephemeral.signal)).toBeInstanceOf(ConnectionError);
  expect(await abortReason(renewed.signal)).toBeInstanceOf(NotHolderError);
  expect(await ephemeral.release()).toBe(false);
  expect(await granted.release()).toBe(true);
});

test('calls in flight when the node dies: a read is sent again on the next address, a release by token is not (it may have been applied)', async () => {
  const a = await startLockd();
  const b = await startLockd();
  const c = client([addr(a), addr(b)]);
  expect(await c.ping()).toBe('pong');
  a.kill('SIGSTOP'); // the calls below reach its socket, but it cannot answer
  const inspecting = c.inspect('k');
  const releasing = c.release('k', '0'.repeat(32)).catch((e: unknown) => e);
  await new Promise((resolve) => setImmediate(resolve)); // sent (the client writes on the next tick)
  a.kill('SIGKILL');
  expect(await inspecting).toEqual({ key: 'k', holders: [], waiters: 0 });
  expect(await releasing).toBeInstanceOf(ConnectionError);
  expect(c.connects).toEqual([addr(a), addr(b)]);
});

test('a node that answers UNAVAILABLE (drained): the client moves on, and keeps the old connection open while an ephemeral lease lives on it', async () => {
  const a = await startHttpLockd();
  const b = await startLockd();
  const c = client([addr(a), addr(b)]);
  const onA = client([addr(a)], 'observer-a');
  const onB = client([addr(b)], 'observer-b');
  const ephemeral = await c.acquire('eph', { ttlMs: 60_000, ephemeral: true });
  const held = await c.acquire('held', { ttlMs: 60_000 });
  expect(c.connects).toEqual([addr(a)]);

  expect((await call(a.http, 'POST', '/v1/admin/drain')).status).toBe(200);

  // A try-lock answered UNAVAILABLE is not sent again (it is reported), but the client moves on.
  const refused = await c.tryAcquire('try', { ttlMs: 30_000 }).catch((e: unknown) => e);
  expect(refused).toBeInstanceOf(UnavailableError);
  expect(await c.tryAcquire('try', { ttlMs: 30_000 })).not.toBeNull();
  expect(c.connects).toEqual([addr(a), addr(b)]);
  expect((await onB.inspect('try')).holders).toHaveLength(1);

  // The old connection still carries the ephemeral lease: still held on the drained node.
  expect(ephemeral.held).toBe(true);
  expect(ephemeral.signal.aborted).toBe(false);
  expect((await onA.inspect('eph')).holders).toHaveLength(1);
  // A lease of the first node is released by token, wherever the client is now connected:
  // the second node does not know it (separate servers), so lockd A still holds it.
  expect(await held.release()).toBe(false);
  expect((await onA.inspect('held')).holders).toHaveLength(1);

  // Releasing the ephemeral lease goes over its own connection, which then closes.
  expect(await ephemeral.release()).toBe(true);
  expect((await onA.inspect('eph')).holders).toHaveLength(0);
  await until(async () => (await call(a.http, 'GET', '/metrics')).text.includes('lockd_connections 1\n'), 'the old connection to close (only the observer left)', 10_000);
  expect(c.disconnects).toEqual([]);
});

test('a parked wait answered UNAVAILABLE by a drained node is parked again on the next address', async () => {
  const a = await startHttpLockd();
  const b = await startLockd();
  const blocker = client([addr(a)], 'blocker');
  await blocker.acquire('q', { ttlMs: 60_000 });
  const c = client([addr(a), addr(b)]);
  const waiting = c.acquire('q', { waitMs: 60_000, ttlMs: 30_000 });
  await until(async () => (await blocker.inspect('q')).waiters === 1, 'the wait to park on the first node');
  expect((await call(a.http, 'POST', '/v1/admin/drain')).status).toBe(200);
  const lease = await waiting;
  expect(c.connects).toEqual([addr(a), addr(b)]);
  const onB = client([addr(b)], 'observer-b');
  expect((await onB.inspect('q')).holders[0].fence).toBe(lease.fence);
  expect(await lease.release()).toBe(true);
});

test('every address answers UNAVAILABLE: the client stops failing over (no connection per call) until a call succeeds', async () => {
  const a = await startHttpLockd();
  const b = await startHttpLockd();
  const c = client([addr(a), addr(b)]);
  expect(await c.ping()).toBe('pong');
  for (const node of [a, b]) expect((await call(node.http, 'POST', '/v1/admin/drain')).status).toBe(200);
  for (let i = 0; i < 4; i++) await expect(c.tryAcquire('x')).rejects.toBeInstanceOf(UnavailableError);
  expect(c.connects).toEqual([addr(a), addr(b), addr(a)]);
  expect(await c.ping()).toBe('pong'); // an answer: the next UNAVAILABLE fails over again
  await expect(c.tryAcquire('x')).rejects.toBeInstanceOf(UnavailableError);
  expect(await c.ping()).toBe('pong'); // the failover's connection is made by the next call
  expect(c.connects).toEqual([addr(a), addr(b), addr(a), addr(b)]);
});

test('one address behaves as before: no failover, UNAVAILABLE reported as is', async () => {
  const a = await startHttpLockd();
  const c = client([addr(a)]);
  expect(await c.ping()).toBe('pong');
  expect((await call(a.http, 'POST', '/v1/admin/drain')).status).toBe(200);
  await expect(c.tryAcquire('x')).rejects.toBeInstanceOf(UnavailableError);
  expect(await c.ping()).toBe('pong');
  expect(c.connects).toEqual([addr(a)]);
});

test('routeToOwner against a single lockd changes nothing: every call on the one connection', async () => {
  const a = await startLockd();
  const c = Object.assign(new LockClient({ host: '127.0.0.1', port: a.port, routeToOwner: true }), {});
  clients.push(c);
  const connects: string[] = [];
  c.on('connect', (address) => connects.push(address));
  const lease = await c.acquire('routed', { ttlMs: 30_000, ephemeral: true });
  expect((await c.inspect('routed')).holders.map((h) => h.fence)).toEqual([lease.fence]);
  expect(await c.checkFence('routed', lease.fence)).toBe(true);
  expect(await lease.release()).toBe(true);
  expect(connects).toEqual([addr(a)]);
  expect(() => new LockClient({ routeToOwner: 'yes' as unknown as boolean })).toThrow(/routeToOwner must be true or false/);
});

test('clusterInfo of a single lockd: a cluster of one, named ""', async () => {
  const a = await startLockd();
  const c = client([addr(a)]);
  const info = await c.clusterInfo();
  expect(info).toEqual({ cluster: '', nodeId: expect.any(String), partitions: 1, members: [{ nodeId: info.nodeId, address: expect.stringMatching(/:\d+$/), partitions: [0] }], owners: [info.nodeId] });
  expect(info.members[0].address).toBe(addr(a));
});
