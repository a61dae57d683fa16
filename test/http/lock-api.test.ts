/**
 * The JSON lock API against a real lockd: every /v1 route with real HTTP requests, the error
 * mapping (LockError codes to statuses), request limits and schema validation, waiting and a
 * client that goes away while waiting, drain, health and readiness.
 */
import http from 'node:http';
import { call, eventually, HttpLockd, k, startHttpLockd } from './http-lockd';

let lockd: HttpLockd;
beforeAll(async () => {
  lockd = await startHttpLockd(['--http-body-limit', '1k', '--max-list-limit', '50', '--default-list-limit', '10']);
});
afterAll(async () => {
  expect(await lockd.stop()).toBe(0);
});

describe('acquire, renew, release', () => {
  test('a free key is granted with a lease; a second exclusive acquire is refused 409 BUSY', async () => {
    const granted = await call(lockd.http, 'POST', `/v1/locks/${k('orders/1')}`, { ttlMs: 10_000, owner: 'alice' });
    expect(granted.status).toBe(200);
    expect(granted.json).toMatchObject({ key: 'orders/1', mode: 'exclusive', ttlMs: 10_000, holdCount: 1, owner: 'alice', reentered: false });
    expect(granted.json.token).toMatch(/^[0-9a-f]{32}$/);
    expect(granted.json.fence).toBeGreaterThan(0);

    const busy = await call(lockd.http, 'POST', `/v1/locks/${k('orders/1')}`, {});
    expect(busy.status).toBe(409);
    expect(busy.json.error.code).toBe('BUSY');

    const released = await call(lockd.http, 'DELETE', `/v1/locks/${k('orders/1')}?token=${granted.json.token}`);
    expect(released.status).toBe(200);
    expect(released.json).toEqual({ key: 'orders/1', released: true });
  });

  test('re-entering with the token raises the hold count; each release leaves once', async () => {
    const first = await call(lockd.http, 'POST', `/v1/locks/re`, {});
    const again = await call(lockd.http, 'POST', `/v1/locks/re`, { token: first.json.token });
    expect(again.status).toBe(200);
    expect(again.json).toMatchObject({ fence: first.json.fence, holdCount: 2, reentered: true });
    expect((await call(lockd.http, 'DELETE', `/v1/locks/re`, { token: first.json.token })).status).toBe(200);
    expect((await call(lockd.http, 'GET', `/v1/locks/re`)).json.holders[0].holdCount).toBe(1);
    expect((await call(lockd.http, 'DELETE', `/v1/locks/re`, { token: first.json.token })).status).toBe(200);
    expect((await call(lockd.http, 'GET', `/v1/locks/re`)).json.holders).toEqual([]);
  });

  test('shared leases coexist; an exclusive request meanwhile is busy', async () => {
    const a = await call(lockd.http, 'POST', `/v1/locks/shared-key`, { mode: 'shared' });
    const b = await call(lockd.http, 'POST', `/v1/locks/shared-key`, { mode: 'shared' });
    expect([a.status, b.status]).toEqual([200, 200]);
    expect((await call(lockd.http, 'POST', `/v1/locks/shared-key`, { mode: 'exclusive' })).status).toBe(409);
    const info = await call(lockd.http, 'GET', `/v1/locks/shared-key`);
    expect(info.json.holders.map((h: { mode: string }) => h.mode)).toEqual(['shared', 'shared']);
  });

  test('renew extends the lease and keeps the fence; a wrong token is 409 NOT_HOLDER', async () => {
    const lease = await call(lockd.http, 'POST', `/v1/locks/renew-me`, { ttlMs: 1_000 });
    const renewed = await call(lockd.http, 'POST', `/v1/locks/renew-me/renew`, { token: lease.json.token, ttlMs: 60_000 });
    expect(renewed.status).toBe(200);
    expect(renewed.json).toMatchObject({ fence: lease.json.fence, ttlMs: 60_000 });
    expect(renewed.json.expiresAtMs).toBeGreaterThan(lease.json.expiresAtMs);
    const wrong = await call(lockd.http, 'POST', `/v1/locks/renew-me/renew`, { token: '0'.repeat(32) });
    expect(wrong.status).toBe(409);
    expect(wrong.json.error.code).toBe('NOT_HOLDER');
  });

  test('release with a wrong token is 409 NOT_HOLDER; with no token at all it is 400', async () => {
    await call(lockd.http, 'POST', `/v1/locks/rel`, {});
    const wrong = await call(lockd.http, 'DELETE', `/v1/locks/rel?token=${'f'.repeat(32)}`);
    expect(wrong.status).toBe(409);
    expect(wrong.json.error.code).toBe('NOT_HOLDER');
    const none = await call(lockd.http, 'DELETE', `/v1/locks/rel`);
    expect(none.status).toBe(400);
    expect(none.json.error).toEqual({ code: 'INVALID_ARGUMENT', message: expect.stringContaining('token is required') });
  });
});

