/**
 * The Node client and lockctl with credentials and TLS, against a real lockd process serving
 * TLS with an auth file: allowed calls work, refusals are typed errors and lockctl exit 4 with
 * a clear message, and a credential never prints its secret.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import util from 'node:util';
import { sha256Hex } from '../../src/auth/secrets';
import { Credential, readCredentialFile } from '../../src/client/credentials';
import { LockClient } from '../../src/client/lock-client';
import { resolveClientOptions } from '../../src/client/options';
import { ConfigError, PermissionDeniedError, UnauthenticatedError } from '../../src/errors';
import { makeTestPki, removeTestPki, TestPki } from '../helpers/certs';
import { LockdProcess, startLockd } from '../helpers/lockd-process';
import { runProcess } from '../helpers/tools';

const LOCKCTL = path.resolve(__dirname, '../../bin/lockctl.js');
const SECRET = 'b1ll1ng-s3cret-8c2f';
let pki: TestPki;
let dir: string;
let credentialFile: string;
let lockd: LockdProcess;
/** The same, requiring client certificates (--tls-ca). */
let mtlsLockd: LockdProcess;

beforeAll(async () => {
  pki = makeTestPki();
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lockd-clients-'));
  const authFile = path.join(dir, 'auth.json');
  fs.writeFileSync(
    authFile,
    JSON.stringify({
      identities: {
        billing: { secretSha256: sha256Hex(SECRET), allow: { 'billing/': ['lock', 'read'] } },
        ops: { certSubject: 'CN=ops', allow: { '': ['admin'] } },
      },
    }),
  );
  credentialFile = path.join(dir, 'billing.credential');
  fs.writeFileSync(credentialFile, `billing:${SECRET}\n`, { mode: 0o600 });
  lockd = await startLockd(['--tls-cert', pki.server.cert, '--tls-key', pki.server.key, '--auth-file', authFile]);
  mtlsLockd = await startLockd(['--tls-cert', pki.server.cert, '--tls-key', pki.server.key, '--tls-ca', pki.ca, '--auth-file', authFile]);
});
afterAll(async () => {
  await lockd.stop();
  await mtlsLockd.stop();
  removeTestPki(pki);
  fs.rmSync(dir, { recursive: true, force: true });
});

const clients: LockClient[] = [];
afterEach(async () => {
  for (const client of clients.splice(0)) await client.close();
});
function client(options: ConstructorParameters<typeof LockClient>[0]): LockClient {
  const created = new LockClient({ host: '127.0.0.1', port: lockd.port, connectAttempts: 1, tls: { ca: pki.ca }, ...options });
  clients.push(created);
  return created;
}

describe('LockClient', () => {
  test('with a credential: allowed where the identity may, PermissionDeniedError elsewhere', async () => {
    const billing = client({ credential: readCredentialFile(credentialFile) });
    const lease = await billing.acquire('billing/invoice', { ttlMs: 30_000 });
    expect((await billing.inspect('billing/invoice')).holders).toHaveLength(1);
    await expect(billing.acquire('ops/deploy', { waitMs: 0 })).rejects.toThrow(new PermissionDeniedError('identity "billing" lacks the "lock" right on key "ops/deploy"; grant it under identities.billing.allow in the auth file'));
    expect(await lease.release()).toBe(true);
  });

  test('with a wrong secret: every call fails with UnauthenticatedError', async () => {
    const wrong = client({ credential: { identity: 'billing', secret: 'wrong' }, connectAttempts: 3 });
    await expect(wrong.ping()).rejects.toBeInstanceOf(UnauthenticatedError);
    await expect(wrong.ping()).rejects.toThrow('authentication failed for identity "billing"');
  });

  test('with a TLS client certificate: the certificate is the identity', async () => {
    const ops = client({ port: mtlsLockd.port, tls: { ca: pki.ca, ...pki.client('ops') } });
    expect(await ops.checkFence('anything', 1)).toBe(false);
    expect((await ops.acquire('ops/deploy', { ttlMs: 30_000 })).key).toBe('ops/deploy');
  });

  test('without credentials: anonymous, refused as UNAUTHENTICATED', async () => {
    await expect(client({}).inspect('billing/x')).rejects.toBeInstanceOf(UnauthenticatedError);
  });

  test('LOCKD_CREDENTIAL is the default credential, and a credential never shows its secret', () => {
    const { credential } = resolveClientOptions({}, { LOCKD_CREDENTIAL: `billing:${SECRET}` });
    expect(credential).toBeInstanceOf(Credential);
    expect(credential!.identity).toBe('billing');
    expect(credential!.secret).toBe(SECRET);
    const options = resolveClientOptions({ credential: { identity: 'billing', secret: SECRET } }, {});
    for (const shown of [JSON.stringify(options), util.inspect(options), String(options.credential)]) {
      expect(shown).toContain('billing');
      expect(shown).not.toContain(SECRET);
    }
    expect(() => resolveClientOptions({}, { LOCKD_CREDENTIAL: 'no-colon' })).toThrow(new ConfigError('LOCKD_CREDENTIAL: expected "identity:secret" (the secret is never printed)'));
  });
});

