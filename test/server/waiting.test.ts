/** Parked waiters over real sockets: FIFO hand-off, timeouts, cancel, disconnects, writer priority. */
import { InProcessLockd, startInProcess, stopAll, until } from '../helpers/in-process-lockd';

const SHARED = 2;

let lockd: InProcessLockd;
beforeEach(async () => {
  lockd = await startInProcess();
});
afterEach(stopAll);

async function waitersOn(key: string): Promise<number> {
  return (await (await lockd.connect()).inspect(key)).waiters;
}

test('waiters are granted first come, first served, each woken by the release itself', async () => {
  const holder = await lockd.connect();
  const first = (await holder.acquire({ lockKey: 'q' }).reply).lease!;
  const clients = await Promise.all([1, 2, 3, 4].map(() => lockd.connect()));
  const order: number[] = [];
  const calls = [];
  for (const [index, client] of clients.entries()) {
    const call = client.acquire({ lockKey: 'q', waitMs: -1 });
    calls.push(
      call.reply.then(async (result) => {
        order.push(index);
        await client.release('q', result.lease!.token);
      }),
    );
    // Parking order is the order the server read the calls in: wait for each to be queued.
    await until(async () => (await holder.inspect('q')).waiters === index + 1, `waiter ${index} to park`);
  }
  await holder.release('q', first.token);
  await Promise.all(calls);
  expect(order).toEqual([0, 1, 2, 3]);
});

test('a wait that runs out answers acquired=false and the waiter is never granted', async () => {
  const holder = await lockd.connect();
  const lease = (await holder.acquire({ lockKey: 'w' }).reply).lease!;
  const waiter = await lockd.connect();
  expect(await waiter.acquire({ lockKey: 'w', waitMs: 30 }).reply).toEqual({ acquired: false, lease: undefined });
  expect(await waitersOn('w')).toBe(0);
  await holder.release('w', lease.token);
  expect((await holder.inspect('w')).holders).toHaveLength(0);
});

test('expiry of the holder wakes the next waiter', async () => {
  const holder = await lockd.connect();
  const expiring = (await holder.acquire({ lockKey: 'exp', ttlMs: 60 }).reply).lease!;
  const waiter = await lockd.connect();
  const granted = await waiter.acquire({ lockKey: 'exp', waitMs: 10_000 }).reply;
  expect(granted.acquired).toBe(true);
  expect(granted.lease!.fence).toBeGreaterThan(expiring.fence);
});

test('a waiter whose connection closes leaves the queue at once and is never granted', async () => {
  const holder = await lockd.connect();
  const lease = (await holder.acquire({ lockKey: 'dc' }).reply).lease!;
  const quitter = await lockd.connect();
  const parked = quitter.acquire({ lockKey: 'dc', waitMs: -1 }).reply.catch((error: Error) => error);
  await until(async () => (await waitersOn('dc')) === 1, 'the waiter to park');
  quitter.connection.close();
  expect(await parked).toBeInstanceOf(Error);
  await until(async () => (await waitersOn('dc')) === 0, 'the waiter to leave');
  await holder.release('dc', lease.token);
  expect((await holder.inspect('dc')).holders).toHaveLength(0);
});

test('cancelWait answers the parked call with acquired=false and other calls on the connection go on', async () => {
  const holder = await lockd.connect();
  await holder.acquire({ lockKey: 'c' }).reply;
  const client = await lockd.connect();
  const parked = client.acquire({ lockKey: 'c', waitMs: -1 });
  await until(async () => (await waitersOn('c')) === 1, 'the waiter to park');
  expect((await client.acquire({ lockKey: 'other' }).reply).acquired).toBe(true);
  expect(await client.cancelWait(parked.seqid)).toBe(true);
  expect(await parked.reply).toEqual({ acquired: false, lease: undefined });
  expect(await client.cancelWait(parked.seqid)).toBe(false);
  expect(await waitersOn('c')).toBe(0);
});

test('a shared request behind a queued exclusive waiter queues too, so writers never starve', async () => {
  const [reader1, writer, reader2] = await Promise.all([lockd.connect(), lockd.connect(), lockd.connect()]);
  const r1 = (await reader1.acquire({ lockKey: 'rw', mode: SHARED }).reply).lease!;
  const writerCall = writer.acquire({ lockKey: 'rw', waitMs: -1 });
  await until(async () => (await waitersOn('rw')) === 1, 'the writer to park');
  const reader2Call = reader2.acquire({ lockKey: 'rw', mode: SHARED, waitMs: -1 });
  await until(async () => (await waitersOn('rw')) === 2, 'the second reader to park');
  await reader1.release('rw', r1.token);
  const w = (await writerCall.reply).lease!;
  expect((await writer.inspect('rw')).waiters).toBe(1);
  await writer.release('rw', w.token);
  expect((await reader2Call.reply).acquired).toBe(true);
});

test('when an exclusive holder leaves, all consecutive shared waiters are granted together', async () => {
  const clients = await Promise.all([0, 1, 2, 3].map(() => lockd.connect()));
  const exclusive = (await clients[0].acquire({ lockKey: 'batch' }).reply).lease!;
  const readers = [];
  for (let i = 1; i <= 3; i++) {
    readers.push(clients[i].acquire({ lockKey: 'batch', mode: SHARED, waitMs: -1 }).reply);
    await until(async () => (await waitersOn('batch')) === i, `reader ${i} to park`);
  }
  await clients[0].release('batch', exclusive.token);
  const granted = await Promise.all(readers);
  expect(granted.every((r) => r.acquired)).toBe(true);
  expect((await clients[0].inspect('batch')).holders).toHaveLength(3);
});

test('a parked acquireLock is granted as true and bound to its connection', async () => {
  const holder = await lockd.connect();
  const lease = (await holder.acquire({ lockKey: 'legacy-wait' }).reply).lease!;
  const legacy = await lockd.connect();
  const parked = legacy.acquireLock({ lockKey: 'legacy-wait', waitMs: 10_000 });
  await until(async () => (await waitersOn('legacy-wait')) === 1, 'the legacy waiter to park');
  await holder.release('legacy-wait', lease.token);
  expect(await parked.reply).toBe(true);
  expect(await legacy.releaseLock({ lockKey: 'legacy-wait' })).toBe(true);
});
