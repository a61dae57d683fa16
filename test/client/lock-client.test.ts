/** LockClient against real lockd processes: leases, renewal, loss, abort, concurrency, reconnect. */
import { AbortedError, ConnectionError, LockdError, LockTimeoutError, NotHolderError } from '../../src/errors';
import { Lease, LockClient } from '../../src';
import { LockdProcess, startLockd, stopAllLockd } from '../helpers/lockd-process';
import { until } from '../helpers/in-process-lockd';

let lockd: LockdProcess;
const clients: LockClient[] = [];
/** A client of the test's lockd; disconnects are collected instead of printed as warnings. */
function client(options: ConstructorParameters<typeof LockClient>[0] = {}): LockClient & { disconnects: LockdError[] } {
  const c = Object.assign(new LockClient({ host: '127.0.0.1', port: lockd.port, ...options }), { disconnects: [] as LockdError[] });
  c.on('disconnect', (error) => c.disconnects.push(error));
  clients.push(c);
  return c;
}

/** Resolves with the lease's abort reason once its signal aborts (bounded by the test timeout). */
function lost(lease: Lease): Promise<unknown> {
  return new Promise((resolve) => {
    if (lease.signal.aborted) resolve(lease.signal.reason);
    else lease.signal.addEventListener('abort', () => resolve(lease.signal.reason), { once: true });
  });
}

beforeEach(async () => {
  lockd = await startLockd(['--min-ttl', '50ms']);
});
afterEach(async () => {
  for (const c of clients.splice(0)) await c.close();
  await stopAllLockd();
});

