/**
 * The generated Node stubs (gen-nodejs, Debian's compiler 0.17) on the npm thrift 0.24 runtime,
 * callback style — the combination lockd supports: 0.17's promise style calls thrift.Q, which
 * 0.24 lacks — call every method of a real lockd, on both stacks lockd serves.
 */
import { execFile } from 'node:child_process';
import path from 'node:path';
import { startLockd, stopAllLockd } from '../helpers/lockd-process';

afterEach(stopAllLockd);

function runGeneratedClient(port: number, transport: string, protocol: string): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [path.join(__dirname, 'generated-client.js'), String(port), transport, protocol], { timeout: 30_000 }, (error, stdout, stderr) => {
      if (error) reject(new Error(`${error.message}\n${stderr}`));
      else resolve(JSON.parse(stdout));
    });
  });
}

test.each([
  ['buffered', 'binary'],
  ['framed', 'compact'],
])('every method over %s + %s', async (transport, protocol) => {
  const lockd = await startLockd(['--transport', transport, '--protocol', protocol]);
  expect(await runGeneratedClient(lockd.port, transport, protocol)).toEqual({
    ping: 'pong',
    acquired: true,
    mode: 2,
    ttlMs: 5000,
    renewKeepsFence: true,
    checkFence: true,
    inspectOwner: 'node',
    listed: ['gen'],
    release: true,
    acquireLock: true,
    releaseLock: true,
    cancelWait: false,
    invalid: { isLockError: true, code: 1, message: 'ttlMs must be between 100 and 86400000 ms, got -1 (omit it for the default 30000 ms)' },
    stale: { isLockError: true, code: 2 },
  });
});
