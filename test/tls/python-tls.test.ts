/**
 * The seed 000 client, verbatim, over TLS with python3-thrift's TSSLSocket (the only change is
 * the socket class), against a real lockd with client certificates and an auth file: the
 * certificate is the identity, and its rights decide.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { makeTestPki, removeTestPki, TestPki } from '../helpers/certs';
import { startLockd } from '../helpers/lockd-process';
import { DEBIAN_PYTHON, requirePythonThrift, requireThriftCompiler, run, runProcess } from '../helpers/tools';

const seedIdl = path.resolve(__dirname, '../interop/seed/lock_service.thrift');
const runner = path.join(__dirname, 'run_seed_client_tls.py');
let pki: TestPki;
let scratch: string;
let authFile: string;

beforeAll(() => {
  requireThriftCompiler();
  requirePythonThrift();
  pki = makeTestPki();
  scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'lockd-python-tls-'));
  run('thrift', ['-r', '--gen', 'py', '-out', scratch, seedIdl]);
  authFile = path.join(scratch, 'auth.json');
  fs.writeFileSync(
    authFile,
    JSON.stringify({
      identities: {
        'seed-writer': { certSubject: 'CN=seed-writer', allow: { file_lock_key: ['lock'] } },
        'seed-reader': { certSubject: 'CN=seed-reader', allow: { file_lock_key: ['read'] } },
      },
    }),
  );
});
afterAll(() => {
  removeTestPki(pki);
  if (scratch) fs.rmSync(scratch, { recursive: true, force: true });
});

function seedClient(port: number, identity?: string) {
  const client = identity === undefined ? [] : [pki.client(identity).cert, pki.client(identity).key];
  return runProcess(DEBIAN_PYTHON, [runner, scratch, String(port), pki.ca, ...client], { env: { PYTHONDONTWRITEBYTECODE: '1' }, timeoutMs: 20_000 });
}

test('the seed client over TSSLSocket acquires, writes and releases as a certificate identity with the lock right', async () => {
  const lockd = await startLockd(['--tls-cert', pki.server.cert, '--tls-key', pki.server.key, '--tls-ca', pki.ca, '--auth-file', authFile]);
  const result = await seedClient(lockd.port, 'seed-writer');
  expect(result).toEqual({ code: 0, stdout: 'Lock acquired. Writing to file...\nLock released.\n', stderr: '' });
});

test('the seed client over TSSLSocket without the lock right is refused, and lockd logs who lacked what', async () => {
  const lockd = await startLockd(['--tls-cert', pki.server.cert, '--tls-key', pki.server.key, '--tls-ca', pki.ca, '--auth-file', authFile]);
  const result = await seedClient(lockd.port, 'seed-reader');
  // The seed's IDL declares no LockError, so its generated client reports the refusal as an unknown result.
  expect(result.code).toBe(1);
  expect(result.stdout).toBe('');
  expect(result.stderr).toContain('acquireLock failed: unknown result');
  await lockd.waitForOutput(/refused a call: missing right.*"identity":"seed-reader","right":"lock","key":"file_lock_key"/);
});

test('the seed client over TSSLSocket with server-only TLS (no client certificate, no auth file) works as before', async () => {
  const lockd = await startLockd(['--tls-cert', pki.server.cert, '--tls-key', pki.server.key]);
  const result = await seedClient(lockd.port);
  expect(result).toEqual({ code: 0, stdout: 'Lock acquired. Writing to file...\nLock released.\n', stderr: '' });
});
