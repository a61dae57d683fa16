/**
 * lockctl while it waits, as a process against a real lockd: the "waiting for ..." line on a
 * terminal (a real pty through script(1)) and its absence otherwise, and waits that ride out a
 * lockd restart or end with exit 3 when lockd does not come back.
 */
import { ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { LockdProcess, startLockd, stopAllLockd } from '../helpers/lockd-process';
import { until } from '../helpers/in-process-lockd';
import { ProcessResult, runProcess } from '../helpers/tools';

const LOCKCTL = path.resolve(__dirname, '../../bin/lockctl.js');
let lockd: LockdProcess;
let dataDir: string;

beforeEach(async () => {
  dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'lockctl-wait-'));
  lockd = await startLockd(['--data-dir', dataDir]);
});
afterEach(async () => {
  await stopAllLockd();
  fs.rmSync(dataDir, { recursive: true, force: true });
});

function lockctl(args: string[], onSpawn?: (child: ChildProcessWithoutNullStreams) => void): Promise<ProcessResult> {
  return runProcess(process.execPath, [LOCKCTL, ...args], { env: { LOCKD_ADDR: `127.0.0.1:${lockd.port}` }, timeoutMs: 60_000, onSpawn });
}

/** lockctl with a real terminal on stdin, stdout and stderr (script(1) relays it to `output`). */
function lockctlOnTerminal(args: string[], onOutput: (output: string) => void): Promise<ProcessResult> {
  const command = [process.execPath, LOCKCTL, ...args].map((arg) => `'${arg.replace(/'/g, `'\\''`)}'`).join(' ');
  return runProcess('script', ['-qefc', command, '/dev/null'], {
    env: { LOCKD_ADDR: `127.0.0.1:${lockd.port}` },
    timeoutMs: 60_000,
    onSpawn: (child) => {
      let output = '';
      child.stdout.on('data', (chunk: Buffer) => onOutput((output += chunk.toString())));
    },
  });
}

async function waiters(key: string): Promise<number> {
  return JSON.parse((await lockctl(['--json', 'status', key])).stdout).waiters;
}

test('on a terminal, a waiting acquire shows whom it waits for, who holds the lock and its place, then clears the line', async () => {
  const held = JSON.parse((await lockctl(['--json', 'acquire', 'busy', '--owner', 'ops'])).stdout);
  let shown = '';
  const waiting = lockctlOnTerminal(['acquire', 'busy', '--owner', 'me'], (output) => (shown = output));
  await until(() => shown.includes(`held by ops (exclusive, fence ${held.fence}); next in line`), 'the waiting line', 30_000);
  expect(shown).toMatch(/\r\x1b\[2Kwaiting for "busy" \(\d+s\): held by ops/);
  await lockctl(['release', 'busy', '--token', held.token]);
  const result = await waiting;
  expect(result.code).toBe(0);
  // The line was erased before the lease was printed.
  expect(result.stdout).toMatch(/\r\x1b\[2K(\r\n)?key {6}busy/);
});

test('--quiet on a terminal, or stderr that is not a terminal, shows no waiting line', async () => {
  const held = JSON.parse((await lockctl(['--json', 'acquire', 'busy'])).stdout);
  let quietOutput = '';
  const quiet = lockctlOnTerminal(['--quiet', 'acquire', 'busy', '--wait', '1m'], (output) => (quietOutput = output));
  const piped = lockctl(['acquire', 'busy', '--wait', '1m']);
  await until(async () => (await waiters('busy')) === 2, 'both waits to park', 30_000);
  // Long enough for the first progress line (after 300 ms) and one update to have been drawn.
  await new Promise((resolve) => setTimeout(resolve, 2_000));
  expect(quietOutput).not.toContain('waiting for');
  await lockctl(['release', 'busy', '--token', held.token]);
  const first = await Promise.race([quiet, piped]);
  expect(first.code).toBe(0);
  // Free the other one: release the lease the first one printed.
  const token = /token {4}([0-9a-f]{32})/.exec(first.stdout)![1];
  await lockctl(['release', 'busy', '--token', token]);
  const [quietResult, pipedResult] = await Promise.all([quiet, piped]);
  expect(quietResult.stdout).not.toContain('waiting for');
  expect(pipedResult.code).toBe(0);
  expect(pipedResult.stderr).toBe('');
});

test('a lockd restart (SIGTERM, same port and data) is invisible to a waiting lockctl acquire', async () => {
  const port = lockd.port;
  const held = JSON.parse((await lockctl(['--json', 'acquire', 'job', '--ttl', '1m'])).stdout);
  const waiting = lockctl(['--json', 'acquire', 'job', '--wait', '5m']);
  await until(async () => (await waiters('job')) === 1, 'the wait to park', 30_000);
  expect(await lockd.stop()).toBe(0);
  lockd = await startLockd(['--data-dir', dataDir, '--port', String(port)]);
  await until(async () => (await waiters('job')) === 1, 'the wait to park again', 30_000);
  expect((await lockctl(['release', 'job', '--token', held.token])).code).toBe(0);
  const result = await waiting;
  expect(result.code).toBe(0);
  expect(JSON.parse(result.stdout)).toMatchObject({ key: 'job', fence: expect.any(Number) });
  expect(JSON.parse(result.stdout).fence).toBeGreaterThan(held.fence);
  expect(result.stderr).toMatch(/reconnecting/);
});

test('a wait that ends while lockd is gone exits 3 ("cannot reach lockd"), not 4', async () => {
  await lockctl(['acquire', 'job', '--ttl', '1m']);
  const waiting = lockctl(['acquire', 'job', '--wait', '3s']);
  await until(async () => (await waiters('job')) === 1, 'the wait to park', 30_000);
  await lockd.stop();
  const result = await waiting;
  expect(result.code).toBe(3);
  expect(result.stderr).toMatch(/lockctl: cannot reach lockd: lockd at 127\.0\.0\.1:\d+ went away while "job" was waiting and was not back before the wait ended/);
});