describe('waiting', () => {
  test('a waiter is granted when the holder releases, with a higher fence', async () => {
    const holder = await call(lockd.http, 'POST', `/v1/locks/wait-key`, {});
    const waiting = call(lockd.http, 'POST', `/v1/locks/wait-key`, { waitMs: 15_000 });
    await eventually(async () => (await call(lockd.http, 'GET', `/v1/locks/wait-key`)).json.waiters === 1, 'the waiter to park');
    await call(lockd.http, 'DELETE', `/v1/locks/wait-key?token=${holder.json.token}`);
    const granted = await waiting;
    expect(granted.status).toBe(200);
    expect(granted.json.fence).toBeGreaterThan(holder.json.fence);
  });

  test('a wait that runs out is 408 LOCK_TIMEOUT', async () => {
    await call(lockd.http, 'POST', `/v1/locks/timeout-key`, {});
    const result = await call(lockd.http, 'POST', `/v1/locks/timeout-key`, { waitMs: 200 });
    expect(result.status).toBe(408);
    expect(result.json.error.code).toBe('LOCK_TIMEOUT');
    expect((await call(lockd.http, 'GET', `/v1/locks/timeout-key`)).json.waiters).toBe(0);
  });

  test('a client that disconnects while waiting has its waiter cancelled', async () => {
    const holder = await call(lockd.http, 'POST', `/v1/locks/gone-key`, {});
    const request = http.request(`${lockd.http}/v1/locks/gone-key`, { method: 'POST', headers: { 'content-type': 'application/json' } });
    request.on('error', () => {}); // destroyed on purpose
    request.end(JSON.stringify({ waitMs: -1 }));
    await eventually(async () => (await call(lockd.http, 'GET', `/v1/locks/gone-key`)).json.waiters === 1, 'the waiter to park');
    request.destroy();
    await eventually(async () => (await call(lockd.http, 'GET', `/v1/locks/gone-key`)).json.waiters === 0, 'the waiter to be cancelled');
    // Nobody is left in the queue: the release frees the key instead of granting a ghost.
    await call(lockd.http, 'DELETE', `/v1/locks/gone-key?token=${holder.json.token}`);
    expect((await call(lockd.http, 'GET', `/v1/locks/gone-key`)).json.holders).toEqual([]);
  });
});

describe('read routes', () => {
  test('inspect shows holders without tokens', async () => {
    const lease = await call(lockd.http, 'POST', `/v1/locks/${k('inspect/me')}`, { owner: 'bob' });
    const info = await call(lockd.http, 'GET', `/v1/locks/${k('inspect/me')}`);
    expect(info.status).toBe(200);
    expect(info.json).toEqual({ key: 'inspect/me', waiters: 0, holders: [{ owner: 'bob', mode: 'exclusive', fence: lease.json.fence, expiresAtMs: lease.json.expiresAtMs, holdCount: 1 }] });
    expect(info.text).not.toContain(lease.json.token);
  });

  test('list pages through a prefix in key order with next', async () => {
    for (const n of [3, 1, 2, 5, 4]) await call(lockd.http, 'POST', `/v1/locks/${k(`list/${n}`)}`, {});
    const first = await call(lockd.http, 'GET', `/v1/locks?prefix=list/&limit=2`);
    expect(first.json.locks.map((l: { key: string }) => l.key)).toEqual(['list/1', 'list/2']);
    expect(first.json.next).toBe('list/2');
    const rest = await call(lockd.http, 'GET', `/v1/locks?prefix=list/&limit=10&startAfter=${k(first.json.next)}`);
    expect(rest.json.locks.map((l: { key: string }) => l.key)).toEqual(['list/3', 'list/4', 'list/5']);
    expect(rest.json.next).toBeUndefined();
    const tooMany = await call(lockd.http, 'GET', `/v1/locks?limit=51`);
    expect(tooMany.status).toBe(400);
    expect(tooMany.json.error.message).toContain('--max-list-limit');
  });

  test('checkFence is true for the live fence only', async () => {
    const lease = await call(lockd.http, 'POST', `/v1/locks/fenced`, {});
    expect((await call(lockd.http, 'GET', `/v1/locks/fenced/fence/${lease.json.fence}`)).json).toEqual({ key: 'fenced', fence: lease.json.fence, current: true });
    expect((await call(lockd.http, 'GET', `/v1/locks/fenced/fence/${lease.json.fence - 1}`)).json.current).toBe(false);
    expect((await call(lockd.http, 'GET', `/v1/locks/fenced/fence/abc`)).status).toBe(400);
  });
});

