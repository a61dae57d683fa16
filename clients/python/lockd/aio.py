"""AsyncLockClient: the same client for asyncio programs.

It runs the synchronous LockClient on threads rather than speaking Thrift on the event loop:
python3-thrift has no asyncio transport (only Tornado and Twisted ones), so a native client
would mean a second hand-written Thrift codec to keep in step with the IDL. Threads also keep
renewal independent of the loop: a lease is renewed on time even while a task hogs the loop.
Waiting acquires run on threads of their own (up to max_waits) and short calls on a separate
pool (async_call_threads), so a release never queues behind the waits it would end. Cancelling
a task that waits sends lockd `cancelWait`, which drops the waiter at once; a grant that
crossed the cancel is released.
"""
import asyncio
import concurrent.futures
import functools
import inspect
import logging
import os

from ._connection import WaitHandle
from .client import LockClient
from .errors import ConnectionError, LockTimeoutError
from .lease import release_quietly
from .options import wait_ms

log = logging.getLogger('lockd')


class AsyncLockClient:
    """asyncio front of LockClient; the same options and methods, awaited.

    Example::

        client = AsyncLockClient("127.0.0.1", 9090)
        async with client.lock("jobs/nightly", ttl=30) as lease:
            await run_job(fence=lease.fence)
        await client.close()
    """

    def __init__(self, host=None, port=None, **options):
        self._sync = LockClient(host, port, **options)
        self.options = self._sync.options
        self._calls = concurrent.futures.ThreadPoolExecutor(self.options.async_call_threads, thread_name_prefix='lockd-call')
        self._waits = concurrent.futures.ThreadPoolExecutor(self.options.max_waits, thread_name_prefix='lockd-wait')

    @classmethod
    def from_env(cls, env=None, **options):
        """A client for LOCKD_ADDR=host:port (default os.environ), else localhost:9090, with
        LOCKD_CREDENTIAL as its credential when set: as LockClient.from_env."""
        return cls(**options, env=os.environ if env is None else env)

    @property
    def sync(self):
        """The LockClient underneath, for code that is not async."""
        return self._sync

    def lock(self, key, ttl=None, wait=None, mode='exclusive', owner=None, renew_every=None, on_lost=None):
        """For ``async with client.lock(key) as lease:``: as LockClient.lock. `on_lost(error)`
        runs on the event loop (a coroutine function is scheduled as a task)."""
        return _AsyncLockBlock(functools.partial(self.acquire, key, ttl=ttl, wait=wait, mode=mode, owner=owner,
                                                 auto_renew=True, renew_every=renew_every, on_lost=on_lost))

    async def acquire(self, key, ttl=None, wait=None, mode='exclusive', owner=None, token=None,
                      auto_renew=False, renew_every=None, on_lost=None):
        """As LockClient.acquire, returning an AsyncLease. Cancelling the awaiting task gives
        the wait up on lockd too."""
        lease = await self._acquire(key, ttl, wait, mode, owner, token, auto_renew, renew_every, on_lost)
        if lease is None:
            raise LockTimeoutError(f'{key!r} was not granted within {wait:g} s: another holder kept it')
        return lease

    async def try_lock(self, key, ttl=None, wait=0, mode='exclusive', owner=None, token=None,
                       auto_renew=False, renew_every=None, on_lost=None):
        """As LockClient.try_lock: an AsyncLease, or None when still busy after `wait` seconds."""
        return await self._acquire(key, ttl, wait, mode, owner, token, auto_renew, renew_every, on_lost)

    async def release(self, key, token):
        return await self._run(self._sync.release, key, token)

    async def renew(self, key, token, ttl):
        return await self._run(self._sync.renew, key, token, ttl)

    async def check_fence(self, key, fence):
        return await self._run(self._sync.check_fence, key, fence)

    async def inspect(self, key):
        return await self._run(self._sync.inspect, key)

    async def list_locks(self, prefix='', limit=0, start_after=None):
        return await self._run(self._sync.list_locks, prefix, limit, start_after)

    async def ping(self):
        return await self._run(self._sync.ping)

    async def acquire_lock(self, key, wait=0, ttl=None, owner=None):
        """As LockClient.acquire_lock (it may wait, so it runs on a wait thread)."""
        return await self._run(functools.partial(self._sync.acquire_lock, key, wait=wait, ttl=ttl, owner=owner), executor=self._waits)

    async def release_lock(self, key):
        return await self._run(self._sync.release_lock, key)

    async def close(self):
        """Closes the connections (waits in flight raise ConnectionError) and the threads. Idempotent."""
        self._sync.close()
        self._calls.shutdown(wait=False)
        self._waits.shutdown(wait=False)

    async def __aenter__(self):
        return self

    async def __aexit__(self, *exc):
        await self.close()
        return False

    async def _run(self, fn, *args, executor=None):
        if self._sync.closed:
            raise ConnectionError('the AsyncLockClient is closed')
        return await asyncio.get_running_loop().run_in_executor(executor or self._calls, fn, *args)

    async def _acquire(self, key, ttl, wait, mode, owner, token, auto_renew, renew_every, on_lost):
        loop = asyncio.get_running_loop()
        wire_wait_ms = wait_ms(wait)
        if self._sync.closed:
            raise ConnectionError('the AsyncLockClient is closed')
        handle = WaitHandle()
        callback = None if on_lost is None else functools.partial(_call_on_loop, loop, on_lost)
        future = loop.run_in_executor(
            self._waits if wire_wait_ms != 0 else self._calls,
            functools.partial(self._sync._acquire, key, ttl, wire_wait_ms, mode, owner, token, auto_renew, renew_every, callback, handle))
        try:
            lease = await asyncio.shield(future)
        except asyncio.CancelledError:
            self._calls.submit(handle.cancel)
            future.add_done_callback(functools.partial(_reclaim, self._calls))
            raise
        return None if lease is None else AsyncLease(lease, self)


