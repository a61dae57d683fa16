/**
 * The generated Node stubs (gen-nodejs, from Debian's compiler 0.17) on the npm thrift 0.24
 * runtime, callback style, call every method of a real lockd. This is the combination lockd
 * supports: 0.17's promise style calls thrift.Q, which 0.24 lacks (see README). The client runs
 * in its own Node process (generated-client.js) because jest cannot load the runtime.
 */
import { execFile } from 'node:child_process';
import path from 'node:path';
import { startLockd } from '../helpers/lockd-process';

/** TApplicationExceptionType.UNKNOWN_METHOD in every Thrift runtime. */
const UNKNOWN_METHOD = 1;
const INVALID_ARGUMENT = 1;
const NOT_HOLDER = 2;
const SHARED = 2;

function runGeneratedClient(port: number, transport: string, protocol: string): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [path.join(__dirname, 'generated-client.js'), String(port), transport, protocol], { timeout: 20_000 }, (error, stdout, stderr) => {
      if (error) reject(new Error(`generated-client.js failed: ${error.message}\n${stdout}\n${stderr}`));
      else resolve(JSON.parse(stdout));
    });
  });
}

test.each([
  ['buffered', 'binary'],
  ['framed', 'compact'],
])('the generated client calls every method over %s + %s', async (transport, protocol) => {
  const lockd = await startLockd(['--transport', transport, '--protocol', protocol]);
  const report = await runGeneratedClient(lockd.port, transport, protocol);
  expect(report).toEqual({
    ping: 'pong',
    acquire: { acquired: true, mode: SHARED, ttlMs: 5000, holdCount: 1 },
    renewKeepsFence: true,
    checkFence: true,
    inspect: { lockKey: 'gen', owners: ['node'], waiters: 0 },
    listed: ['gen'],
    release: true,
    releaseAgain: false,
    acquireLock: true,
    // The seed's behaviour: the connection that holds it asking again gets false.
    acquireLockAgain: false,
    releaseLock: true,
    cancelWait: false,
    // Declared exceptions arrive as the generated LockError class, carrying their code.
    invalid: { isLockError: true, code: INVALID_ARGUMENT, message: expect.stringMatching(/ttlMs.*-1/) },
    stale: { isLockError: true, code: NOT_HOLDER },
    unknownMethod: { isApplicationException: true, type: UNKNOWN_METHOD, message: expect.stringContaining('noSuchMethod') },
    // The connection survives the unknown method.
    pingAfterUnknown: 'pong',
  });
  // The range is part of the message (no silent clamping): the defaults' bounds, in ms.
  expect((report.invalid as { message: string }).message).toMatch(/100\b.*86400000/);
});
