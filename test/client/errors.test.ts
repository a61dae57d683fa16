/**
 * Every way a LockClient call can fail arrives as its own typed error, and a network failure is
 * never mistaken for a refusal: refusals from a real lockd, the rest from a scripted server.
 */
import net from 'node:net';
import {
  AbortedError,
  CallTimeoutError,
  ConnectionError,
  InvalidArgumentError,
  LockdError,
  LockTimeoutError,
  NotHolderError,
  PermissionDeniedError,
  ProtocolError,
  ResourceExhaustedError,
  UnauthenticatedError,
  UnavailableError,
  WireErrorCode,
} from '../../src/errors';
import { LockClient } from '../../src';
import { writeAcquireReply, writeApplicationException, writeBoolReply, writeLockErrorReply, writeStringReply } from '../../src/protocol/lock-service';
import { startLockd, stopAllLockd } from '../helpers/lockd-process';
import { until } from '../helpers/in-process-lockd';
import { startScripted, stopScripted } from '../helpers/scripted-lockd';

const clients: LockClient[] = [];
function client(port: number, options: ConstructorParameters<typeof LockClient>[0] = {}): LockClient {
  const c = new LockClient({ host: '127.0.0.1', port, connectAttempts: 1, ...options });
  c.on('disconnect', () => undefined);
  clients.push(c);
  return c;
}

afterEach(async () => {
  for (const c of clients.splice(0)) await c.close();
  await stopAllLockd();
  await stopScripted();
});

describe('refusals from lockd', () => {
  test('a TTL out of range, an empty key and a re-entry in the other mode are InvalidArgumentError', async () => {
    const lockd = await startLockd(['--min-ttl', '50ms', '--max-ttl', '1m']);
    const c = client(lockd.port);
    const tooShort = await c.acquire('k', { ttlMs: 1 }).catch((e: unknown) => e);
    expect(tooShort).toBeInstanceOf(InvalidArgumentError);
    expect(tooShort).toMatchObject({ code: 'LOCKD_INVALID_ARGUMENT', wireCode: WireErrorCode.INVALID_ARGUMENT });
    expect((tooShort as Error).message).toMatch(/ttlMs/);
    await expect(c.acquire('k', { ttlMs: 120_000 })).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(c.acquire('')).rejects.toBeInstanceOf(InvalidArgumentError);
    const lease = await c.acquire('k');
    await expect(c.acquire('k', { token: lease.token, mode: 'shared' })).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(lease.renew(1)).rejects.toBeInstanceOf(InvalidArgumentError);
    expect(lease.signal.aborted).toBe(false); // a bad renew argument does not lose the lease
    // @ts-expect-error a mode that does not exist is refused before it is sent
    await expect(c.acquire('k', { mode: 'Shared' })).rejects.toBeInstanceOf(InvalidArgumentError);
  });

  test('a stale token is NotHolderError for renew and re-entry, and false for release', async () => {
    const lockd = await startLockd();
    const c = client(lockd.port);
    const lease = await c.acquire('k');
    expect(await lease.release()).toBe(true);
    await expect(c.renew('k', lease.token, 10_000)).rejects.toBeInstanceOf(NotHolderError);
    await expect(c.acquire('k', { token: lease.token })).rejects.toMatchObject({ code: 'LOCKD_NOT_HOLDER' });
    expect(await c.release('k', lease.token)).toBe(false);
    await expect(lease.renew()).rejects.toBeInstanceOf(NotHolderError);
  });

  test('re-entering with a live token raises holdCount, and each Lease releases one hold', async () => {
    const lockd = await startLockd();
    const c = client(lockd.port);
    const first = await c.acquire('k');
    const second = await c.acquire('k', { token: first.token });
    expect(second).toMatchObject({ token: first.token, fence: first.fence, holdCount: 2 });
    await second.release();
    expect((await c.inspect('k')).holders[0].holdCount).toBe(1);
    await first.release();
    expect((await c.inspect('k')).holders).toEqual([]);
  });

  test('more parked waiters than --max-waiters is ResourceExhaustedError', async () => {
    const lockd = await startLockd(['--max-waiters', '1']);
    const c = client(lockd.port);
    await c.acquire('k');
    const parked = c.acquire('k').catch((e: unknown) => e);
    await until(async () => (await c.inspect('k')).waiters === 1, 'the first waiter to park');
    await expect(c.acquire('k')).rejects.toBeInstanceOf(ResourceExhaustedError);
    await c.close();
    expect(await parked).toBeInstanceOf(ConnectionError);
  });

  test('a grant beyond --max-leases is ResourceExhaustedError naming the flag, and a release makes room', async () => {
    const lockd = await startLockd(['--max-leases', '2', '--in-memory']);
    const c = client(lockd.port);
    const a = await c.acquire('a');
    await c.acquire('b');
    const refused = await c.acquire('c').catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(ResourceExhaustedError);
    expect((refused as Error).message).toContain('--max-leases');
    await a.release();
    expect((await c.acquire('c')).key).toBe('c');
    await c.close();
  });

  test('a waiter parked while lockd shuts down for good fails as lockd gone (not a refusal) once its wait ends', async () => {
    const lockd = await startLockd();
    const c = client(lockd.port, { reconnectBaseMs: 20, reconnectMaxMs: 50 });
    await c.acquire('k');
    const parked = c.acquire('k', { waitMs: 1_500 }).catch((e: unknown) => e);
    await until(async () => (await c.inspect('k')).waiters === 1, 'the waiter to park');
    await lockd.stop();
    const error = await parked;
    expect(error).toBeInstanceOf(ConnectionError);
    expect((error as Error).message).toMatch(/went away while "k" was waiting/);
  });

  test('a wait that runs out is LockTimeoutError; an aborted one is AbortedError carrying the reason', async () => {
    const lockd = await startLockd();
    const c = client(lockd.port);
    await c.acquire('k');
    await expect(c.acquire('k', { waitMs: 20 })).rejects.toBeInstanceOf(LockTimeoutError);
    const byTimeout = await c.acquire('k', { signal: AbortSignal.timeout(20) }).catch((e: unknown) => e);
    expect(byTimeout).toBeInstanceOf(AbortedError);
    expect((byTimeout as AbortedError).cause).toMatchObject({ name: 'TimeoutError' });
    const already = new AbortController();
    already.abort(new Error('changed my mind'));
    await expect(c.acquire('free', { signal: already.signal })).rejects.toMatchObject({ code: 'LOCKD_ABORTED', cause: { message: 'changed my mind' } });
    expect((await c.inspect('k')).waiters).toBe(0);
    expect((await c.inspect('free')).holders).toEqual([]);
  });
});

