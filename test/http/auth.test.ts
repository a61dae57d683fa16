/**
 * The permissions file governs the HTTP API too: Basic credentials prove an identity, each route
 * needs its right on the key (or prefix), and the anonymous caller gets what the file grants it.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { sha256Hex } from '../../src/auth/secrets';
import { call, HttpLockd, k, startHttpLockd } from './http-lockd';

const secret = 'b'.repeat(40);
let lockd: HttpLockd;
let dir: string;
beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lockd-http-auth-'));
  const authFile = path.join(dir, 'auth.json');
  fs.writeFileSync(
    authFile,
    JSON.stringify({
      identities: { billing: { secretSha256: sha256Hex(secret), allow: { 'billing/': ['lock', 'read'] } } },
      anonymous: { allow: { 'public/': ['read'] } },
    }),
  );
  lockd = await startHttpLockd(['--auth-file', authFile]);
});
afterAll(async () => {
  await lockd.stop();
  fs.rmSync(dir, { recursive: true, force: true });
});

const basic = (identity: string, password: string) => ({
  headers: { 'content-type': 'application/json', authorization: `Basic ${Buffer.from(`${identity}:${password}`).toString('base64')}` },
});

test('an identity with its secret may lock under its prefix, and nowhere else', async () => {
  const granted = await call(lockd.http, 'POST', `/v1/locks/${k('billing/invoices')}`, {}, basic('billing', secret));
  expect(granted.status).toBe(200);
  const elsewhere = await call(lockd.http, 'POST', `/v1/locks/${k('payroll/run')}`, {}, basic('billing', secret));
  expect(elsewhere.status).toBe(403);
  expect(elsewhere.json.error.message).toMatch(/billing may not lock "payroll\/run"/);
});

test('a wrong secret or an unknown identity is 401; no credentials is the anonymous caller', async () => {
  expect((await call(lockd.http, 'POST', `/v1/locks/${k('billing/x')}`, {}, basic('billing', 'wrong'))).status).toBe(401);
  expect((await call(lockd.http, 'POST', `/v1/locks/${k('billing/x')}`, {}, basic('nobody', secret))).status).toBe(401);
  const anonymousLock = await call(lockd.http, 'POST', `/v1/locks/${k('billing/x')}`, {});
  expect(anonymousLock.status).toBe(403);
  expect((await call(lockd.http, 'GET', `/v1/locks/${k('public/board')}`)).status).toBe(200);
});

test('health stays public; admin routes need admin', async () => {
  expect((await call(lockd.http, 'GET', '/healthz')).status).toBe(200);
  const drain = await call(lockd.http, 'POST', '/v1/admin/drain', {}, basic('billing', secret));
  expect(drain.status).toBe(403);
  expect(drain.json.error.message).toMatch(/billing may not admin/);
});
