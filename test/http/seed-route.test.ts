/**
 * Seed 004's HTTP users: `POST /lock?lock_key=K&lock_value=V` answered 200 {"message": "Lock
 * acquired successfully"} or 409 {"message": "Unable to acquire lock"}. The same requests the
 * seed's clients sent, with fetch and with curl, against lockd's HTTP port; lockd adds its lease
 * (token, fence) to the body, and DELETE /lock releases with the token.
 */
import { spawnSync } from 'node:child_process';
import { call, HttpLockd, startHttpLockd } from './http-lockd';

let lockd: HttpLockd;
beforeAll(async () => {
  lockd = await startHttpLockd();
});
afterAll(async () => {
  expect(await lockd.stop()).toBe(0);
});

/** The seed client's request: a POST with the parameters in the query string and no body. */
function seedPost(lockKey: string, lockValue: string): Promise<Response> {
  const url = new URL('/lock', lockd.http);
  url.searchParams.set('lock_key', lockKey);
  url.searchParams.set('lock_value', lockValue);
  return fetch(url, { method: 'POST', signal: AbortSignal.timeout(10_000) });
}

test('the first POST /lock gets 200 "Lock acquired successfully" with a lease; the second gets 409 "Unable to acquire lock"', async () => {
  const first = await seedPost('resource_1', 'worker-a');
  expect(first.status).toBe(200);
  expect(first.headers.get('content-type')).toMatch(/^application\/json/);
  const granted = (await first.json()) as { token: string; fence: number };
  expect(granted).toEqual({
    message: 'Lock acquired successfully',
    lock_key: 'resource_1',
    lock_value: 'worker-a',
    token: expect.stringMatching(/^[0-9a-f]{32}$/),
    fence: expect.any(Number),
    ttl_ms: 30_000,
    expires_at_ms: expect.any(Number),
  });

  const second = await seedPost('resource_1', 'worker-b');
  expect(second.status).toBe(409);
  expect(await second.json()).toEqual({ message: 'Unable to acquire lock', lock_key: 'resource_1' });

  // lockd kept lock_value as the owner label.
  const info = await call(lockd.http, 'GET', '/v1/locks/resource_1');
  expect(info.json.holders).toEqual([expect.objectContaining({ owner: 'worker-a', fence: granted.fence })]);

  const released = await fetch(`${lockd.http}/lock?lock_key=resource_1&token=${granted.token}`, { method: 'DELETE' });
  expect(released.status).toBe(200);
  expect(await released.json()).toEqual({ message: 'Lock released successfully', lock_key: 'resource_1' });
  const again = await fetch(`${lockd.http}/lock?lock_key=resource_1&token=${granted.token}`, { method: 'DELETE' });
  expect(again.status).toBe(409);
  expect(await again.json()).toEqual({ message: 'Unable to release lock', lock_key: 'resource_1' });

  // Free again: the seed's next caller gets it, with a higher fence.
  const third = await seedPost('resource_1', 'worker-b');
  expect(third.status).toBe(200);
  expect(((await third.json()) as { fence: number }).fence).toBeGreaterThan(granted.fence);
});

test('curl takes and releases a lock', () => {
  const take = spawnSync('curl', ['-s', '-w', '\\n%{http_code}', '-X', 'POST', `${lockd.http}/lock?lock_key=curl-key&lock_value=me`], { encoding: 'utf8', timeout: 10_000 });
  const [body, status] = take.stdout.trim().split('\n');
  expect(status).toBe('200');
  const { token, message } = JSON.parse(body);
  expect(message).toBe('Lock acquired successfully');
  const busy = spawnSync('curl', ['-s', '-o', '/dev/null', '-w', '%{http_code}', '-X', 'POST', `${lockd.http}/lock?lock_key=curl-key&lock_value=other`], { encoding: 'utf8', timeout: 10_000 });
  expect(busy.stdout).toBe('409');
  const release = spawnSync('curl', ['-s', '-o', '/dev/null', '-w', '%{http_code}', '-X', 'DELETE', `${lockd.http}/lock?lock_key=curl-key&token=${token}`], { encoding: 'utf8', timeout: 10_000 });
  expect(release.stdout).toBe('200');
});

test('a missing lock_key is 400 with a message naming it', async () => {
  const result = await call(lockd.http, 'POST', '/lock?lock_value=v');
  expect(result.status).toBe(400);
  expect(result.json.error).toEqual({ code: 'INVALID_ARGUMENT', message: expect.stringContaining("lock_key") });
});