describe('replies lockd does not send today, and network failures', () => {
  test('an UNAVAILABLE answer to a wait is retried with backoff until lockd grants it', async () => {
    let unavailable = 3;
    const port = await startScripted((call, w) => {
      if (call.method !== 'acquire') return writeBoolReply(w, call.method, call.seqid, true);
      if (unavailable-- > 0) return writeLockErrorReply(w, 'acquire', call.seqid, WireErrorCode.UNAVAILABLE, 'cannot sync');
      writeAcquireReply(w, call.seqid, { key: 'k', token: 'b'.repeat(32), fence: 4, ttlMs: 1_000, expiresAtMs: Date.now() + 1_000, mode: 1, holdCount: 1, owner: 'o' });
    });
    const c = client(port, { reconnectBaseMs: 5, reconnectMaxMs: 20 });
    const lease = await c.acquire('k', { waitMs: 60_000 });
    expect(lease.fence).toBe(4);
    expect(unavailable).toBe(-1);
  });

  test('each wire error code maps to its class; an unknown code is a protocol error', async () => {
    const codes: Array<[number, new (...args: never[]) => LockdError]> = [
      [WireErrorCode.INVALID_ARGUMENT, InvalidArgumentError],
      [WireErrorCode.NOT_HOLDER, NotHolderError],
      [WireErrorCode.RESOURCE_EXHAUSTED, ResourceExhaustedError],
      [WireErrorCode.UNAUTHENTICATED, UnauthenticatedError],
      [WireErrorCode.PERMISSION_DENIED, PermissionDeniedError],
      [WireErrorCode.UNAVAILABLE, UnavailableError],
    ];
    let code = 0;
    const port = await startScripted((call, w) => writeLockErrorReply(w, call.method, call.seqid, code, `refused with ${code}`));
    const c = client(port);
    for (const [wire, type] of codes) {
      code = wire;
      const error = await c.tryAcquire('k').catch((e: unknown) => e);
      expect(error).toBeInstanceOf(type);
      expect(error).toMatchObject({ wireCode: wire, message: `refused with ${wire}` });
    }
    code = 99;
    const unknown = await c.ping().catch((e: unknown) => e);
    expect(unknown).toBeInstanceOf(ProtocolError);
    expect(unknown).toMatchObject({ code: 'LOCKD_PROTOCOL', message: 'lockd sent unknown error code 99: refused with 99' });
  });

  test('a TApplicationException is a ProtocolError and the connection stays usable', async () => {
    const port = await startScripted((call, w) => {
      if (call.method === 'ping') writeStringReply(w, 'ping', call.seqid, 'pong');
      else writeApplicationException(w, call.method, call.seqid, 6, 'internal error');
    });
    const c = client(port);
    await expect(c.checkFence('k', 1)).rejects.toBeInstanceOf(ProtocolError);
    expect(await c.ping()).toBe('pong');
  });

  test('a server that never answers is CallTimeoutError after callTimeoutMs', async () => {
    const port = await startScripted((call, w) => (call.method === 'ping' ? 'silent' : writeBoolReply(w, call.method, call.seqid, true)));
    const c = client(port, { callTimeoutMs: 100 });
    await expect(c.ping()).rejects.toBeInstanceOf(CallTimeoutError);
    expect(await c.checkFence('k', 1)).toBe(true);
  });

  test('nothing listening is ConnectionError, after connectAttempts tries with backoff', async () => {
    const closed = net.createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as net.AddressInfo).port;
    await new Promise((resolve) => closed.close(resolve));
    const c = client(port, { connectAttempts: 3, reconnectBaseMs: 5 });
    const error = await c.ping().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConnectionError);
    expect(error).toMatchObject({ code: 'LOCKD_CONNECTION', wireCode: undefined });
    expect((error as Error).message).toMatch(/cannot reach lockd at 127\.0\.0\.1:\d+/);
  });

  test('an abort while the client is still trying to connect rejects at once with AbortedError', async () => {
    const closed = net.createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as net.AddressInfo).port;
    await new Promise((resolve) => closed.close(resolve));
    const c = client(port, { connectAttempts: 1_000, reconnectBaseMs: 50 });
    const controller = new AbortController();
    const waiting = c.acquire('k', { signal: controller.signal });
    controller.abort();
    await expect(waiting).rejects.toBeInstanceOf(AbortedError);
    await c.close(); // ends the connect loop
  });

  test('a closed client fails every call with ConnectionError', async () => {
    const port = await startScripted((call, w) => writeStringReply(w, 'ping', call.seqid, 'pong'));
    const c = client(port);
    expect(await c.ping()).toBe('pong');
    await c.close();
    await expect(c.ping()).rejects.toBeInstanceOf(ConnectionError);
    await expect(c.acquire('k')).rejects.toBeInstanceOf(ConnectionError);
  });
});
