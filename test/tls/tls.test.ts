/**
 * TLS on real lockd processes: mismatched clients fail cleanly and are logged once, client
 * certificates that are expired, untrusted or missing are refused, and the certificate files
 * are reloaded without a restart (on change and on SIGHUP).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { LockClient } from '../../src/client/lock-client';
import { ConnectionError } from '../../src/errors';
import { CertFiles, makeTestPki, removeTestPki, TestPki } from '../helpers/certs';
import { LockdProcess, startLockd } from '../helpers/lockd-process';

let pki: TestPki;
beforeAll(() => {
  pki = makeTestPki();
});
afterAll(() => removeTestPki(pki));

const clients: LockClient[] = [];
afterEach(async () => {
  for (const client of clients.splice(0)) await client.close();
});

/** A client that tries once (no reconnect backoff to wait through). */
function client(port: number, tlsFiles?: { ca?: string; client?: CertFiles }): LockClient {
  const created = new LockClient({
    host: '127.0.0.1',
    port,
    connectAttempts: 1,
    tls: tlsFiles && { ca: tlsFiles.ca, cert: tlsFiles.client?.cert, key: tlsFiles.client?.key },
  });
  created.on('disconnect', () => {});
  clients.push(created);
  return created;
}

function count(output: string, pattern: RegExp): number {
  return output.split('\n').filter((line) => pattern.test(line)).length;
}

const serverTls = () => ['--tls-cert', pki.server.cert, '--tls-key', pki.server.key];

test('a plain client against a TLS port fails with ConnectionError, and lockd logs it once', async () => {
  const lockd = await startLockd(serverTls());
  await expect(client(lockd.port).ping()).rejects.toBeInstanceOf(ConnectionError);
  await lockd.waitForOutput(/closing connection: a plain-text client reached the TLS port: connect with TLS/);
  // lockd serves TLS clients all along; by the time one was answered, the bad one was logged.
  expect(await client(lockd.port, { ca: pki.ca }).ping()).toBe('pong');
  expect(count(lockd.output(), /closing connection/)).toBe(1);
});

test('a TLS client against a plain port fails with ConnectionError, and lockd logs it once, saying why', async () => {
  const lockd = await startLockd();
  await expect(client(lockd.port, { ca: pki.ca }).ping()).rejects.toBeInstanceOf(ConnectionError);
  await lockd.waitForOutput(/a TLS handshake reached a plain-text Thrift port: connect without TLS, or start lockd with --tls-cert and --tls-key/);
  expect(await client(lockd.port).ping()).toBe('pong');
  expect(count(lockd.output(), /a TLS handshake reached a plain-text Thrift port/)).toBe(1);
  expect(lockd.output()).not.toMatch(/malformed/);
});

test('a client that does not trust lockd\'s CA refuses it', async () => {
  const lockd = await startLockd(serverTls());
  const refused = client(lockd.port, { ca: pki.untrusted.cert }).ping();
  await expect(refused).rejects.toBeInstanceOf(ConnectionError);
  await expect(refused).rejects.toThrow(/certificate/);
});

describe('with --tls-ca (client certificates required)', () => {
  let lockd: LockdProcess;
  beforeAll(async () => {
    lockd = await startLockd([...serverTls(), '--tls-ca', pki.ca]);
  });
  afterAll(() => lockd.stop());

  test('a client certificate signed by the CA is accepted', async () => {
    expect(await client(lockd.port, { ca: pki.ca, client: pki.client('ops') }).ping()).toBe('pong');
  });

  test.each([
    ['expired', () => pki.expired, /"reason":"CERT_HAS_EXPIRED"/],
    ['signed by an untrusted CA', () => pki.untrusted, /"reason":"UNABLE_TO_(GET_ISSUER_CERT|VERIFY_LEAF_SIGNATURE)/],
    ['missing', () => undefined, /"reason":"(NO_CLIENT_CERTIFICATE|UNABLE_TO_GET_ISSUER_CERT)"/],
  ])('a client certificate that is %s is refused before any call is read, and the reason is logged', async (_what, files, reason) => {
    const before = count(lockd.output(), /client certificate refused/);
    await expect(client(lockd.port, { ca: pki.ca, client: files() }).ping()).rejects.toBeInstanceOf(ConnectionError);
    await lockd.waitForOutput((output) => count(output, /client certificate refused/) > before);
    const line = lockd.output().split('\n').filter((l) => /client certificate refused/.test(l)).pop()!;
    expect(line).toMatch(reason);
  });
});

describe('certificate reload', () => {
  /** The subject CN of the certificate lockd presents to a new connection. */
  async function presentedName(port: number): Promise<string> {
    return new Promise((resolve, reject) => {
      const socket = tls.connect({ host: '127.0.0.1', port, ca: fs.readFileSync(pki.ca) }, () => {
        const name = socket.getPeerCertificate().subject.CN;
        socket.destroy();
        resolve(String(name));
      });
      socket.once('error', reject);
    });
  }

  test('replacing the files switches new connections to the new certificate; SIGHUP reloads too; a bad file keeps the old one', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lockd-tls-reload-'));
    try {
      const cert = path.join(dir, 'server.crt');
      const key = path.join(dir, 'server.key');
      fs.copyFileSync(pki.server.cert, cert);
      fs.copyFileSync(pki.server.key, key);
      const lockd = await startLockd(['--tls-cert', cert, '--tls-key', key]);
      expect(await presentedName(lockd.port)).toBe('localhost');

      // Deploy tools replace files by renaming new ones over them.
      fs.copyFileSync(pki.rotatedServer.key, `${key}.new`);
      fs.copyFileSync(pki.rotatedServer.cert, `${cert}.new`);
      fs.renameSync(`${key}.new`, key);
      fs.renameSync(`${cert}.new`, cert);
      await lockd.waitForOutput(/TLS certificate reloaded.*CN=lockd-rotated/);
      expect(await presentedName(lockd.port)).toBe('lockd-rotated');

      // A broken certificate is refused; the one in use stays.
      fs.writeFileSync(cert, 'not a certificate');
      await lockd.waitForOutput(/TLS files not reloaded/);
      expect(await presentedName(lockd.port)).toBe('lockd-rotated');

      // SIGHUP reloads as well (here: back to the first certificate).
      fs.copyFileSync(pki.server.cert, cert);
      fs.copyFileSync(pki.server.key, key);
      lockd.kill('SIGHUP');
      await lockd.waitForOutput(/TLS certificate reloaded.*"reason":"SIGHUP".*CN=localhost|TLS certificate reloaded.*CN=localhost.*"reason":"SIGHUP"/);
      expect(await presentedName(lockd.port)).toBe('localhost');
      expect(await lockd.stop()).toBe(0);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
