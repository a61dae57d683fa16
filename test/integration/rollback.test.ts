/**
 * D9: a grant answered UNAVAILABLE because it could not be made durable is rolled back: the key
 * is free at once, stays free once the disk has room, and after a restart. Mounts a 1 MiB
 * tmpfs, so it needs root (CI is).
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { UnavailableError } from '../../src/errors';
import { connectStub } from '../helpers/in-process-lockd';
import { startLockd, stopAllLockd } from '../helpers/lockd-process';

let mountPoint: string;
beforeAll(() => {
  if (process.getuid?.() !== 0) throw new Error('this test mounts a 1 MiB tmpfs and needs root (CI runs as root)');
  mountPoint = fs.mkdtempSync(path.join(os.tmpdir(), 'lockd-rollback-'));
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', mountPoint]);
});
afterAll(async () => {
  await stopAllLockd();
  execFileSync('umount', ['-l', mountPoint]);
  fs.rmSync(mountPoint, { recursive: true, force: true });
});

test('a grant refused for want of disk leaves no holder, now or after the disk recovers and lockd restarts', async () => {
  const dataDir = path.join(mountPoint, 'data');
  const lockd = await startLockd(['--data-dir', dataDir]);
  const client = await connectStub(lockd.port);
  const filler = path.join(mountPoint, 'filler');
  try {
    fs.writeFileSync(filler, Buffer.alloc(2 * 1024 * 1024));
  } catch {
    // ENOSPC: the tmpfs is now full, as intended.
  }
  let refusedKey: string | undefined;
  for (let i = 0; i < 200 && refusedKey === undefined; i++) {
    const key = `during-${i}`;
    const error = await client.acquire({ lockKey: key, owner: 'x'.repeat(200), ttlMs: 3_600_000 }).reply.then(
      () => undefined,
      (e: unknown) => e,
    );
    if (error !== undefined) {
      expect(error).toBeInstanceOf(UnavailableError);
      refusedKey = key;
    }
  }
  expect(refusedKey).toBeDefined();
  const key = refusedKey as string;
  expect((await client.inspect(key)).holders).toEqual([]);
  fs.rmSync(filler);
  // Space is back: the retried write carries the grant and its undoing; the key stays free.
  const other = await client.acquire({ lockKey: 'after-recovery' }).reply;
  expect(other.acquired).toBe(true);
  expect((await client.inspect(key)).holders).toEqual([]);
  expect(await lockd.stop()).toBe(0);
  const restarted = await startLockd(['--data-dir', dataDir]);
  const again = await connectStub(restarted.port);
  expect((await again.inspect(key)).holders).toEqual([]);
  // And it can be taken at once.
  expect((await again.acquire({ lockKey: key }).reply).acquired).toBe(true);
});
