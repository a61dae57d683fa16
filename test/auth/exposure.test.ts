/**
 * Safer defaults: lockd listens on 127.0.0.1 unless told otherwise and says so; listening on
 * another address without --auth-file logs one warning. Startup errors in the security flags
 * and files exit 2 with the reason.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { DEFAULT_SERVER_OPTIONS } from '../../src/options';
import { runLockd, startLockd } from '../helpers/lockd-process';

test('the default host is 127.0.0.1, and the line after the ready line says how to listen wider', async () => {
  expect(DEFAULT_SERVER_OPTIONS.host).toBe('127.0.0.1');
  const lockd = await startLockd();
  await lockd.waitForOutput(/lockd accepts connections from this machine only; --host 0\.0\.0\.0 listens on every interface/);
  expect(lockd.output()).not.toMatch(/without --auth-file/);
});

test('listening on every interface without --auth-file warns once; with one, it does not', async () => {
  // Nothing connects: the test only reads what lockd prints about the address it bound.
  const open = await startLockd(['--host', '0.0.0.0']);
  await open.waitForOutput(/warn listening on 0\.0\.0\.0 without --auth-file: anyone who can reach this port may take, release and list every lock, in clear text/);
  expect(open.output().match(/without --auth-file/g)).toHaveLength(1);
  expect(await open.stop()).toBe(0);

  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lockd-exposure-'));
  try {
    const authFile = path.join(dir, 'auth.json');
    fs.writeFileSync(authFile, '{"anonymous": {"allow": {"": ["read"]}}}');
    const guarded = await startLockd(['--host', '0.0.0.0', '--auth-file', authFile]);
    expect(await guarded.stop()).toBe(0);
    expect(guarded.output()).not.toMatch(/without --auth-file/);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test.each([
  [['--tls-cert', '/nonexistent/server.crt', '--tls-key', '/nonexistent/server.key'], 'lockd: --tls-cert /nonexistent/server.crt: cannot read it'],
  [['--tls-ca', '/x/ca.crt'], 'lockd: --tls-ca needs --tls-cert and --tls-key'],
  [['--auth-file', '/nonexistent/auth.json'], 'lockd: auth file /nonexistent/auth.json: cannot read it'],
])('a bad security setting exits 2 with the reason: %j', async (args, message) => {
  const { code, output } = await runLockd(['--in-memory', '--port', '0', ...args]);
  expect(code).toBe(2);
  expect(output).toContain(message);
});
