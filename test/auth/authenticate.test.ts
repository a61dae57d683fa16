/**
 * authenticate(): wrong, missing and late secrets, switching identities, and reloads of the
 * auth file taking effect on the next call, against a real LockdServer on a real socket.
 */
import fs from 'node:fs';
import { InvalidArgumentError, PermissionDeniedError, UnauthenticatedError } from '../../src/errors';
import { MessageType, TType } from '../../src/protocol/types';
import { makeTestPki, removeTestPki, TestPki } from '../helpers/certs';
import { until } from '../helpers/in-process-lockd';
import { hashOf, startSecure, stopSecure } from './secure-lockd';

const SECRET = 'correct horse battery staple';
const authWith = (rights: string[]) => ({
  identities: {
    billing: { secretSha256: hashOf(SECRET), allow: { 'billing/': rights } },
    ops: { secretSha256: hashOf('ops-secret'), allow: { '': ['admin'] } },
  },
});

afterEach(stopSecure);

describe.each(['binary', 'compact'] as const)('over %s', (protocol) => {
  test('a wrong secret is UNAUTHENTICATED, names the identity, never the secret, and leaves the connection anonymous', async () => {
    const lockd = await startSecure({ auth: authWith(['lock']), protocol });
    const stub = await lockd.connect();
    const wrong = stub.authenticate('billing', 'not the secret');
    await expect(wrong).rejects.toBeInstanceOf(UnauthenticatedError);
    await expect(wrong).rejects.toThrow('authentication failed for identity "billing": unknown identity or wrong secret');
    await expect(wrong).rejects.not.toThrow('not the secret');
    await expect(stub.acquire({ lockKey: 'billing/x' }).reply).rejects.toBeInstanceOf(UnauthenticatedError);
    // Nothing the server logged carries the secret either.
    expect(JSON.stringify(lockd.logs)).not.toContain('not the secret');
    expect(lockd.logs.filter((line) => line.kind === 'authentication-failed')).toHaveLength(1);
  });

  test('an unknown identity is refused like a wrong secret', async () => {
    const lockd = await startSecure({ auth: authWith(['lock']), protocol });
    const stub = await lockd.connect();
    await expect(stub.authenticate('nobody', SECRET)).rejects.toThrow(new UnauthenticatedError('authentication failed for identity "nobody": unknown identity or wrong secret'));
  });

  test('a missing secret: calls run anonymous (UNAUTHENTICATED), an empty one is refused, a call without the field is INVALID_ARGUMENT', async () => {
    const lockd = await startSecure({ auth: authWith(['lock']), protocol });
    const stub = await lockd.connect();
    const anonymous = stub.acquire({ lockKey: 'billing/x' }).reply;
    await expect(anonymous).rejects.toBeInstanceOf(UnauthenticatedError);
    await expect(anonymous).rejects.toThrow('the anonymous caller lacks the "lock" right on key "billing/x"');
    await expect(stub.authenticate('billing', '')).rejects.toBeInstanceOf(UnauthenticatedError);
    const noSecretField = stub.connection.call(
      'authenticate',
      (w, seqid, identity: string) => {
        w.writeMessageBegin('authenticate', MessageType.CALL, seqid);
        w.writeStructBegin();
        w.writeFieldBegin(TType.STRING, 1);
        w.writeString(identity);
        w.writeFieldStop();
        w.writeStructEnd();
      },
      'billing',
      5_000,
    ).reply;
    await expect(noSecretField).rejects.toThrow(new InvalidArgumentError('secret is required'));
    expect(await stub.ping()).toBe('pong');
  });

  test('a secret sent after other calls binds from then on; earlier refusals stay refusals', async () => {
    const lockd = await startSecure({ auth: authWith(['lock', 'read']), protocol });
    const stub = await lockd.connect();
    expect(await stub.ping()).toBe('pong');
    await expect(stub.inspect('billing/x')).rejects.toBeInstanceOf(UnauthenticatedError);
    expect(await stub.authenticate('billing', SECRET)).toBe('billing');
    expect((await stub.acquire({ lockKey: 'billing/x', ttlMs: 60_000 }).reply).acquired).toBe(true);
    expect((await stub.inspect('billing/x')).holders).toHaveLength(1);
    // The same identity again is a no-op; another one needs another connection.
    expect(await stub.authenticate('billing', SECRET)).toBe('billing');
    const switching = stub.authenticate('ops', 'ops-secret');
    await expect(switching).rejects.toBeInstanceOf(PermissionDeniedError);
    await expect(switching).rejects.toThrow('this connection is already authenticated as "billing"; open another connection to act as "ops"');
    await expect(stub.acquire({ lockKey: 'ops/x' }).reply).rejects.toBeInstanceOf(PermissionDeniedError);
    // Its slot moved from the anonymous account to billing's.
    expect(lockd.server.accessControl!.usage().get('billing')).toMatchObject({ connections: 1 });
    expect(lockd.server.accessControl!.usage().has('')).toBe(false);
  });

  test('a reload that removes a right takes effect on the next call of an open connection', async () => {
    const lockd = await startSecure({ auth: authWith(['lock', 'read']), protocol });
    const stub = await lockd.connect();
    await stub.authenticate('billing', SECRET);
    const { lease } = await stub.acquire({ lockKey: 'billing/a', ttlMs: 60_000 }).reply;
    expect((await stub.inspect('billing/a')).holders).toHaveLength(1);
    await lockd.rewriteAuthFile(authWith(['read']));
    await expect(stub.release('billing/a', lease!.token)).rejects.toThrow(new PermissionDeniedError('identity "billing" lacks the "lock" right on key "billing/a"; grant it under identities.billing.allow in the auth file'));
    expect((await stub.inspect('billing/a')).holders).toHaveLength(1);
    // And a reload that gives it back, too.
    await lockd.rewriteAuthFile(authWith(['lock', 'read']));
    expect(await stub.release('billing/a', lease!.token)).toBe(true);
  });

  test('a reload that removes the identity refuses its open connections; an invalid file changes nothing', async () => {
    const lockd = await startSecure({ auth: authWith(['lock', 'read']), protocol });
    const stub = await lockd.connect();
    await stub.authenticate('billing', SECRET);
    // A broken file is logged and ignored: the permissions in force stay.
    fs.writeFileSync(lockd.authPath!, '{ "identities": { "billing": { "secretSha256": "short" } } }');
    await until(() => lockd.logs.some((line) => line.message.startsWith('auth file not reloaded')), 'the failed reload to be logged');
    const failed = lockd.logs.find((line) => line.message.startsWith('auth file not reloaded'))!;
    expect(failed.error).toContain(`auth file ${lockd.authPath}: identities.billing.secretSha256: must be 64 hex characters`);
    expect((await stub.inspect('billing/a')).holders).toEqual([]);
    await lockd.rewriteAuthFile({ identities: { ops: authWith([]).identities.ops } });
    await expect(stub.inspect('billing/a')).rejects.toThrow(new UnauthenticatedError('identity "billing" is no longer in the auth file; authenticate again on a new connection'));
  });
});

