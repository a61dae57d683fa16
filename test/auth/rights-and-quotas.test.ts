/**
 * Every right and quota, allowed and refused, per method and per key prefix, for identities
 * proved by a secret (authenticate() on a plain port) and by a TLS client certificate, on both
 * protocols, against a real LockdServer on a real socket.
 */
import { PermissionDeniedError, ResourceExhaustedError, UnauthenticatedError } from '../../src/errors';
import type { LockServiceStub } from '../../src/client/service-stub';
import type { ProtocolKind } from '../../src/options';
import { makeTestPki, removeTestPki, TestPki } from '../helpers/certs';
import { until } from '../helpers/in-process-lockd';
import { hashOf, SecureLockd, startSecure, stopSecure } from './secure-lockd';

const SECRETS: Record<string, string> = {
  writer: 'writer-secret-4f1c9a',
  reader: 'reader-secret-77ab01',
  admin: 'admin-secret-e3d2c1',
  quota: 'quota-secret-90aa42',
};

/** writer locks app/ and reads shared/; reader reads app/; admin does everything; quota is small. */
const AUTH = {
  identities: {
    writer: { secretSha256: hashOf(SECRETS.writer), certSubject: 'CN=writer', allow: { 'app/': ['lock'], 'shared/': ['read'] } },
    reader: { secretSha256: hashOf(SECRETS.reader), certSubject: 'CN=reader', allow: { 'app/': ['read'] } },
    admin: { secretSha256: hashOf(SECRETS.admin), certSubject: 'CN=admin', allow: { '': ['admin'] } },
    quota: { secretSha256: hashOf(SECRETS.quota), certSubject: 'CN=quota', allow: { 'q/': ['lock', 'read'] }, quotas: { leases: 2, waiters: 1, connections: 2 } },
  },
  anonymous: { allow: { 'public/': ['lock', 'read'] } },
};

type Right = 'lock' | 'read';
interface MethodCase {
  method: string;
  right: Right;
  /** Needs a lease held (by admin) on the key; gets its token. */
  needsLease: boolean;
  call(stub: LockServiceStub, key: string, token: string): Promise<unknown>;
  /** What an allowed call answers. */
  allowed: (result: unknown) => void;
}

const METHODS: MethodCase[] = [
  { method: 'acquire', right: 'lock', needsLease: false, call: (s, k) => s.acquire({ lockKey: k, ttlMs: 60_000 }).reply, allowed: (r) => expect(r).toMatchObject({ acquired: true }) },
  { method: 'acquireLock', right: 'lock', needsLease: false, call: (s, k) => s.acquireLock({ lockKey: k }).reply, allowed: (r) => expect(r).toBe(true) },
  { method: 'releaseLock', right: 'lock', needsLease: true, call: (s, k, t) => s.releaseLock({ lockKey: k, token: t }), allowed: (r) => expect(r).toBe(true) },
  { method: 'release', right: 'lock', needsLease: true, call: (s, k, t) => s.release(k, t), allowed: (r) => expect(r).toBe(true) },
  { method: 'renew', right: 'lock', needsLease: true, call: (s, k, t) => s.renew(k, t, 60_000), allowed: (r) => expect(r).toMatchObject({ lockKey: expect.any(String), ttlMs: 60_000 }) },
  { method: 'inspect', right: 'read', needsLease: true, call: (s, k) => s.inspect(k), allowed: (r) => expect((r as { holders: unknown[] }).holders).toHaveLength(1) },
  { method: 'checkFence', right: 'read', needsLease: true, call: (s, k) => s.checkFence(k, 1), allowed: (r) => expect(typeof r).toBe('boolean') },
];

let pki: TestPki;
beforeAll(() => {
  pki = makeTestPki();
});
afterAll(() => removeTestPki(pki));

type Kind = 'secret' | 'certificate';

