/**
 * lockd on a full disk: calls that change locks get UNAVAILABLE, reads keep working, the server
 * stays up, and it recovers once the disk has room. Mounts a 1 MiB tmpfs, so it needs root (CI is).
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
  mountPoint = fs.mkdtempSync(path.join(os.tmpdir(), 'lockd-full-disk-'));
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', mountPoint]);
});
afterAll(async () => {
  await stopAllLockd();
  execFileSync('umount', ['-l', mountPoint]);
  fs.rmSync(mountPoint, { recursive: true, force: true });
});

test('a full disk turns grants into UNAVAILABLE while reads and releases go on, and lockd recovers when space returns', async () => {
  const lockd = await startLockd(['--data-dir', path.join(mountPoint, 'data')]);
  const client = await connectStub(lockd.port);
  const before = (await client.acquire({ lockKey: 'before' }).reply).lease!;
  const toRelease = (await client.acquire({ lockKey: 'to-release' }).reply).lease!;
  const filler = path.join(mountPoint, 'filler');
  try {
    fs.writeFileSync(filler, Buffer.alloc(2 * 1024 * 1024));
  } catch {
    // ENOSPC: the tmpfs is now full, as intended.
  }
  // The log's last page may still have room: grants succeed until the first batch that needs a new page.
  let refusal: unknown;
  for (let i = 0; i < 200 && refusal === undefined; i++) {
    await client.acquire({ lockKey: `during-${i}`, owner: 'x'.repeat(200) }).reply.catch((error: unknown) => (refusal = error));
  }
  expect(refusal).toBeInstanceOf(UnavailableError);
  expect((refusal as Error).message).toMatch(/could not be made durable/);
  expect((await client.inspect('before')).holders[0].fence).toBe(before.fence);
  expect(await client.ping()).toBe('pong');
  // A release needs no sync (losing it in a crash only keeps the lease until its TTL): it still works.
  expect(await client.release('to-release', toRelease.token)).toBe(true);
  expect((await client.inspect('to-release')).holders).toEqual([]);
  fs.rmSync(filler);
  const after = (await client.acquire({ lockKey: 'after' }).reply).lease!;
  expect(after.fence).toBeGreaterThan(before.fence);
  expect(await lockd.stop()).toBe(0);
  const restarted = await startLockd(['--data-dir', path.join(mountPoint, 'data')]);
  const again = await connectStub(restarted.port);
  expect((await again.inspect('before')).holders[0].fence).toBe(before.fence);
  expect((await again.inspect('after')).holders[0].fence).toBe(after.fence);
});