describe('with client certificates', () => {
  let pki: TestPki;
  beforeAll(() => {
    pki = makeTestPki();
  });
  afterAll(() => removeTestPki(pki));

  test('a certificate no identity claims is anonymous and may authenticate; a certificate identity cannot switch', async () => {
    const auth = { identities: { ...authWith(['lock']).identities, certOps: { certSubject: 'CN=cert-ops', allow: { 'ops/': ['lock'] } } } };
    const lockd = await startSecure({ auth, tls: { cert: pki.server.cert, key: pki.server.key, ca: pki.ca } });
    const unclaimed = await lockd.connect({ ca: pki.ca, client: pki.client('stranger') });
    await expect(unclaimed.acquire({ lockKey: 'billing/x' }).reply).rejects.toBeInstanceOf(UnauthenticatedError);
    expect(await unclaimed.authenticate('billing', SECRET)).toBe('billing');
    expect((await unclaimed.acquire({ lockKey: 'billing/x', ttlMs: 60_000 }).reply).acquired).toBe(true);

    const certOps = await lockd.connect({ ca: pki.ca, client: pki.client('cert-ops') });
    expect((await certOps.acquire({ lockKey: 'ops/x', ttlMs: 60_000 }).reply).acquired).toBe(true);
    await expect(certOps.authenticate('billing', SECRET)).rejects.toThrow(new PermissionDeniedError('this connection is already authenticated as "certOps"; open another connection to act as "billing"'));
  });

  test('a certificate whose subjectAltName an identity claims (certSan) is that identity', async () => {
    const auth = { identities: { worker: { certSan: 'URI:spiffe://lockd-test/worker', allow: { 'jobs/': ['lock', 'read'] } } } };
    const lockd = await startSecure({ auth, tls: { cert: pki.server.cert, key: pki.server.key, ca: pki.ca } });
    const worker = await lockd.connect({ ca: pki.ca, client: pki.client('worker-1', '/CN=worker-1', 'URI:spiffe://lockd-test/worker') });
    expect((await worker.acquire({ lockKey: 'jobs/1', ttlMs: 60_000 }).reply).acquired).toBe(true);
    await expect(worker.acquire({ lockKey: 'other/1' }).reply).rejects.toThrow('identity "worker" lacks the "lock" right on key "other/1"');
    const other = await lockd.connect({ ca: pki.ca, client: pki.client('worker-2', '/CN=worker-2', 'URI:spiffe://lockd-test/other') });
    await expect(other.inspect('jobs/1')).rejects.toBeInstanceOf(UnauthenticatedError);
  });
});
