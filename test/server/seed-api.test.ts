/**
 * The seed API's grants are held until releaseLock or the connection's end, with no silent TTL
 * (issue #14); --seed-lock-ttl bounds them for operators who want that.
 */
import { startInProcess, stopAll, until } from '../helpers/in-process-lockd';

afterAll(stopAll);

test('an acquireLock holder keeps its lock past every TTL lockd allows, while its connection lives', async () => {
  // Grants get the longest allowed TTL (3 s here) and are renewed every third of it.
  const lockd = await startInProcess({ defaultTtlMs: 500, maxTtlMs: 3_000 });
  const holder = await lockd.connect();
  expect(await holder.acquireLock({ lockKey: 'job' }).reply).toBe(true);
  const [held] = (await holder.inspect('job')).holders;
  await new Promise((resolve) => setTimeout(resolve, 4_500));
  const other = await lockd.connect();
  expect(await other.acquireLock({ lockKey: 'job' }).reply).toBe(false);
  expect((await other.inspect('job')).holders.map((h) => h.fence)).toEqual([held.fence]);
  expect(await holder.releaseLock({ lockKey: 'job' })).toBe(true);
  expect(await other.acquireLock({ lockKey: 'job' }).reply).toBe(true);
});

test('with --seed-lock-ttl an acquireLock grant expires after it', async () => {
  const lockd = await startInProcess({ seedLockTtlMs: 300 });
  const holder = await lockd.connect();
  expect(await holder.acquireLock({ lockKey: 'bounded' }).reply).toBe(true);
  expect((await holder.inspect('bounded')).holders[0].expiresAtMs - Date.now()).toBeLessThanOrEqual(300);
  await until(async () => (await holder.inspect('bounded')).holders.length === 0, 'the bounded grant to expire');
});