describe.each<[Kind, ProtocolKind]>([
  ['secret', 'binary'],
  ['secret', 'compact'],
  ['certificate', 'binary'],
  ['certificate', 'compact'],
])('identities proved by %s over %s', (kind, protocol) => {
  let lockd: SecureLockd;
  let serial = 0;
  const freshKey = (prefix: string, method: string) => `${prefix}${method}-${++serial}`;

  const start = async () => {
    lockd = await startSecure({ auth: AUTH, protocol, tls: kind === 'certificate' ? { cert: pki.server.cert, key: pki.server.key, ca: pki.ca } : undefined });
  };
  // One server for the method matrix (every test uses fresh keys); one per quota test.
  beforeAll(start);
  afterAll(stopSecure);

  /** A connection that is `identity`: by authenticate() on a plain port, or by its client certificate. */
  async function as(identity: string): Promise<LockServiceStub> {
    if (kind === 'certificate') return lockd.connect({ ca: pki.ca, client: pki.client(identity) });
    const stub = await lockd.connect();
    expect(await stub.authenticate(identity, SECRETS[identity])).toBe(identity);
    return stub;
  }

  async function leaseOn(key: string): Promise<string> {
    const admin = await as('admin');
    const { lease } = await admin.acquire({ lockKey: key, ttlMs: 60_000 }).reply;
    return lease!.token;
  }

  async function holders(key: string): Promise<number> {
    return (await (await as('admin')).inspect(key)).holders.length;
  }

  describe.each(METHODS)('$method needs the $right right', (m) => {
    const holder = m.right === 'lock' ? 'writer' : 'reader';
    /** Has the other right on app/ but not this one. */
    const otherRight = m.right === 'lock' ? 'reader' : 'writer';

    test('allowed on a key under a prefix that grants it', async () => {
      const key = freshKey('app/', m.method);
      const token = m.needsLease ? await leaseOn(key) : '';
      m.allowed(await m.call(await as(holder), key, token));
    });

    test('refused (PERMISSION_DENIED naming identity, key and right) on a key under no granted prefix, with no effect', async () => {
      const key = freshKey('other/', m.method);
      const token = m.needsLease ? await leaseOn(key) : '';
      const refusal = m.call(await as(holder), key, token);
      await expect(refusal).rejects.toBeInstanceOf(PermissionDeniedError);
      await expect(refusal).rejects.toThrow(`identity "${holder}" lacks the "${m.right}" right on key "${key}"`);
      await expect(refusal).rejects.not.toThrow(SECRETS[holder]);
      expect(await holders(key)).toBe(m.needsLease ? 1 : 0);
    });

    test('refused to an identity holding only the other right on that prefix', async () => {
      const key = freshKey('app/', m.method);
      const token = m.needsLease ? await leaseOn(key) : '';
      await expect(m.call(await as(otherRight), key, token)).rejects.toThrow(new PermissionDeniedError(`identity "${otherRight}" lacks the "${m.right}" right on key "${key}"; grant it under identities.${otherRight}.allow in the auth file`));
    });

    test('allowed to admin on any key', async () => {
      const key = freshKey('anything/', m.method);
      const token = m.needsLease ? await leaseOn(key) : '';
      m.allowed(await m.call(await as('admin'), key, token));
    });
  });

  test('listLocks returns only the keys the caller may read, in key order, across its prefixes', async () => {
    await lockd.stop();
    await start(); // an empty table: the matrix above left keys behind
    const admin = await as('admin');
    for (const key of ['app/a', 'app/b', 'other/c', 'public/d', 'shared/e', 'shared/f']) await admin.acquire({ lockKey: key, ttlMs: 60_000 }).reply;
    const keysOf = async (stub: LockServiceStub, prefix: string) => (await stub.listLocks(prefix, 0)).map((info) => info.lockKey);
    expect(await keysOf(admin, '')).toEqual(['app/a', 'app/b', 'other/c', 'public/d', 'shared/e', 'shared/f']);
    expect(await keysOf(await as('reader'), '')).toEqual(['app/a', 'app/b']);
    expect(await keysOf(await as('reader'), 'app/b')).toEqual(['app/b']);
    expect(await keysOf(await as('reader'), 'other/')).toEqual([]);
    // writer may lock app/ but not read it: only shared/ shows.
    expect(await keysOf(await as('writer'), '')).toEqual(['shared/e', 'shared/f']);
  });

  describe('quotas of identity "quota" (leases 2, waiters 1, connections 2)', () => {
    beforeEach(async () => {
      await lockd.stop();
      await start();
    });
    test('leases: a third lease is refused until one ends; a re-entry is not a new lease', async () => {
      const q = await as('quota');
      const first = (await q.acquire({ lockKey: 'q/1', ttlMs: 60_000 }).reply).lease!;
      expect((await q.acquireLock({ lockKey: 'q/2' }).reply)).toBe(true);
      const refused = q.acquire({ lockKey: 'q/3', ttlMs: 60_000 }).reply;
      await expect(refused).rejects.toBeInstanceOf(ResourceExhaustedError);
      await expect(refused).rejects.toThrow('identity "quota" holds 2 leases and waits for 0 (quotas.leases is 2)');
      expect((await q.acquire({ lockKey: 'q/1', token: first.token }).reply).lease!.holdCount).toBe(2);
      // The quota spans connections: a second connection of the same identity is refused too.
      await expect((await as('quota')).acquire({ lockKey: 'q/3' }).reply).rejects.toBeInstanceOf(ResourceExhaustedError);
      expect(await q.release('q/1', first.token)).toBe(true);
      await expect(q.acquire({ lockKey: 'q/3' }).reply).rejects.toBeInstanceOf(ResourceExhaustedError); // held twice, released once
      expect(await q.release('q/1', first.token)).toBe(true);
      expect((await q.acquire({ lockKey: 'q/3', ttlMs: 60_000 }).reply).acquired).toBe(true);
    });

    test('leases: an expired lease frees its place', async () => {
      const q = await as('quota');
      const short = (await q.acquire({ lockKey: 'q/short', ttlMs: 30 }).reply).lease!;
      await q.acquire({ lockKey: 'q/long', ttlMs: 60_000 }).reply;
      await until(() => !lockd.backend.isHeld('q/short', short.token), 'the short lease to expire');
      expect((await q.acquire({ lockKey: 'q/next', ttlMs: 60_000 }).reply).acquired).toBe(true);
    });

    test('waiters: a second parked waiter is refused, and cancelling the first makes room', async () => {
      await leaseOn('q/busy-1');
      await leaseOn('q/busy-2');
      const q = await as('quota');
      const parked = q.acquire({ lockKey: 'q/busy-1', waitMs: -1 });
      await until(() => lockd.backend.stats().waiters === 1, 'the first wait to park');
      const refused = q.acquire({ lockKey: 'q/busy-2', waitMs: -1 }).reply;
      await expect(refused).rejects.toBeInstanceOf(ResourceExhaustedError);
      await expect(refused).rejects.toThrow('identity "quota" has 1 waiters parked (quotas.waiters is 1)');
      expect(lockd.backend.stats().waiters).toBe(1);
      expect(await q.cancelWait(parked.seqid)).toBe(true);
      expect(await parked.reply).toEqual({ acquired: false, lease: undefined });
      const second = q.acquire({ lockKey: 'q/busy-2', waitMs: -1 });
      await until(() => lockd.backend.stats().waiters === 1, 'the second wait to park');
      expect(await q.cancelWait(second.seqid)).toBe(true);
    });

    test('connections: a third connection is refused until one closes', async () => {
      const one = await as('quota');
      const two = await as('quota');
      // A connection takes its slot at its first call that needs rights.
      for (const stub of [one, two]) await stub.inspect('q/x');
      let third: LockServiceStub;
      if (kind === 'secret') {
        third = await lockd.connect();
        const refused = third.authenticate('quota', SECRETS.quota);
        await expect(refused).rejects.toBeInstanceOf(ResourceExhaustedError);
        await expect(refused).rejects.toThrow('identity "quota" has 2 connections open (quotas.connections is 2)');
      } else {
        third = await as('quota');
        await expect(third.inspect('q/x')).rejects.toThrow('identity "quota" has 2 connections open (quotas.connections is 2)');
      }
      one.connection.close();
      await until(() => lockd.server.accessControl!.usage().get('quota')?.connections === 1, 'the closed connection to give its slot back');
      if (kind === 'secret') expect(await third.authenticate('quota', SECRETS.quota)).toBe('quota');
      expect((await third.inspect('q/x')).holders).toEqual([]);
    });
  });
});