describe('lockctl', () => {
  const lockctl = (args: string[], env: NodeJS.ProcessEnv = {}, port = lockd.port) =>
    runProcess(process.execPath, [LOCKCTL, '--addr', `127.0.0.1:${port}`, '--tls-ca', pki.ca, ...args], { env: { LOCKD_CREDENTIAL: '', ...env }, timeoutMs: 20_000 });

  test('--credential-file: allowed calls exit 0, a missing right exits 4 with "permission denied"', async () => {
    const taken = await lockctl(['--credential-file', credentialFile, '--json', 'acquire', 'billing/report', '--ttl', '30s']);
    expect(taken.code).toBe(0);
    const { token } = JSON.parse(taken.stdout);
    expect((await lockctl(['--credential-file', credentialFile, 'release', 'billing/report', '--token', token])).code).toBe(0);
    const refused = await lockctl(['--credential-file', credentialFile, 'status', 'ops/deploy']);
    expect(refused.code).toBe(4);
    expect(refused.stderr).toBe(
      'lockctl: permission denied: identity "billing" lacks the "read" right on key "ops/deploy"; grant it under identities.billing.allow in the auth file (credentials: --credential-file or LOCKD_CREDENTIAL, TLS: --tls-cert/--tls-key)\n',
    );
  });

  test('LOCKD_CREDENTIAL works like --credential-file; none, or a wrong one, exits 4 with "not authenticated"', async () => {
    expect((await lockctl(['status', 'billing/x'], { LOCKD_CREDENTIAL: `billing:${SECRET}` })).code).toBe(0);
    const anonymous = await lockctl(['status', 'billing/x']);
    expect(anonymous.code).toBe(4);
    expect(anonymous.stderr).toMatch(/^lockctl: not authenticated: the anonymous caller lacks the "read" right on key "billing\/x"/);
    const wrong = await lockctl(['status', 'billing/x'], { LOCKD_CREDENTIAL: 'billing:wrong' });
    expect(wrong.code).toBe(4);
    expect(wrong.stderr).toMatch(/^lockctl: not authenticated: authentication failed for identity "billing"/);
    expect(wrong.stderr).not.toContain('wrong\n');
  });

  test('--tls-cert/--tls-key: a client certificate identity; an unreadable credential file is a usage error', async () => {
    const ops = pki.client('ops');
    expect((await lockctl(['--tls-cert', ops.cert, '--tls-key', ops.key, 'status', 'ops/anything'], {}, mtlsLockd.port)).stdout).toBe('ops/anything: free\n');
    // Without a client certificate lockd refuses the connection: lockctl cannot reach it (exit 3).
    expect((await lockctl(['status', 'ops/anything'], {}, mtlsLockd.port)).code).toBe(3);
    const missing = await lockctl(['--credential-file', path.join(dir, 'nope'), 'ping']);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain(`credential file ${path.join(dir, 'nope')}: cannot read it`);
  });
});
