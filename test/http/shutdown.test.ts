/** SIGTERM with HTTP requests parked in waits: each is answered 503 UNAVAILABLE and lockd exits 0. */
import { call, eventually, startHttpLockd } from './http-lockd';

test('parked HTTP waits are answered UNAVAILABLE on SIGTERM, and lockd exits 0', async () => {
  const lockd = await startHttpLockd();
  await call(lockd.http, 'POST', '/v1/locks/busy', {});
  const waits = [1, 2].map(() => call(lockd.http, 'POST', '/v1/locks/busy', { waitMs: -1 }));
  await eventually(async () => (await call(lockd.http, 'GET', '/v1/locks/busy')).json.waiters === 2, 'both waits to park');
  const stopped = lockd.stop();
  const answers = await Promise.all(waits);
  for (const answer of answers) {
    expect(answer.status).toBe(503);
    expect(answer.json.error).toEqual({ code: 'UNAVAILABLE', message: expect.stringContaining('shutting down') });
  }
  expect(await stopped).toBe(0);
});
