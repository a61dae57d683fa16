/**
 * Admin force-release and drain, end to end: the holder's LockClient sees its lease lost with the
 * operator's reason, lockd logs an audit line, lockctl run's command gets SIGTERM, and lockctl's
 * operations commands (release --force, drain, metrics) work against a real lockd.
 */
import type { ChildProcessWithoutNullStreams } from 'node:child_process';
import path from 'node:path';
import { LockClient } from '../../src/client/lock-client';
import { NotHolderError } from '../../src/errors';
import { ProcessResult, runProcess } from '../helpers/tools';
import { call, eventually, HttpLockd, k, startHttpLockd } from '../http/http-lockd';

const LOCKCTL = path.resolve(__dirname, '../../bin/lockctl.js');

let lockd: HttpLockd;
let client: LockClient;
beforeAll(async () => {
  lockd = await startHttpLockd();
  client = new LockClient({ host: '127.0.0.1', port: lockd.port });
});
afterAll(async () => {
  await client.close();
  expect(await lockd.stop()).toBe(0);
});

function lockctl(args: string[], onSpawn?: (child: ChildProcessWithoutNullStreams) => void): Promise<ProcessResult> {
  return runProcess(process.execPath, [LOCKCTL, ...args], {
    env: { LOCKD_ADDR: `127.0.0.1:${lockd.port}`, LOCKD_HTTP_ADDR: `127.0.0.1:${lockd.httpPort}` },
    timeoutMs: 25_000,
    onSpawn,
  });
}

/** Resolves with the signal's reason once it aborts; rejects after 10 s. */
function aborted(signal: AbortSignal): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('lease.signal did not abort within 10 s')), 10_000);
    signal.addEventListener('abort', () => {
      clearTimeout(timer);
      resolve(signal.reason);
    }, { once: true });
  });
}

test("the holder's lease.signal aborts with the operator's reason; the response and the audit line name the lease", async () => {
  const lease = await client.acquire('db/migrations', { ttlMs: 5_000, waitMs: 0, owner: 'deployer-7', autoRenew: 200 });
  const lost = aborted(lease.signal);
  const result = await call(lockd.http, 'POST', `/v1/admin/locks/${k('db/migrations')}/force-release`, { reason: 'stuck deploy, INC-4242', operator: 'oncall' });
  expect(result.status).toBe(200);
  expect(result.json).toEqual({ key: 'db/migrations', released: [{ owner: 'deployer-7', fence: lease.fence, mode: 'exclusive' }] });

  const reason = await lost;
  expect(reason).toBeInstanceOf(NotHolderError);
  expect((reason as Error).message).toContain('force-released by oncall (unauthenticated 127.0.0.1)');
  expect((reason as Error).message).toContain('stuck deploy, INC-4242');
  expect(lease.held).toBe(false);
  await lockd.waitForOutput(/info force-release .*"key":"db\/migrations".*"fence":\d+.*"reason":"stuck deploy, INC-4242"/);
  expect(lockd.output()).toMatch(new RegExp(`"who":"unauthenticated 127.0.0.1","operator":"oncall","key":"db/migrations","fence":${lease.fence},"owner":"deployer-7"`));
  // The key is free for the next caller.
  const next = await client.acquire('db/migrations', { waitMs: 0 });
  expect(next.fence).toBeGreaterThan(lease.fence);
  await next.release();
});

test('with a fence only that holder is freed; a renew of the freed lease is NOT_HOLDER with the reason over HTTP too', async () => {
  const a = await call(lockd.http, 'POST', `/v1/locks/reports`, { mode: 'shared', owner: 'a' });
  const b = await call(lockd.http, 'POST', `/v1/locks/reports`, { mode: 'shared', owner: 'b' });
  const result = await call(lockd.http, 'POST', `/v1/admin/locks/reports/force-release`, { reason: 'reader a is wedged', fence: a.json.fence });
  expect(result.json.released).toEqual([{ owner: 'a', fence: a.json.fence, mode: 'shared' }]);
  const info = await call(lockd.http, 'GET', `/v1/locks/reports`);
  expect(info.json.holders.map((h: { owner: string }) => h.owner)).toEqual(['b']);
  const renew = await call(lockd.http, 'POST', `/v1/locks/reports/renew`, { token: a.json.token });
  expect(renew.status).toBe(409);
  expect(renew.json.error).toEqual({ code: 'NOT_HOLDER', message: expect.stringContaining('reader a is wedged') });
  await call(lockd.http, 'DELETE', `/v1/locks/reports?token=${b.json.token}`);
});

