/**
 * D9: a grant answered UNAVAILABLE because it could not be made durable is rolled back: the key
 * is free at once, stays free once the disk has room, and after a restart. Mounts a 1 MiB
 * tmpfs, so it needs root (CI is).
 */
import fs from 'node:fs';
import path from 'node:path';
import { UnavailableError } from '../../src/errors';
import { connectStub } from '../helpers/in-process-lockd';
import { startLockd } from '../helpers/lockd-process';
import { fillDisk, useTmpfs } from '../helpers/tmpfs';

const mountPoint = useTmpfs('1m', 'rollback');

test('a grant refused for want of disk leaves no holder, now or after the disk recovers and lockd restarts', async () => {
  const dataDir = path.join(mountPoint(), 'data');
  const lockd = await startLockd(['--data-dir', dataDir]);
  const client = await connectStub(lockd.port);
  const filler = fillDisk(mountPoint());
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