describe('the anonymous caller', () => {
  afterEach(stopSecure);

  test('without --auth-file may do everything, as before', async () => {
    const lockd = await startSecure({});
    const stub = await lockd.connect();
    const { lease } = await stub.acquire({ lockKey: 'any/key', ttlMs: 60_000 }).reply;
    expect((await stub.inspect('any/key')).holders).toHaveLength(1);
    expect((await stub.listLocks('', 0)).map((i) => i.lockKey)).toEqual(['any/key']);
    expect(await stub.renew('any/key', lease!.token, 60_000)).toMatchObject({ token: lease!.token });
    expect(await stub.release('any/key', lease!.token)).toBe(true);
    // authenticate is accepted (there are no identities to check against): clients may carry credentials early.
    expect(await stub.authenticate('whoever', 'anything')).toBe('whoever');
  });

  test.each<ProtocolKind>(['binary', 'compact'])('with --auth-file gets exactly what "anonymous" grants (%s)', async (protocol) => {
    const lockd = await startSecure({ auth: AUTH, protocol });
    const stub = await lockd.connect();
    expect((await stub.acquire({ lockKey: 'public/x', ttlMs: 60_000 }).reply).acquired).toBe(true);
    expect((await stub.inspect('public/x')).holders).toHaveLength(1);
    const refused = stub.acquire({ lockKey: 'app/x' }).reply;
    await expect(refused).rejects.toBeInstanceOf(UnauthenticatedError);
    await expect(refused).rejects.toThrow('the anonymous caller lacks the "lock" right on key "app/x"; authenticate');
    await expect(stub.inspect('app/x')).rejects.toBeInstanceOf(UnauthenticatedError);
    expect(await stub.ping()).toBe('pong');
  });

  test('with an auth file that names no anonymous section gets nothing but ping', async () => {
    const lockd = await startSecure({ auth: { identities: AUTH.identities } });
    const stub = await lockd.connect();
    await expect(stub.acquire({ lockKey: 'public/x' }).reply).rejects.toBeInstanceOf(UnauthenticatedError);
    await expect(stub.acquireLock({ lockKey: 'x' }).reply).rejects.toBeInstanceOf(UnauthenticatedError);
    await expect(stub.checkFence('x', 1)).rejects.toBeInstanceOf(UnauthenticatedError);
    expect(await stub.listLocks('', 0)).toEqual([]);
    expect(await stub.ping()).toBe('pong');
  });
});