describe('validation, limits and errors', () => {
  test.each([
    [{ ttlMs: 5 }, 'ttlMs must be between'],
    [{ ttlMs: 'soon' }, 'ttlMs must be integer'],
    [{ mode: 'upgradable' }, 'mode must be equal to one of the allowed values'],
    [{ colour: 'red' }, 'must NOT have additional properties'],
    [{ waitMs: -2 }, 'waitMs must be >= -1'],
  ])('acquire body %j is 400 INVALID_ARGUMENT saying %s', async (body, message) => {
    const result = await call(lockd.http, 'POST', `/v1/locks/bad`, body);
    expect(result.status).toBe(400);
    expect(result.json.error.code).toBe('INVALID_ARGUMENT');
    expect(result.json.error.message).toContain(message);
  });

  test('a key of 1024 bytes (3072 characters percent-encoded) is fine; a longer one is 400', async () => {
    const longest = 'é'.repeat(512);
    const granted = await call(lockd.http, 'POST', `/v1/locks/${k(longest)}`, {});
    expect(granted.status).toBe(200);
    expect(granted.json.key).toBe(longest);
    const result = await call(lockd.http, 'POST', `/v1/locks/${k('é'.repeat(513))}`, {});
    expect(result.status).toBe(400);
    expect(result.json.error.message).toContain('lockKey must be 1..1024 bytes');
  });

  test('a body over --http-body-limit is 413 PAYLOAD_TOO_LARGE', async () => {
    const result = await call(lockd.http, 'POST', `/v1/locks/big`, { owner: 'x'.repeat(2_000) });
    expect(result.status).toBe(413);
    expect(result.json.error).toEqual({ code: 'PAYLOAD_TOO_LARGE', message: expect.stringContaining('--http-body-limit (1024 bytes)') });
  });

  test('malformed JSON is 400; a non-JSON body is 415; an unknown route is 404', async () => {
    const malformed = await call(lockd.http, 'POST', `/v1/locks/x`, undefined, { body: '{"ttlMs":', headers: { 'content-type': 'application/json' } });
    expect(malformed.status).toBe(400);
    expect(malformed.json.error.code).toBe('INVALID_ARGUMENT');
    const xml = await call(lockd.http, 'POST', `/v1/locks/x`, undefined, { body: '<ttl/>', headers: { 'content-type': 'application/xml' } });
    expect(xml.status).toBe(415);
    expect(xml.json.error.code).toBe('UNSUPPORTED_MEDIA_TYPE');
    const missing = await call(lockd.http, 'GET', `/v2/nothing`);
    expect(missing.status).toBe(404);
    expect(missing.json.error.code).toBe('NOT_FOUND');
  });
});

describe('health, readiness and drain', () => {
  test('healthz answers ok; readyz reports the store and accepting checks', async () => {
    const health = await call(lockd.http, 'GET', '/healthz');
    expect(health.status).toBe(200);
    expect(health.json).toMatchObject({ status: 'ok', pid: lockd.pid });
    const ready = await call(lockd.http, 'GET', '/readyz');
    expect(ready.status).toBe(200);
    expect(ready.json).toMatchObject({ ready: true, checks: { store: { ok: true, durable: false }, accepting: { ok: true, draining: false } } });
  });

  test('drain refuses new leases (503 UNAVAILABLE), refuses parked waits, lets the holder renew and release, reports progress', async () => {
    const holder = await call(lockd.http, 'POST', `/v1/locks/drain-key`, {});
    const parked = call(lockd.http, 'POST', `/v1/locks/drain-key`, { waitMs: 15_000 });
    await eventually(async () => (await call(lockd.http, 'GET', `/v1/locks/drain-key`)).json.waiters === 1, 'the waiter to park');
    const leasesBefore = (await call(lockd.http, 'GET', '/v1/admin/drain')).json.leases;

    const started = await call(lockd.http, 'POST', '/v1/admin/drain');
    expect(started.status).toBe(200);
    expect(started.json).toMatchObject({ draining: true, done: false, leases: leasesBefore });
    const refusedWait = await parked;
    expect(refusedWait.status).toBe(503);
    expect(refusedWait.json.error).toEqual({ code: 'UNAVAILABLE', message: expect.stringContaining('draining') });
    const refused = await call(lockd.http, 'POST', `/v1/locks/new-during-drain`, {});
    expect(refused.status).toBe(503);
    expect((await call(lockd.http, 'GET', '/readyz')).status).toBe(503);

    expect((await call(lockd.http, 'POST', `/v1/locks/drain-key/renew`, { token: holder.json.token })).status).toBe(200);
    expect((await call(lockd.http, 'DELETE', `/v1/locks/drain-key?token=${holder.json.token}`)).status).toBe(200);
    expect((await call(lockd.http, 'GET', '/v1/admin/drain')).json.leases).toBe(leasesBefore - 1);

    const stopped = await call(lockd.http, 'DELETE', '/v1/admin/drain');
    expect(stopped.json.draining).toBe(false);
    expect((await call(lockd.http, 'POST', `/v1/locks/after-drain`, {})).status).toBe(200);
    expect((await call(lockd.http, 'GET', '/readyz')).status).toBe(200);
  });
});
