/** LockClient against real lockd processes: leases, renewal, loss, abort, concurrency, reconnect. */
import { AbortedError, ConnectionError, InvalidArgumentError, LockTimeoutError, NotHolderError } from '../../src/errors';
import { LockClient } from '../../src/client';
import { LockdProcess, startLockd, stopAllLockd } from '../helpers/lockd-process';
import { until } from '../helpers/in-process-lockd';

let lockd: LockdProcess;
const clients: LockClient[] = [];
function client(options: ConstructorParameters<typeof LockClient>[0] = {}): LockClient {
  const c = new LockClient({ host: '127.0.0.1', port: lockd.port, ...options });
  clients.push(c);
  return c;
}

beforeEach(async () => {
  lockd = await startLockd(['--min-ttl', '20ms']);
});
afterEach(async () => {
  for (const c of clients.splice(0)) await c.close();
  await stopAllLockd();
});

test('acquire returns a Lease; tryAcquire returns null when busy; release frees it once', async () => {
  const a = client({ owner: 'a' });
  const lease = await a.acquire('k', { ttlMs: 10_000 });
  expect(lease).toMatchObject({ key: 'k', mode: 'exclusive', holdCount: 1, ttlMs: 10_000 });
  expect(lease.token).toMatch(/^[0-9a-f]{32}$/);
  expect(lease.expiresAt).toBeGreaterThan(Date.now());
  expect(await client().tryAcquire('k')).toBeNull();
  expect((await a.inspect('k')).holders[0]).toMatchObject({ owner: 'a', fence: lease.fence, mode: 'exclusive' });
  expect(await lease.release()).toBe(true);
  expect(await lease.release()).toBe(true);
  expect((await a.inspect('k')).holders).toEqual([]);
});

test('acquire with waitMs rejects with LockTimeoutError when the wait runs out', async () => {
  await client().acquire('busy');
  await expect(client().acquire('busy', { waitMs: 30 })).rejects.toBeInstanceOf(LockTimeoutError);
});

test('refusals arrive as typed errors', async () => {
  const c = client();
  await expect(c.acquire('', {})).rejects.toBeInstanceOf(InvalidArgumentError);
  await expect(c.renew('k', '0'.repeat(32), 1_000)).rejects.toBeInstanceOf(NotHolderError);
});

test('await using releases the lease when the scope ends', async () => {
  const c = client();
  {
    await using lease = await c.acquire('scoped');
    expect(lease.held).toBe(true);
    expect((await c.inspect('scoped')).holders).toHaveLength(1);
  }
  expect((await c.inspect('scoped')).holders).toHaveLength(0);
});

test('withLock renews in the background, keeping a 150 ms lease alive for many TTLs, then releases', async () => {
  const c = client();
  const other = client();
  const result = await c.withLock(
    'long-job',
    async (lease) => {
      const start = lease.expiresAt;
      // Wait until the lease has been renewed several times over (bounded by the helper's timeout).
      await until(() => lease.expiresAt > start + 600, 'several renewals', 10_000);
      expect(await other.tryAcquire('long-job')).toBeNull();
      expect(lease.signal.aborted).toBe(false);
      return lease.fence;
    },
    { ttlMs: 150 },
  );
  expect(result).toBeGreaterThan(0);
  expect((await c.inspect('long-job')).holders).toHaveLength(0);
});

test('withLock rethrows what fn threw and still releases', async () => {
  const c = client();
  await expect(c.withLock('boom', async () => Promise.reject(new Error('kaboom')))).rejects.toThrow('kaboom');
  expect((await c.inspect('boom')).holders).toHaveLength(0);
});

test('lease.signal aborts when the lease expires unrenewed, and when a renewal is refused', async () => {
  const c = client();
  const expiring = await c.acquire('short', { ttlMs: 60 });
  const reason = await new Promise<unknown>((resolve) => expiring.signal.addEventListener('abort', () => resolve(expiring.signal.reason)));
  expect(reason).toBeInstanceOf(NotHolderError);
  const refused = await c.acquire('refused', { ttlMs: 10_000 });
  await c.release('refused', refused.token);
  await expect(refused.renew()).rejects.toBeInstanceOf(NotHolderError);
  expect(refused.signal.aborted).toBe(true);
});

test('an AbortSignal cancels a parked wait and lockd drops the waiter', async () => {
  const holder = client();
  await holder.acquire('contended');
  const waiter = client();
  const controller = new AbortController();
  const waiting = waiter.acquire('contended', { signal: controller.signal });
  await until(async () => (await holder.inspect('contended')).waiters === 1, 'the waiter to park');
  controller.abort();
  await expect(waiting).rejects.toBeInstanceOf(AbortedError);
  expect((await holder.inspect('contended')).waiters).toBe(0);
  expect(await waiter.ping()).toBe('pong');
});

test('many concurrent calls share one client, and a parked wait holds up none of them', async () => {
  const c = client();
  const blocker = client();
  const blocking = await blocker.acquire('parked');
  const parked = c.acquire('parked');
  const leases = await Promise.all(Array.from({ length: 50 }, (_, i) => c.acquire(`many-${i}`)));
  expect(new Set(leases.map((l) => l.fence)).size).toBe(50);
  await Promise.all(leases.map((l) => l.release()));
  await blocking.release();
  const granted = await parked;
  expect(granted.fence).toBeGreaterThan(blocking.fence);
});

test('a lost connection is reported, ends ephemeral leases, and pending calls fail as network errors', async () => {
  const c = client({ connectAttempts: 1 });
  const disconnects: Error[] = [];
  c.on('disconnect', (error: Error) => disconnects.push(error));
  const ephemeral = await c.acquire('eph', { ephemeral: true });
  const blocker = await client().acquire('never');
  const pending = c.acquire('never').catch((error: Error) => error);
  await until(async () => (await c.inspect('never')).waiters === 1, 'the wait to park');
  lockd.process.kill('SIGKILL');
  expect(await pending).toBeInstanceOf(ConnectionError);
  await until(() => ephemeral.signal.aborted, 'the ephemeral lease to be marked lost');
  expect(ephemeral.signal.reason).toBeInstanceOf(ConnectionError);
  expect(disconnects).toHaveLength(1);
  await expect(c.ping()).rejects.toBeInstanceOf(ConnectionError);
  expect(blocker.fence).toBeGreaterThan(0);
});

test('a client reconnects with backoff when lockd comes back on the same port', async () => {
  const port = lockd.port;
  const c = client({ connectAttempts: 100, reconnectBaseMs: 20, reconnectMaxMs: 100 });
  expect(await c.ping()).toBe('pong');
  const disconnected = new Promise((resolve) => c.once('disconnect', resolve));
  await lockd.stop();
  await disconnected;
  // The next call keeps retrying (with backoff) until lockd is back.
  const answer = c.ping();
  lockd = await startLockd(['--port', String(port)]);
  expect(await answer).toBe('pong');
});