class AsyncLease:
    """A Lease for asyncio code: the same attributes, with release and renew awaited.
    `sync` is the Lease underneath. ``async with lease:`` releases it when the block ends."""

    def __init__(self, lease, client):
        #: The Lease underneath.
        self.sync = lease
        self._client = client

    def __getattr__(self, name):
        # key, token, fence, mode, ttl, expires_at, hold_count, remaining, held, lost, lost_reason
        return getattr(self.sync, name)

    def __repr__(self):
        return repr(self.sync).replace('<Lease', '<AsyncLease', 1)

    async def release(self):
        """As Lease.release: False when lockd no longer held it."""
        return await self._client._run(self.sync.release)

    async def renew(self, ttl=None):
        """As Lease.renew: to now + `ttl` seconds (None: its current TTL)."""
        return await self._client._run(self.sync.renew, ttl)

    async def __aenter__(self):
        return self

    async def __aexit__(self, exc_type, exc, tb):
        await self._client._run(release_quietly, self.sync, exc is not None)
        return False


class _AsyncLockBlock:
    """The async context manager AsyncLockClient.lock() returns."""

    def __init__(self, acquire):
        self._acquire = acquire
        self._lease = None

    async def __aenter__(self):
        if self._lease is not None:
            raise RuntimeError('this lock() block is already in use; call client.lock() again for another')
        self._lease = await self._acquire()
        return self._lease

    async def __aexit__(self, exc_type, exc, tb):
        lease, self._lease = self._lease, None
        await lease.__aexit__(exc_type, exc, tb)
        return False


def _call_on_loop(loop, on_lost, error):
    """Runs the user's on_lost on the event loop, from the renewal thread."""
    def invoke():
        result = on_lost(error)
        if inspect.isawaitable(result):
            asyncio.ensure_future(result)
    try:
        loop.call_soon_threadsafe(invoke)
    except RuntimeError:
        log.warning('lockd: lease lost (%s) after its event loop closed; on_lost not called', error)


def _reclaim(executor, future):
    """After the awaiting task was cancelled: releases a lease the wait still produced."""
    if future.cancelled() or future.exception() is not None:
        return  # WaitCancelled, or the connection closed: nothing was granted to keep
    lease = future.result()
    if lease is not None:
        executor.submit(release_quietly, lease, True)
