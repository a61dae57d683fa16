/**
 * A small tmpfs for tests that fill the disk: mounted before the file's tests, unmounted after.
 * Mounting needs root (CI runs as root); without it the tests fail with that reason.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { stopAllLockd } from './lockd-process';

/** Registers beforeAll/afterAll that mount a tmpfs of `size` (e.g. "1m"); returns its path once mounted. */
export function useTmpfs(size: string, name: string): () => string {
  let mountPoint: string | undefined;
  beforeAll(() => {
    if (process.getuid?.() !== 0) throw new Error(`this test mounts a ${size} tmpfs and needs root (CI runs as root)`);
    mountPoint = fs.mkdtempSync(path.join(os.tmpdir(), `lockd-${name}-`));
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', mountPoint]);
  });
  afterAll(async () => {
    await stopAllLockd();
    if (mountPoint === undefined) return;
    execFileSync('umount', ['-l', mountPoint]);
    fs.rmSync(mountPoint, { recursive: true, force: true });
  });
  return () => {
    if (mountPoint === undefined) throw new Error('the tmpfs is mounted in beforeAll');
    return mountPoint;
  };
}

/** Fills the tmpfs at `dir` (the write fails with ENOSPC part-way, as intended); returns the filler's path. */
export function fillDisk(dir: string): string {
  const filler = path.join(dir, 'filler');
  try {
    fs.writeFileSync(filler, Buffer.alloc(2 * 1024 * 1024));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOSPC') throw error;
  }
  return filler;
}