test('force-release needs a reason (400) and finds nothing on a free key (200, empty list)', async () => {
  const noReason = await call(lockd.http, 'POST', `/v1/admin/locks/free-key/force-release`, {});
  expect(noReason.status).toBe(400);
  expect(noReason.json.error.message).toContain("must have required property 'reason'");
  const nothing = await call(lockd.http, 'POST', `/v1/admin/locks/free-key/force-release`, { reason: 'just in case' });
  expect(nothing.json).toEqual({ key: 'free-key', released: [] });
});

test("lockctl release --force: lockctl run's command gets SIGTERM and run exits 4 with the reason", async () => {
  const script = 'trap "echo got-sigterm; exit 0" TERM; echo started; while :; do sleep 0.1; done';
  let runStdout = '';
  let sawStart: () => void = () => {};
  const started = new Promise<void>((resolve) => (sawStart = resolve));
  const run = lockctl(['run', 'nightly/backup', '--ttl', '1s', '--wait', '0', '--', 'sh', '-c', script], (child) =>
    child.stdout.on('data', (chunk: Buffer) => {
      runStdout += chunk;
      if (runStdout.includes('started')) sawStart();
    }),
  );
  await started;
  const forced = await lockctl(['release', 'nightly/backup', '--force', '--reason', 'host is being replaced']);
  expect(forced.stderr).toBe('');
  expect(forced.code).toBe(0);
  expect(forced.stdout).toMatch(/^force-released nightly\/backup: fence \d+ \(exclusive, owner /);
  const result = await run;
  expect(result.stdout).toContain('got-sigterm');
  expect(result.stderr).toContain('host is being replaced');
  expect(result.stderr).toContain('sending it SIGTERM');
  expect(result.code).toBe(4);
});

test('lockctl release --force without --reason is a usage error (2); on a free key it exits 4', async () => {
  const noReason = await lockctl(['release', 'x', '--force']);
  expect(noReason.code).toBe(2);
  expect(noReason.stderr).toContain('needs --reason');
  const nothing = await lockctl(['release', 'free/one', '--force', '--reason', 'cleanup']);
  expect(nothing.code).toBe(4);
  expect(nothing.stderr).toContain('nothing released');
});

test('lockctl metrics summarizes the busiest and most contended prefixes', async () => {
  const holder = await call(lockd.http, 'POST', `/v1/locks/${k('hot/1')}`, {});
  for (let i = 0; i < 3; i++) expect((await call(lockd.http, 'POST', `/v1/locks/${k('hot/1')}`, {})).status).toBe(409);
  const human = await lockctl(['metrics', '--top', '3']);
  expect(human.code).toBe(0);
  expect(human.stdout).toMatch(/^lockd: \d+ leases, 0 waiting, \d+ connections/);
  expect(human.stdout).toContain('busiest prefixes (by grants):');
  expect(human.stdout).toMatch(/most contended prefixes[^\n]*\n\s+prefix\s+grants\s+contended[^\n]*\n\s+hot\s+1\s+3 /);
  const json = await lockctl(['--json', 'metrics']);
  const summary = JSON.parse(json.stdout);
  expect(summary.contended[0]).toMatchObject({ prefix: 'hot', grants: 1, contended: 3 });
  await call(lockd.http, 'DELETE', `/v1/locks/${k('hot/1')}?token=${holder.json.token}`);
});

test('lockctl drain --wait returns once the last holder released; --cancel resumes grants', async () => {
  const holder = await call(lockd.http, 'POST', `/v1/locks/maint`, {});
  const leases = (await call(lockd.http, 'GET', '/v1/admin/drain')).json.leases as number;
  // Free every other lease first so the one above is the last.
  expect(leases).toBe(1);
  const draining = lockctl(['drain', '--wait', '20s']);
  await eventually(async () => (await call(lockd.http, 'GET', '/v1/admin/drain')).json.draining === true, 'the drain to start');
  expect((await call(lockd.http, 'POST', `/v1/locks/new`, {})).status).toBe(503);
  await call(lockd.http, 'DELETE', `/v1/locks/maint?token=${holder.json.token}`);
  const result = await draining;
  expect(result.code).toBe(0);
  expect(result.stdout).toContain('0 leases still held (done: safe to stop lockd)');
  const cancel = await lockctl(['drain', '--cancel']);
  expect(cancel.code).toBe(0);
  expect((await call(lockd.http, 'POST', `/v1/locks/new`, {})).status).toBe(200);
});
