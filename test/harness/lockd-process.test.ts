/** The lockd process harness itself: every integration test trusts it to start, report and stop lockd. */
import { spawn } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';
import { connectStub } from '../helpers/in-process-lockd';
import { startLockd, stopAllLockd } from '../helpers/lockd-process';

/** True while a process with this pid exists (signal 0 only checks). */
function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function connects(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.once('connect', () => (socket.destroy(), resolve(true)));
    socket.once('error', () => resolve(false));
  });
}

test('startLockd resolves with the real port once lockd accepts connections, and stop() exits 0', async () => {
  const lockd = await startLockd();
  expect(lockd.host).toBe('127.0.0.1');
  expect(lockd.port).toBeGreaterThan(0);
  expect(await connects(lockd.port)).toBe(true);
  expect(lockd.output()).toContain(`lockd listening on 127.0.0.1:${lockd.port}`);
  expect(await lockd.stop()).toBe(0);
  expect(isRunning(lockd.pid)).toBe(false);
});

test('SIGTERM sent the moment the readiness line arrives still exits 0 (10 starts in a row)', async () => {
  // The harness stops lockd as soon as a test is done, often right after startup: lockd must
  // install its signal handlers before it prints the line, or SIGTERM kills it outright.
  const codes: (number | null)[] = [];
  for (let i = 0; i < 10; i++) codes.push(await (await startLockd()).stop());
  expect(codes).toEqual(Array(10).fill(0));
});

test('a lockd that cannot start rejects with what it printed, and leaves no process behind', async () => {
  await expect(startLockd(['--default-ttl', 'never'])).rejects.toThrow(/exited \(2\)[\s\S]*--default-ttl: "never"/);
});

test('kill() ends it at once; exited() reports the signal death as null', async () => {
  const lockd = await startLockd();
  lockd.kill('SIGKILL');
  expect(await lockd.exited()).toBeNull();
  expect(isRunning(lockd.pid)).toBe(false);
});

test('waitForOutput waits for a line lockd prints later, and rejects with the output on timeout', async () => {
  const lockd = await startLockd(['--log-level', 'debug']);
  const closed = lockd.waitForOutput(/connection closed/);
  // A connection becomes a session once its first bytes show its protocol: ping, then leave.
  const stub = await connectStub(lockd.port);
  expect(await stub.ping()).toBe('pong');
  stub.connection.close();
  await closed;
  await expect(lockd.waitForOutput(/never printed/, 50)).rejects.toThrow(/timed out after 50 ms[\s\S]*lockd listening on/);
});

test('stopAllLockd stops every lockd still running', async () => {
  const a = await startLockd();
  const b = await startLockd(['--transport', 'framed']);
  await stopAllLockd();
  expect([isRunning(a.pid), isRunning(b.pid)]).toEqual([false, false]);
});

test('a process with the exit-with-parent guard dies when its stdin pipe closes (the test process died)', async () => {
  const child = spawn(process.execPath, ['--require', path.join(__dirname, '../helpers/exit-with-parent.js'), '-e', 'setInterval(() => {}, 1000)'], {
    stdio: ['pipe', 'ignore', 'ignore'],
  });
  const exited = new Promise<NodeJS.Signals | null>((resolve) => child.once('exit', (_code, signal) => resolve(signal)));
  await new Promise((resolve) => child.once('spawn', resolve));
  child.stdin!.end();
  // If the guard were broken this would hang until jest's timeout: the interval keeps it alive.
  expect(await exited).toBe('SIGKILL');
});
