"""AsyncLockClient against a real lockd: tasks contending on one client, cancellation, loss."""
import asyncio
import threading
import unittest

from lockd_server import LockdPerClass, unique_key

from lockd import AsyncLease, AsyncLockClient, LockClient, LockTimeoutError, NotHolderError


class AsyncLockdTestCase(LockdPerClass, unittest.IsolatedAsyncioTestCase):
    async def asyncSetUp(self):
        self.client = AsyncLockClient(self.server.host, self.server.port)
        self.observer = LockClient(self.server.host, self.server.port)

    async def asyncTearDown(self):
        await self.client.close()
        self.observer.close()

    async def until(self, condition, what, timeout=10.0):
        """Awaits until the synchronous `condition` (run on a thread) holds; bounded by `timeout`."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not await asyncio.to_thread(condition):
            if loop.time() >= deadline:
                raise AssertionError(f'{what} did not hold within {timeout} s')
            await asyncio.sleep(0.01)


class TenTasksTest(AsyncLockdTestCase):
    async def test_ten_tasks_on_one_client_never_hold_the_key_together(self):
        key = unique_key('aio')
        inside, peak, fences, first = 0, 0, [], asyncio.Event()

        async def task():
            nonlocal inside, peak
            async with self.client.lock(key, ttl=10) as lease:
                inside += 1
                peak = max(peak, inside)
                fences.append(lease.fence)
                self.assertTrue(await self.client.check_fence(key, lease.fence))
                if not first.is_set():
                    first.set()
                    # All nine others are parked in lockd's queue, each on its own connection.
                    await self.until(lambda: self.observer.inspect(key).waiters == 9, 'nine waiters')
                await asyncio.sleep(0.01)
                inside -= 1

        await asyncio.wait_for(asyncio.gather(*(task() for _ in range(10))), 60)
        self.assertEqual(peak, 1)
        self.assertEqual(len(fences), 10)
        self.assertEqual(fences, sorted(set(fences)), 'each grant carries a larger fence')
        self.assertEqual(self.observer.inspect(key).holders, ())


class AsyncLeaseTest(AsyncLockdTestCase):
    async def test_acquire_try_lock_and_release(self):
        key = unique_key('aio')
        lease = await self.client.acquire(key, ttl=5)
        self.assertIsInstance(lease, AsyncLease)
        self.assertEqual((lease.key, lease.ttl, lease.held), (key, 5, True))
        self.assertIsNone(await self.client.try_lock(key))
        with self.assertRaises(LockTimeoutError):
            await self.client.acquire(key, wait=0.2)
        await lease.renew(ttl=8)
        self.assertEqual(lease.ttl, 8)
        self.assertTrue(await lease.release())
        async with await self.client.acquire(key) as again:
            self.assertGreater(again.fence, lease.fence)
        self.assertEqual(self.observer.inspect(key).holders, ())

    async def test_cancelling_a_waiting_task_drops_its_waiter_on_lockd_and_keeps_the_connection(self):
        key = unique_key('aio')
        holder = await self.client.acquire(key)
        pool = self.client.sync._pool
        self.assertEqual((pool.opened, len(pool._idle)), (1, 1))
        waiting = asyncio.ensure_future(self.client.acquire(key))
        await self.until(lambda: self.observer.inspect(key).waiters == 1, 'the waiter to park')
        waiting.cancel()
        with self.assertRaises(asyncio.CancelledError):
            await waiting
        await self.until(lambda: self.observer.inspect(key).waiters == 0, 'lockd to drop the cancelled waiter')
        # cancelWait answered the wait without closing its connection: it returns to the pool.
        await self.until(lambda: len(pool._idle) == 1, 'the waiting connection to return to the pool')
        self.assertEqual(pool.opened, 1)
        self.assertEqual(await self.client.ping(), 'pong')
        second = asyncio.ensure_future(self.client.acquire(key, wait=30))
        await self.until(lambda: self.observer.inspect(key).waiters == 1, 'the second waiter to park')
        self.assertTrue(await holder.release())
        lease = await asyncio.wait_for(second, 30)
        self.assertTrue(await lease.release())
        self.assertEqual(self.observer.inspect(key).holders, ())

    async def test_on_lost_runs_on_the_event_loop(self):
        key = unique_key('aio')
        lost = asyncio.Event()
        seen = []

        async def on_lost(error):
            seen.append((error, threading.get_ident()))
            lost.set()

        with self.assertLogs('lockd', 'WARNING'):
            async with self.client.lock(key, ttl=1, on_lost=on_lost) as lease:
                self.assertTrue(await self.client.release(key, lease.token))
                await asyncio.wait_for(lost.wait(), 10)
        self.assertIsInstance(seen[0][0], NotHolderError)
        self.assertEqual(seen[0][1], threading.get_ident(), 'on_lost ran on the loop thread')
        self.assertTrue(lease.lost.is_set())


if __name__ == '__main__':
    unittest.main()
