/**
 * A throw-away PKI for TLS tests, made with the `openssl` command in a temp dir (the same
 * commands docs/security.md shows): a self-signed CA, a server certificate for 127.0.0.1 and
 * localhost, and client certificates, including an expired one and one from an untrusted CA.
 *
 *   const pki = makeTestPki();            // beforeAll
 *   pki.server.cert, pki.client('ops').key, pki.expired.cert, pki.untrusted.cert
 *   removeTestPki(pki);                   // afterAll
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { run } from './tools';

/** A certificate and its private key, as PEM file paths. */
export interface CertFiles {
  cert: string;
  key: string;
}

export interface TestPki {
  dir: string;
  /** The CA lockd trusts for client certificates (--tls-ca) and clients trust for lockd. */
  ca: string;
  /** CN=localhost, SAN DNS:localhost and IP:127.0.0.1, signed by the CA. */
  server: CertFiles;
  /** A second server certificate (CN=lockd-rotated), for reload tests. */
  rotatedServer: CertFiles;
  /** CN=ops, but its validity ended in 2020. */
  expired: CertFiles;
  /** CN=ops, signed by a CA lockd does not trust. */
  untrusted: CertFiles;
  /** A client certificate signed by the CA with subject `subject` (e.g. "/CN=ops") and optional SAN; made on first use. */
  client(name: string, subject?: string, san?: string): CertFiles;
}

const KEY_ARGS = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];

/** Makes the PKI; the files live until removeTestPki. */
export function makeTestPki(): TestPki {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lockd-pki-'));
  const file = (name: string) => path.join(dir, name);
  const selfSignedCa = (name: string, subject: string) => {
    run('openssl', ['req', '-x509', ...KEY_ARGS, '-keyout', file(`${name}.key`), '-out', file(`${name}.crt`), '-subj', subject, '-days', '2']);
    return { cert: file(`${name}.crt`), key: file(`${name}.key`) };
  };
  const ca = selfSignedCa('ca', '/CN=lockd test CA');
  const otherCa = selfSignedCa('other-ca', '/CN=someone else CA');
  const sign = (name: string, subject: string, by: CertFiles, san?: string): CertFiles => {
    const out = { cert: file(`${name}.crt`), key: file(`${name}.key`) };
    run('openssl', ['req', ...KEY_ARGS, '-keyout', out.key, '-out', file(`${name}.csr`), '-subj', subject]);
    const extensions = file(`${name}.ext`);
    fs.writeFileSync(extensions, san === undefined ? 'basicConstraints=CA:FALSE\n' : `basicConstraints=CA:FALSE\nsubjectAltName=${san}\n`);
    run('openssl', ['x509', '-req', '-in', file(`${name}.csr`), '-CA', by.cert, '-CAkey', by.key, '-CAcreateserial', '-days', '2', '-extfile', extensions, '-out', out.cert]);
    return out;
  };
  const server = sign('server', '/CN=localhost', ca, 'DNS:localhost,IP:127.0.0.1');
  const rotatedServer = sign('server-rotated', '/CN=lockd-rotated', ca, 'DNS:localhost,IP:127.0.0.1');
  const untrusted = sign('untrusted', '/CN=ops', otherCa);
  const expired = signExpired(dir, ca);
  const clients = new Map<string, CertFiles>();
  return {
    dir,
    ca: ca.cert,
    server,
    rotatedServer,
    expired,
    untrusted,
    client(name, subject = `/CN=${name}`, san) {
      let files = clients.get(name);
      if (files === undefined) {
        files = sign(`client-${name}`, subject, ca, san);
        clients.set(name, files);
      }
      return files;
    },
  };
}

/** `openssl x509` cannot backdate a certificate; `openssl ca` with explicit dates can. */
function signExpired(dir: string, ca: CertFiles): CertFiles {
  const file = (name: string) => path.join(dir, name);
  fs.writeFileSync(file('index.txt'), '');
  fs.writeFileSync(file('serial'), '1000\n');
  fs.writeFileSync(
    file('ca.cnf'),
    ['[ ca ]', 'default_ca = test', '[ test ]', `database = ${file('index.txt')}`, `new_certs_dir = ${dir}`, `serial = ${file('serial')}`, 'default_md = sha256', 'policy = any', 'unique_subject = no', '[ any ]', 'commonName = supplied', ''].join('\n'),
  );
  const out = { cert: file('expired.crt'), key: file('expired.key') };
  run('openssl', ['req', ...KEY_ARGS, '-keyout', out.key, '-out', file('expired.csr'), '-subj', '/CN=ops']);
  run('openssl', ['ca', '-batch', '-config', file('ca.cnf'), '-cert', ca.cert, '-keyfile', ca.key, '-in', file('expired.csr'), '-out', out.cert, '-startdate', '20200101000000Z', '-enddate', '20200102000000Z', '-notext']);
  return out;
}

export function removeTestPki(pki: TestPki | undefined): void {
  if (pki !== undefined) fs.rmSync(pki.dir, { recursive: true, force: true });
}
