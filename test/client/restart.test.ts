/**
 * A lockd restart is invisible to patient callers: a real durable lockd is stopped (SIGTERM) and
 * started again on the same port and data directory while one client waits for a lock and
 * another holds it with autoRenew.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { LockdError } from '../../src/errors';
import { Lease, LockClient } from '../../src';
import { LockdProcess, startLockd, stopAllLockd } from '../helpers/lockd-process';
import { until } from '../helpers/in-process-lockd';

const clients: LockClient[] = [];
let dataDir: string;

function client(port: number, owner: string): LockClient & { disconnects: LockdError[] } {
  // Enough attempts to span a restart on a busy machine; each is cheap (a refused connect).
  const c = Object.assign(new LockClient({ host: '127.0.0.1', port, owner, connectAttempts: 50, reconnectBaseMs: 20, reconnectMaxMs: 200 }), { disconnects: [] as LockdError[] });
  c.on('disconnect', (error) => c.disconnects.push(error));
  clients.push(c);
  return c;
}

function durableLockd(port = 0): Promise<LockdProcess> {
  return startLockd(['--data-dir', dataDir, '--port', String(port), '--min-ttl', '50ms']);
}

beforeEach(() => {
  dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'lockd-restart-'));
});
afterEach(async () => {
  for (const c of clients.splice(0)) await c.close();
  await stopAllLockd();
  fs.rmSync(dataDir, { recursive: true, force: true });
});

test('across a SIGTERM restart, a waiting acquire is parked again and an autoRenew lease stays held and renewed', async () => {
  let lockd = await durableLockd();
  const port = lockd.port;
  const holder = client(port, 'holder');
  const waiter = client(port, 'waiter');
  const lease = await holder.acquire('job', { ttlMs: 30_000, autoRenew: true });
  let lostReason: unknown;
  lease.signal.addEventListener('abort', () => (lostReason = lease.signal.reason));
  const waiting = waiter.acquire('job'); // waits until granted
  const bounded = waiter.acquire('job', { waitMs: 600_000 }); // a long but bounded wait
  await until(async () => (await holder.inspect('job')).waiters === 2, 'both waits to park');
  const expiresBefore = lease.expiresAt;

  expect(await lockd.stop()).toBe(0); // parked waits are answered UNAVAILABLE, connections closed
  lockd = await durableLockd(port);

  // Once back: the holder's lease was renewed on reconnect, and both waits parked again.
  await until(() => lease.expiresAt > expiresBefore, 'the lease to be renewed on the restarted lockd', 20_000);
  await until(async () => (await holder.inspect('job')).waiters === 2, 'both waits to park again', 20_000);
  expect(lease.held).toBe(true);
  expect(lostReason).toBeUndefined();
  expect(await holder.checkFence('job', lease.fence)).toBe(true);
  expect(waiter.disconnects.length).toBeGreaterThanOrEqual(1);
  expect(holder.disconnects.length).toBeGreaterThanOrEqual(1);

  expect(await lease.release()).toBe(true);
  const first: Lease = await Promise.race([waiting, bounded]);
  expect(first.fence).toBeGreaterThan(lease.fence);
  expect(first.held).toBe(true);
  await first.release();
  const second = first === (await waiting) ? await bounded : await waiting;
  expect(second.fence).toBeGreaterThan(first.fence);
  await second.release();
});

test('ten tasks on one client survive a restart between their turns (the #14 report)', async () => {
  let lockd = await durableLockd();
  const port = lockd.port;
  const c = client(port, 'tasks');
  const blocker = client(port, 'blocker');
  const held = await blocker.acquire('counter', { ttlMs: 30_000, autoRenew: true });
  let done = 0;
  const tasks = Array.from({ length: 10 }, () => c.withLock('counter', async () => void done++, { ttlMs: 30_000 }));
  await until(async () => (await c.inspect('counter')).waiters === 10, 'ten parked tasks');
  await lockd.stop();
  lockd = await durableLockd(port);
  await until(async () => (await c.inspect('counter')).waiters === 10, 'ten tasks parked again', 20_000);
  await held.release();
  await Promise.all(tasks);
  expect(done).toBe(10);
});

test('an acquire riding out an outage can still be aborted, and a closed client stops it', async () => {
  const lockd = await durableLockd();
  const holder = client(lockd.port, 'holder');
  await holder.acquire('gone', { ttlMs: 30_000 });
  const waiter = client(lockd.port, 'waiter');
  const controller = new AbortController();
  const aborted = waiter.acquire('gone', { signal: controller.signal }).catch((e: unknown) => e);
  const closed = waiter.acquire('gone').catch((e: unknown) => e);
  await until(async () => (await holder.inspect('gone')).waiters === 2, 'both waits to park');
  await lockd.stop(); // and it does not come back
  await until(() => waiter.disconnects.length > 0, 'the waiter to notice');
  controller.abort();
  expect(await aborted).toMatchObject({ code: 'LOCKD_ABORTED' });
  await waiter.close();
  expect(await closed).toMatchObject({ code: 'LOCKD_CONNECTION' });
});
