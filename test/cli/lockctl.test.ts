/** lockctl as a process against a real lockd: every command, exit code, --json shape, and run. */
import { ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { LockdProcess, startLockd, stopAllLockd } from '../helpers/lockd-process';
import { until } from '../helpers/in-process-lockd';
import { ProcessResult, runProcess } from '../helpers/tools';

const LOCKCTL = path.resolve(__dirname, '../../bin/lockctl.js');
let lockd: LockdProcess;

beforeEach(async () => {
  lockd = await startLockd(['--min-ttl', '20ms']);
});
afterEach(stopAllLockd);

/** Runs lockctl against the test's lockd; `onSpawn` sees the child (to signal it). */
function lockctl(args: string[], onSpawn?: (child: ChildProcessWithoutNullStreams) => void): Promise<ProcessResult> {
  return runProcess(process.execPath, [LOCKCTL, ...args], { env: { LOCKD_ADDR: `127.0.0.1:${lockd.port}` }, timeoutMs: 20_000, onSpawn });
}

const json = (run: ProcessResult) => JSON.parse(run.stdout);

test('acquire, status, renew, release and list, human and --json', async () => {
  const human = await lockctl(['acquire', 'job', '--ttl', '1m', '--owner', 'ops']);
  expect(human.code).toBe(0);
  expect(human.stdout).toMatch(/^key {6}job\ntoken {4}[0-9a-f]{32}\nfence {4}\d+\nmode {5}exclusive\nttl {6}1m\nexpires {2}\d{4}-/);
  const taken = await lockctl(['--json', 'acquire', 'other', '--ttl', '30s', '--shared']);
  const lease = json(taken);
  expect(lease).toEqual({ key: 'other', token: expect.stringMatching(/^[0-9a-f]{32}$/), fence: expect.any(Number), mode: 'shared', ttlMs: 30_000, expiresAt: expect.any(Number), holdCount: 1 });

  expect((await lockctl(['status', 'job'])).stdout).toMatch(/^job: held by ops \(exclusive, fence \d+, expires .*\); 0 waiting\n$/);
  expect(json(await lockctl(['--json', 'status', 'other']))).toEqual({
    key: 'other',
    waiters: 0,
    holders: [{ owner: expect.stringMatching(/^.+@.+:lockctl$/), mode: 'shared', fence: lease.fence, expiresAt: lease.expiresAt, holdCount: 1 }],
  });

  const renewed = await lockctl(['--json', 'renew', 'other', '--token', lease.token, '--ttl', '2m']);
  expect(json(renewed)).toEqual({ key: 'other', token: lease.token, fence: lease.fence, mode: 'shared', ttlMs: 120_000, expiresAt: expect.any(Number), holdCount: 1 });

  const listed = json(await lockctl(['--json', 'list']));
  expect(listed).toEqual({ locks: [expect.objectContaining({ key: 'job' }), expect.objectContaining({ key: 'other' })], more: false });
  expect((await lockctl(['list', 'jo'])).stdout).toMatch(/^job: held by ops/);

  expect(await lockctl(['release', 'other', '--token', lease.token])).toMatchObject({ code: 0, stdout: 'released other\n' });
  expect(await lockctl(['ping'])).toMatchObject({ code: 0, stdout: 'pong\n' });
});

test('a bare duration is seconds and compound durations parse; a TTL lockd refuses is explained in flags', async () => {
  expect(json(await lockctl(['--json', 'acquire', 'secs', '--ttl', '30'])).ttlMs).toBe(30_000);
  expect(json(await lockctl(['--json', 'acquire', 'compound', '--ttl', '1m30s'])).ttlMs).toBe(90_000);
  const tooShort = await lockctl(['acquire', 'k', '--ttl', '1ms']);
  expect(tooShort.code).toBe(4);
  expect(tooShort.stderr).toBe("lockctl: refused: --ttl must be between 20ms and 24h (lockd's --min-ttl and --max-ttl), got 1ms\n");
  const tooLong = await lockctl(['--json', 'acquire', 'k', '--wait', '2h']);
  expect(tooLong.code).toBe(4);
  expect(json(tooLong)).toEqual({ error: { code: 'LOCKD_INVALID_ARGUMENT', message: "refused: --wait must be at most 1h (lockd's --max-wait), got 2h", exitCode: 4 } });
  const zero = await lockctl(['acquire', 'k', '--ttl', '0']);
  expect(zero.code).toBe(2);
  expect(zero.stderr).toMatch(/--ttl must be more than 0/);
});

test('renew without --ttl keeps the lease its own TTL', async () => {
  const lease = json(await lockctl(['--json', 'acquire', 'long', '--ttl', '5m']));
  const renewed = await lockctl(['--json', 'renew', 'long', '--token', lease.token]);
  expect(renewed.code).toBe(0);
  expect(json(renewed).ttlMs).toBe(300_000);
  expect((await lockctl(['renew', 'long', '--token', lease.token])).stdout).toMatch(/^renewed long for 5m, until /);
});

test('acquire --token re-enters the lease: same token and fence, holdCount 2', async () => {
  const first = json(await lockctl(['--json', 'acquire', 'again']));
  const second = json(await lockctl(['--json', 'acquire', 'again', '--token', first.token, '--wait', '0']));
  expect(second).toMatchObject({ token: first.token, fence: first.fence, holdCount: 2 });
  const wrong = await lockctl(['acquire', 'again', '--token', 'f'.repeat(32)]);
  expect(wrong.code).toBe(4);
  expect(wrong.stderr).toMatch(/refused: the token names no live lease on "again"/);
});

test('list says when more keys exist than it shows', async () => {
  for (const key of ['a', 'b', 'c']) await lockctl(['acquire', key]);
  const cut = await lockctl(['list', '--limit', '2']);
  expect(cut.stdout.trim().split('\n').map((line) => line.split(':')[0])).toEqual(['a', 'b']);
  expect(cut.stderr).toMatch(/more keys exist; use --limit/);
  expect(json(await lockctl(['--json', 'list', '--limit', '2']))).toMatchObject({ more: true, locks: [{ key: 'a' }, { key: 'b' }] });
  const whole = await lockctl(['--json', 'list', '--limit', '3']);
  expect(json(whole)).toMatchObject({ more: false, locks: [{ key: 'a' }, { key: 'b' }, { key: 'c' }] });
  expect(whole.stderr).toBe('');
  expect((await lockctl(['list', '--limit', '0'])).code).toBe(2);
});

test('--version prints the package version', async () => {
  const { version } = JSON.parse(fs.readFileSync(path.resolve(__dirname, '../../package.json'), 'utf8'));
  expect(await lockctl(['--version'])).toMatchObject({ code: 0, stdout: `lockctl ${version}\n` });
});

test('the default owner is user@host:lockctl, which outlives the lockctl process', async () => {
  await lockctl(['acquire', 'mine']);
  expect(json(await lockctl(['--json', 'status', 'mine'])).holders[0].owner).toBe(`${os.userInfo().username}@${os.hostname()}:lockctl`);
});

test('a wait that runs out names the holder, in text and in --json; a timed-out --json run prints JSON too', async () => {
  const held = json(await lockctl(['--json', 'acquire', 'held', '--owner', 'ops']));
  const busy = await lockctl(['acquire', 'held', '--wait', '50ms']);
  expect(busy.code).toBe(1);
  expect(busy.stderr).toBe(`lockctl: not acquired: "held" was not granted within 50ms: held by ops (exclusive, fence ${held.fence}), 0 waiting\n`);
  const run = await lockctl(['--json', 'run', 'held', '--wait', '0.05', '--', process.execPath, '-e', 'console.log("ran")']);
  expect(run.code).toBe(1);
  expect(json(run)).toEqual({
    error: {
      code: 'LOCKD_LOCK_TIMEOUT',
      message: `not acquired: "held" was not granted within 50ms: held by ops (exclusive, fence ${held.fence}), 0 waiting`,
      exitCode: 1,
      lock: { key: 'held', waiters: 0, holders: [{ owner: 'ops', mode: 'exclusive', fence: held.fence, expiresAt: held.expiresAt, holdCount: 1 }] },
    },
  });
});

test('--help explains every command with an example', async () => {
  const help = await lockctl(['--help']);
  expect(help.code).toBe(0);
  for (const command of ['acquire', 'release', 'renew', 'status', 'list', 'run', 'ping']) {
    const detail = await lockctl([command, '--help']);
    expect(detail.stdout).toContain(`usage: lockctl ${command}`);
    expect(detail.stdout).toContain('example:');
  }
});

test('run holds the lock while the child runs, passes LOCK_KEY and LOCK_FENCE, releases, and returns its exit code', async () => {
  const run = await lockctl(['run', 'deploy', '--', process.execPath, '-e', 'console.log(process.env.LOCK_KEY, process.env.LOCK_FENCE); process.exit(7)']);
  expect(run.code).toBe(7);
  expect(run.stdout).toMatch(/^deploy \d+\n$/);
  expect((await lockctl(['status', 'deploy'])).stdout).toBe('deploy: free\n');
});

test('run forwards SIGTERM to the child and exits with its status', async () => {
  let pid = 0;
  // The handler goes in before "started" is printed, so the signal cannot beat it.
  const script = 'process.on("SIGTERM", () => { console.log("child got SIGTERM"); process.exit(3); }); console.log("started"); setInterval(() => {}, 1000);';
  const run = lockctl(['run', 'sig', '--', process.execPath, '-e', script], (child) => {
    pid = child.pid!;
    child.stdout!.on('data', (chunk: Buffer) => {
      if (chunk.toString().includes('started')) process.kill(pid, 'SIGTERM');
    });
  });
  const result = await run;
  expect(result.stdout).toContain('child got SIGTERM');
  expect(result.code).toBe(3);
});

test('run signals a child that outlives a lost lease and exits 4 with a message', async () => {
  const script = 'process.on("SIGTERM", () => { console.log("child stopped"); process.exit(0); }); console.log("started"); setInterval(() => {}, 1000);';
  const run = lockctl(['run', 'fragile', '--ttl', '3s', '--', process.execPath, '-e', script], (child) => {
    child.stdout!.on('data', (chunk: Buffer) => {
      // Once the child runs, kill lockd: renewals fail and the lease runs out. A 3 s TTL (renewed
      // every second) survives a stalled machine until then, so the loss comes from the kill.
      if (chunk.toString().includes('started')) lockd.kill('SIGKILL');
    });
  });
  const result = await run;
  expect(result.stdout).toContain('child stopped');
  expect(result.stderr).toMatch(/lost the lock on "fragile"/);
  expect(result.code).toBe(4);
});

test("seed 003's demonstration: concurrent `lockctl run` blocks never interleave", async () => {
  const printer = 'for (const [i, c] of ["a", "b", "c", "d"].entries()) setTimeout(() => console.log(c), i * 15);';
  // Every line of every run, in the order this process receives them.
  const lines: string[] = [];
  await Promise.all(
    Array.from(
      { length: 5 },
      () =>
        new Promise<void>((resolve) => {
          const child = spawn(process.execPath, [LOCKCTL, 'run', 'print-demo', '--', process.execPath, '-e', printer], {
            env: { ...process.env, LOCKD_ADDR: `127.0.0.1:${lockd.port}` },
            stdio: ['ignore', 'pipe', 'inherit'],
          });
          child.stdout.on('data', (chunk: Buffer) => lines.push(...chunk.toString().trim().split('\n')));
          child.on('exit', () => resolve());
        }),
    ),
  );
  expect(lines.join('')).toBe('abcd'.repeat(5));
});

test('--json shapes of ping, release, renew refusals and run', async () => {
  expect(json(await lockctl(['--json', 'ping']))).toEqual({ pong: true });
  const lease = json(await lockctl(['--json', 'acquire', 'j']));
  expect(json(await lockctl(['--json', 'release', 'j', '--token', lease.token]))).toEqual({ key: 'j', released: true });
  const again = await lockctl(['--json', 'release', 'j', '--token', lease.token]);
  expect(again.code).toBe(4);
  expect(json(again)).toEqual({ key: 'j', released: false });
  const renew = await lockctl(['--json', 'renew', 'j', '--token', lease.token]);
  expect(renew.code).toBe(4);
  expect(renew.stderr).toMatch(/refused/);
  expect(json(renew)).toMatchObject({ error: { code: 'LOCKD_NOT_HOLDER', exitCode: 4 } });
  const run = await lockctl(['--json', 'run', 'j', '--', process.execPath, '-e', 'process.exit(5)']);
  expect(run.code).toBe(5);
  expect(json(run)).toEqual({ key: 'j', fence: expect.any(Number), exitCode: 5, lost: false });
  expect(json(await lockctl(['--json', 'list']))).toEqual({ locks: [], more: false });
  expect(json(await lockctl(['--json', 'bogus']))).toEqual({ error: { code: 'LOCKCTL_USAGE', message: 'unknown command "bogus"', exitCode: 2 } });
  expect((await lockctl(['list'])).stdout).toBe('no locks held\n');
});

test('--addr wins over LOCKD_ADDR; status counts waiters', async () => {
  const viaFlag = await runProcess(process.execPath, [LOCKCTL, '--addr', `127.0.0.1:${lockd.port}`, 'ping'], { env: { LOCKD_ADDR: '127.0.0.1:1' }, timeoutMs: 20_000 });
  expect(viaFlag).toMatchObject({ code: 0, stdout: 'pong\n' });
  await lockctl(['acquire', 'queue', '--owner', 'first']);
  let waiter: ChildProcessWithoutNullStreams | undefined;
  const waiting = lockctl(['acquire', 'queue', '--wait', '1m'], (child) => (waiter = child));
  await until(async () => (await lockctl(['status', 'queue'])).stdout.includes('1 waiting'), 'the waiter to show', 10_000);
  waiter!.kill('SIGTERM');
  await waiting;
  await until(async () => (await lockctl(['status', 'queue'])).stdout.includes('0 waiting'), 'the waiter to leave', 10_000);
});

test('run exits 1 when the lock is not granted within --wait, without running the command', async () => {
  await lockctl(['acquire', 'taken']);
  const run = await lockctl(['run', 'taken', '--wait', '100ms', '--', process.execPath, '-e', 'console.log("ran")']);
  expect(run.code).toBe(1);
  expect(run.stdout).toBe('');
  expect(run.stderr).toMatch(/not acquired/);
});

test('run passes on a child killed by a signal as 128 + N, and 127 for a command that cannot start', async () => {
  const killed = await lockctl(['run', 'k', '--', process.execPath, '-e', 'process.kill(process.pid, "SIGKILL")']);
  expect(killed.code).toBe(128 + 9);
  const missing = await lockctl(['run', 'k', '--', '/nonexistent/command']);
  expect(missing.code).toBe(127);
  expect(missing.stderr).toMatch(/cannot run \/nonexistent\/command/);
  expect((await lockctl(['status', 'k'])).stdout).toBe('k: free\n');
});