describe('leases', () => {
  test('acquire returns a Lease; tryAcquire returns null when busy; release frees it and is idempotent', async () => {
    const a = client({ owner: 'a' });
    const lease = await a.acquire('k', { ttlMs: 10_000 });
    expect(lease).toMatchObject({ key: 'k', mode: 'exclusive', holdCount: 1, ttlMs: 10_000, ephemeral: false, held: true });
    expect(lease.token).toMatch(/^[0-9a-f]{32}$/);
    expect(lease.expiresAt).toBeGreaterThan(Date.now());
    expect(lease.remainingMs).toBeGreaterThan(0);
    expect(await client().tryAcquire('k')).toBeNull();
    expect((await a.inspect('k')).holders[0]).toMatchObject({ owner: 'a', fence: lease.fence, mode: 'exclusive' });
    expect(await a.checkFence('k', lease.fence)).toBe(true);
    const first = lease.release();
    expect(lease.release()).toBe(first);
    expect(await first).toBe(true);
    expect(lease.held).toBe(false);
    expect((await a.inspect('k')).holders).toEqual([]);
    expect(await a.checkFence('k', lease.fence)).toBe(false);
  });

  test('without ttlMs, lockd decides the lease length (--default-ttl)', async () => {
    const lease = await client().acquire('k');
    expect(lease.ttlMs).toBe(30_000);
  });

  test('shared leases coexist; an exclusive request waits for them; list shows held keys in order', async () => {
    const c = client();
    const r1 = await c.acquire('doc', { mode: 'shared' });
    const r2 = await c.acquire('doc', { mode: 'shared' });
    expect(r2.mode).toBe('shared');
    expect(await c.tryAcquire('doc')).toBeNull();
    await c.acquire('a-first');
    expect((await c.list()).map((info) => [info.key, info.holders.length])).toEqual([['a-first', 1], ['doc', 2]]);
    expect((await c.list('do', 5)).map((info) => info.key)).toEqual(['doc']);
    const writer = c.acquire('doc');
    await r1.release();
    await r2.release();
    expect((await writer).mode).toBe('exclusive');
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

  test('await using also releases when the scope throws', async () => {
    const c = client();
    const scope = async () => {
      await using lease = await c.acquire('scoped');
      throw new Error(`failed under fence ${lease.fence}`);
    };
    await expect(scope()).rejects.toThrow(/failed under fence/);
    expect((await c.inspect('scoped')).holders).toHaveLength(0);
  });
});

describe('renewal and loss', () => {
  // TTLs of 1 s, not less: a loaded machine (the cluster tests run beside these) can stall a
  // process for a few hundred ms, and a renewal every third of the TTL must still come in time.
  test('withLock renews in the background, keeping a 1 s lease alive for several TTLs, then releases', async () => {
    const c = client();
    const other = client();
    const result = await c.withLock(
      'long-job',
      async (lease) => {
        const start = lease.expiresAt;
        // Several renewals: the expiry moves more than three TTLs past the first one.
        await until(() => lease.expiresAt > start + 3_000, 'several renewals', 20_000);
        expect(await other.tryAcquire('long-job')).toBeNull();
        expect(lease.signal.aborted).toBe(false);
        return lease.fence;
      },
      { ttlMs: 1_000 },
    );
    expect(result).toBeGreaterThan(0);
    expect((await c.inspect('long-job')).holders).toHaveLength(0);
  });

  test('acquire with autoRenew keeps an `await using` lease alive past its TTL', async () => {
    const c = client();
    {
      await using lease = await c.acquire('kept', { ttlMs: 1_000, autoRenew: true });
      const start = lease.expiresAt;
      await until(() => lease.expiresAt > start + 3_000, 'several renewals', 20_000);
      expect(await c.checkFence('kept', lease.fence)).toBe(true);
    }
    expect((await c.inspect('kept')).holders).toHaveLength(0);
  });

  test('withLock rethrows what fn threw and still releases', async () => {
    const c = client();
    await expect(c.withLock('boom', async () => Promise.reject(new Error('kaboom')))).rejects.toThrow('kaboom');
    expect((await c.inspect('boom')).holders).toHaveLength(0);
    await expect(c.withLock('boom', () => { throw new TypeError('sync'); })).rejects.toBeInstanceOf(TypeError);
    expect((await c.inspect('boom')).holders).toHaveLength(0);
  });

  test('lease.signal aborts when a lease nobody renews expires on lockd', async () => {
    const c = client();
    const lease = await c.acquire('short', { ttlMs: 100 });
    expect(await lost(lease)).toBeInstanceOf(NotHolderError);
    expect(lease.held).toBe(false);
    await until(async () => (await c.inspect('short')).holders.length === 0, 'lockd to expire it');
    expect(await lease.release()).toBe(false);
  });

  test('lease.signal aborts when a renewal is refused: explicitly, and in the background', async () => {
    const c = client();
    const refused = await c.acquire('refused', { ttlMs: 10_000 });
    await c.release('refused', refused.token);
    await expect(refused.renew()).rejects.toBeInstanceOf(NotHolderError);
    expect(refused.signal.aborted).toBe(true);

    // Someone else (here: another client with the token) ends the lease; the next renewal finds out.
    const reason = c.withLock('stolen', async (lease) => {
      expect(await client().release('stolen', lease.token)).toBe(true);
      return lost(lease);
    }, { ttlMs: 300 });
    expect(await reason).toBeInstanceOf(NotHolderError);
  });

  test('lease.signal aborts with a ConnectionError when lockd stays unreachable past the TTL', async () => {
    const c = client({ connectAttempts: 1 });
    const reason = c.withLock('doomed', async (lease) => {
      await lease.renew(); // renewing works while lockd is up
      lockd.kill('SIGKILL');
      return lost(lease);
    }, { ttlMs: 1_000 });
    const error = await reason;
    expect(error).toBeInstanceOf(ConnectionError);
    expect((error as Error).message).toMatch(/lost the lease on "doomed": its 1000 ms TTL ran out while it could not be renewed/);
    expect(c.disconnects).toHaveLength(1);
  });

  test('an ephemeral lease is lost with its connection', async () => {
    const c = client({ connectAttempts: 1 });
    const ephemeral = await c.acquire('eph', { ephemeral: true });
    lockd.kill('SIGKILL');
    expect(await lost(ephemeral)).toBeInstanceOf(ConnectionError);
    expect(await ephemeral.release()).toBe(false);
  });
});

describe('waiting and concurrency over one client', () => {
  test('acquire with waitMs rejects with LockTimeoutError when the wait runs out', async () => {
    await client().acquire('busy');
    await expect(client().acquire('busy', { waitMs: 30 })).rejects.toBeInstanceOf(LockTimeoutError);
    expect(await client().tryAcquire('busy', { waitMs: 30 })).toBeNull();
  });

  test('an AbortSignal cancels a parked wait, lockd drops the waiter, and the connection stays up', async () => {
    const holder = client();
    const held = await holder.acquire('contended');
    const waiter = client();
    const controller = new AbortController();
    const waiting = waiter.acquire('contended', { signal: controller.signal });
    const other = waiter.acquire('contended', { waitMs: 60_000 });
    await until(async () => (await holder.inspect('contended')).waiters === 2, 'both waits to park');
    controller.abort();
    await expect(waiting).rejects.toBeInstanceOf(AbortedError);
    expect((await holder.inspect('contended')).waiters).toBe(1);
    expect(await waiter.ping()).toBe('pong');
    expect(waiter.disconnects).toEqual([]);
    await held.release(); // the other wait, on the same connection, is still served
    expect((await other).key).toBe('contended');
  });

  test('many concurrent calls share one client, and a parked wait holds up none of them', async () => {
    const c = client();
    const blocker = client();
    const blocking = await blocker.acquire('parked');
    const parked = c.acquire('parked');
    const leases = await Promise.all(Array.from({ length: 50 }, (_, i) => c.acquire(`many-${i}`)));
    expect(new Set(leases.map((l) => l.fence)).size).toBe(50);
    expect(await c.ping()).toBe('pong');
    await Promise.all(leases.map((l) => l.release()));
    await blocking.release();
    const granted = await parked;
    expect(granted.fence).toBeGreaterThan(blocking.fence);
  });

  test("ten tasks on one client contending for one key never overlap (seed 001's shape)", async () => {
    const c = client();
    let inside = 0;
    let most = 0;
    const order: number[] = [];
    await Promise.all(
      Array.from({ length: 10 }, (_, task) =>
        c.withLock('shared-counter', async () => {
          inside++;
          most = Math.max(most, inside);
          await new Promise((resolve) => setImmediate(resolve));
          order.push(task);
          inside--;
        }),
      ),
    );
    expect(most).toBe(1);
    expect(order.sort((a, b) => a - b)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  });
});

describe('connection loss and reconnect', () => {
  test('a lost connection is reported; a wait that ends while lockd is gone fails as a network error', async () => {
    const c = client({ connectAttempts: 1, reconnectBaseMs: 20, reconnectMaxMs: 50 });
    await client().acquire('never');
    const pending = c.acquire('never', { waitMs: 1_500 }).catch((error: unknown) => error);
    await until(async () => (await c.inspect('never')).waiters === 1, 'the wait to park');
    lockd.kill('SIGKILL');
    const error = await pending;
    expect(error).toBeInstanceOf(ConnectionError);
    expect((error as Error).message).toMatch(/went away while "never" was waiting and was not back before the wait ended/);
    expect(c.disconnects[0]).toBeInstanceOf(ConnectionError);
    await expect(c.ping()).rejects.toBeInstanceOf(ConnectionError);
  });

  test('a client that cannot reach lockd at all fails at once, even for a wait without a bound', async () => {
    const c = client({ connectAttempts: 1 });
    lockd.kill('SIGKILL');
    await lockd.exited();
    await expect(c.acquire('k')).rejects.toBeInstanceOf(ConnectionError);
  });

  test('with no disconnect listener, a lost connection becomes a process warning', async () => {
    const c = new LockClient({ host: '127.0.0.1', port: lockd.port, connectAttempts: 1 });
    clients.push(c);
    const warn = jest.spyOn(process, 'emitWarning').mockImplementation(() => undefined);
    try {
      expect(await c.ping()).toBe('pong');
      lockd.kill('SIGKILL');
      await until(() => warn.mock.calls.length > 0, 'the warning');
      expect(warn.mock.calls[0]).toEqual([expect.stringMatching(/^lockd client: connection to 127\.0\.0\.1:\d+ closed; the next call reconnects$/), { code: 'LOCKD_DISCONNECT' }]);
    } finally {
      warn.mockRestore();
    }
  });

  test('a client reconnects with backoff when lockd comes back on the same port; old leases report their loss', async () => {
    const port = lockd.port;
    const c = client({ connectAttempts: 100, reconnectBaseMs: 20, reconnectMaxMs: 100 });
    const connects: string[] = [];
    c.on('connect', (address) => connects.push(address));
    // A long-running holder on the in-memory lockd that is about to restart. The TTL is far longer
    // than any restart: the client renews at once on reconnect, so the loss shows without waiting.
    const holding = c.withLock('survivor', (lease) => lost(lease), { ttlMs: 60_000 });
    await until(async () => (await c.inspect('survivor')).holders.length === 1, 'the lease');
    const disconnected = new Promise((resolve) => c.once('disconnect', resolve));
    await lockd.stop();
    await disconnected;
    const answer = c.ping(); // keeps retrying with backoff until lockd is back
    lockd = await startLockd(['--port', String(port), '--min-ttl', '50ms']);
    expect(await answer).toBe('pong');
    expect(connects).toEqual([`127.0.0.1:${port}`, `127.0.0.1:${port}`]);
    // The restarted lockd kept nothing (in-memory): the renewal on reconnect is refused and the holder told.
    expect(await holding).toBeInstanceOf(NotHolderError);
    const fresh = await c.acquire('survivor');
    expect(fresh.held).toBe(true);
  });
});
