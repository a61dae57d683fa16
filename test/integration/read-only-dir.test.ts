/**
 * A data dir lockd cannot write is reported with the real OS error (Node's recursive mkdir says
 * ENOENT for a read-only filesystem). Mounts a tmpfs and remounts it read-only: needs root (CI is).
 */
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { runLockd } from '../helpers/lockd-process';
import { useTmpfs } from '../helpers/tmpfs';

const mountPoint = useTmpfs('1m', 'read-only');

test('a data dir on a read-only filesystem: lockd exits 1 naming EROFS, not ENOENT', async () => {
  execFileSync('mount', ['-o', 'remount,ro', mountPoint()]);
  const { code, output } = await runLockd(['--data-dir', path.join(mountPoint(), 'data')]);
  expect(code).toBe(1);
  expect(output).toMatch(/cannot create data dir .*EROFS: read-only file system/);
  expect(output).not.toMatch(/ENOENT/);
});
