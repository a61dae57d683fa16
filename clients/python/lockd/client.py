"""LockClient: lockd for threaded Python programs, over python3-thrift."""
import dataclasses
import os
import threading
import time
from typing import Optional, Tuple

from ._connection import Connection, WaitCancelled, tls_context
from ._gen.ttypes import LockMode, LockRequest
from ._pool import ConnectionPool
from .errors import ConnectionError, InvalidArgumentError, LockdError, LockTimeoutError
from .lease import Lease, mode_name, release_quietly
from .options import WAIT_FOREVER_MS, resolve_options, ttl_ms, wait_ms

_MODES = {'exclusive': LockMode.EXCLUSIVE, 'shared': LockMode.SHARED}


@dataclasses.dataclass(frozen=True)
class HolderInfo:
    """One holder as inspect and list_locks show it (tokens are never shown)."""

    owner: Optional[str]
    mode: str
    fence: int
    #: Unix epoch seconds on lockd's clock.
    expires_at: float
    hold_count: int


@dataclasses.dataclass(frozen=True)
class LockInfo:
    """One key's state: no holders when it is free."""

    key: str
    holders: Tuple[HolderInfo, ...]
    waiters: int


@dataclasses.dataclass(frozen=True)
class LeaseState:
    """A lease as lockd reported it after `LockClient.renew`."""

    key: str
    fence: int
    mode: str
    #: Lease length applied, seconds.
    ttl: float
    #: Unix epoch seconds on lockd's clock.
    expires_at: float
    hold_count: int


class LockClient:
    """A client for one lockd. Thread-safe: every call borrows its own connection from a small
    pool, so a thread waiting for a lock, background renewals and other threads never share a
    connection mid-call. Durations are seconds.

    Example::

        from lockd import LockClient
        client = LockClient("127.0.0.1", 9090)
        with client.lock("reports/daily", ttl=30) as lease:
            print("holding with fence", lease.fence)   # renewed every 10 s until the block ends
    """

    def __init__(self, host=None, port=None, **options):
        """`host` default "localhost", `port` default 9090; other keyword options are the
        fields of ClientOptions (transport, protocol, connect_timeout, call_timeout, owner,
        ttl, tls_ca, credential, ...). Raises ConfigError naming an invalid option or a TLS
        file it cannot use."""
        self.options = resolve_options(host, port, **options)
        if self.options.tls:
            tls_context(self.options)  # fail now, not at the first call, on an unusable TLS file
        self._pool = ConnectionPool(self.options)
        # acquire_lock/release_lock grants are bound to one connection: this one.
        self._session = None
        self._session_lock = threading.Lock()

    @classmethod
    def from_env(cls, env=None, **options):
        """A client for LOCKD_ADDR=host:port (from `env`, default os.environ), else
        localhost:9090, with LOCKD_CREDENTIAL="identity:secret" as its credential when set and
        no credential or credential_file is passed; keyword options as for the constructor."""
        return cls(**options, env=os.environ if env is None else env)

    def __repr__(self):
        o = self.options
        security = (' tls' if o.tls else '') + (f' as {o.credential.identity!r}' if o.credential is not None else '')
        return f'<LockClient {o.host}:{o.port} {o.transport}+{o.protocol}{security}>'

    # --- leases ----------------------------------------------------------------------------

    def lock(self, key, ttl=None, wait=None, mode='exclusive', owner=None, renew_every=None, on_lost=None):
        """For ``with client.lock(key) as lease:``: acquires when the block starts (waiting
        `wait` seconds, default None: until granted), renews in the background every third of
        the TTL, and releases when the block ends. If the lease is lost meanwhile, `lease.lost`
        is set and `on_lost(error)` is called from the renewal thread: stop the work then, as
        nothing guarantees exclusivity any longer. Raises what acquire raises."""
        return _LockBlock(lambda: self.acquire(key, ttl=ttl, wait=wait, mode=mode, owner=owner,
                                               auto_renew=True, renew_every=renew_every, on_lost=on_lost))

    def acquire(self, key, ttl=None, wait=None, mode='exclusive', owner=None, token=None,
                auto_renew=False, renew_every=None, on_lost=None):
        """Acquires `key` and returns its Lease, waiting in lockd's FIFO queue up to `wait`
        seconds (None: until granted; 0: try once).

        ttl: lease length in seconds; None uses the client's ttl, else lockd's --default-ttl.
        mode: "exclusive" (one holder) or "shared" (any number of holders, no exclusive one).
        owner: label shown by inspect; default the client's owner.
        token: the token of a live lease on this key in the same mode: re-enters it
            (hold_count + 1, same token and fence).
        auto_renew: renew in the background every `renew_every` seconds (default a third of
            the TTL) until released or lost.
        on_lost: called once with the LockdError that ended the lease, from the thread that
            noticed (the renewal thread when auto_renew).

        Raises LockTimeoutError when the wait ran out, InvalidArgumentError for a TTL or wait
        outside lockd's range, ResourceExhaustedError at a limit, ConnectionError when lockd
        cannot be reached.
        """
        lease = self._acquire(key, ttl, wait_ms(wait), mode, owner, token, auto_renew, renew_every, on_lost)
        if lease is None:
            raise LockTimeoutError(f'{key!r} was not granted within {wait:g} s: another holder kept it')
        return lease

    def try_lock(self, key, ttl=None, wait=0, mode='exclusive', owner=None, token=None,
                 auto_renew=False, renew_every=None, on_lost=None):
        """Like acquire, but returns None when the lock is still busy after `wait` seconds
        (default 0: try once)."""
        return self._acquire(key, ttl, wait_ms(wait), mode, owner, token, auto_renew, renew_every, on_lost)

    def release(self, key, token):
        """Releases the lease `token` names on `key`, from any process that knows the token.
        Returns False when it names no live lease. Prefer `lease.release()`."""
        return self._call('release', key, token)

    def renew(self, key, token, ttl):
        """Extends the lease `token` names to now + `ttl` seconds; returns its LeaseState.
        Raises NotHolderError when it is gone. Prefer `lease.renew()`."""
        wire = self._call('renew', key, token, ttl_ms(ttl))
        return LeaseState(wire.lockKey, wire.fence, mode_name(wire.mode), wire.ttlMs / 1000, wire.expiresAtMs / 1000, wire.holdCount)

    def check_fence(self, key, fence):
        """True while a live lease on `key` carries `fence`: ask right before acting on a fence."""
        return self._call('checkFence', key, fence)

    def inspect(self, key):
        """Holders (owner, mode, fence, expiry; never tokens) and the waiter count of one key."""
        return _lock_info(self._call('inspect', key))

    def list_locks(self, prefix='', limit=0, start_after=None):
        """One page of held keys starting with `prefix`, in key order; `limit` <= 0 means lockd's
        default page. Pass the last key of a page as `start_after` for the next; an empty page ends
        the listing (a page may be shorter than `limit` when lockd's byte bound cut it)."""
        if start_after is None:
            return [_lock_info(info) for info in self._call('listLocks', prefix, limit)]
        return [_lock_info(info) for info in self._call('listLocksPage', prefix, limit, start_after)]

    def ping(self):
        """Returns "pong" when lockd answers; raises ConnectionError when it cannot be reached."""
        return self._call('ping')

    # --- seed-compatible calls (acquireLock / releaseLock) -----------------------------------

    def acquire_lock(self, key, wait=0, ttl=None, owner=None):
        """The seed API's try-lock: True when granted. The grant is bound to this client's
        session connection: release_lock(key) releases it, and closing the client (or losing
        the connection) frees it at once. Nothing renews it: with a `ttl` (or lockd's
        --seed-lock-ttl) it also ends then; use lock() for fenced, renewed leases.
        False when busy after `wait` seconds or already held by this client. Calls on the
        session connection take turns."""
        request = LockRequest(lockKey=key, owner=owner or self.options.owner, ttlMs=ttl_ms(ttl) or _ms(self.options.ttl),
                              waitMs=wait_ms(wait))
        return self._session_call('acquireLock', request, timeout=self._timeout_for(request.waitMs))

    def release_lock(self, key):
        """The seed API's release: frees the grant acquire_lock made for `key`; False when there is none."""
        return self._session_call('releaseLock', LockRequest(lockKey=key), timeout=self.options.call_timeout)

    # --- lifecycle -------------------------------------------------------------------------

    def close(self):
        """Closes every connection: calls in flight raise ConnectionError, later calls fail,
        acquire_lock grants are freed. Leases stay held on lockd until released or expired
        (their renewal stops). Idempotent."""
        self._pool.close()
        with self._session_lock:
            session, self._session = self._session, None
        if session is not None:
            session.close()

    @property
    def closed(self):
        return self._pool.closed

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    # --- used by Lease and AsyncLockClient -------------------------------------------------

    def _renew_lease(self, lease, lease_ttl_ms):
        return self._call('renew', lease.key, lease.token, lease_ttl_ms)

    def _release_lease(self, lease):
        return self._call('release', lease.key, lease.token)

    def _acquire(self, key, ttl, wire_wait_ms, mode, owner, token, auto_renew, renew_every, on_lost, handle=None):
        """acquire and try_lock: the Lease, or None when busy after the wait. With `handle`,
        another thread may cancel the wait (WaitCancelled; a grant that crossed the cancel is
        released)."""
        if mode not in _MODES:
            raise InvalidArgumentError(f'mode must be "exclusive" or "shared", got {mode!r}')
        if renew_every is not None and not (isinstance(renew_every, (int, float)) and renew_every > 0):
            raise InvalidArgumentError(f'renew_every must be a positive number of seconds, got {renew_every!r}')
        request = LockRequest(
            lockKey=key,
            owner=owner if owner is not None else self.options.owner,
            ttlMs=ttl_ms(ttl) if ttl is not None else _ms(self.options.ttl),
            waitMs=wire_wait_ms,
            mode=_MODES[mode] if mode != 'exclusive' else None,
            token=token,
        )
        sent_at = time.monotonic()
        borrow = self._pool.connection if wire_wait_ms == 0 else self._pool.waiting_connection
        with borrow() as connection:
            result = connection.acquire(request, self._timeout_for(wire_wait_ms), handle)
        if not result.acquired:
            if handle is not None and handle.cancelled:
                raise WaitCancelled()
            return None
        # A grant after a wait counts from its arrival; one without a wait from the send.
        lease = Lease(self, result.lease, sent_at if wire_wait_ms == 0 else time.monotonic(), on_lost)
        if handle is not None and handle.cancelled:
            # The grant crossed the cancel on the wire: the caller gave up, so hand it back.
            release_quietly(lease, failing=True)
            raise WaitCancelled()
        if auto_renew or on_lost is not None:
            lease._start_keeper(auto_renew, renew_every)
        return lease

    def _call(self, method, *args):
        with self._pool.connection() as connection:
            return connection.call(method, *args, timeout=self.options.call_timeout)

    def _session_call(self, method, request, timeout):
        with self._session_lock:
            if self._pool.closed:
                raise ConnectionError('the LockClient is closed')
            if self._session is None or self._session.broken:
                # A broken session took its grants with it: lockd freed them when it closed.
                self._session = Connection(self.options)
            return self._session.call(method, request, timeout=timeout)

    def _timeout_for(self, wire_wait_ms):
        """The timeout rule: a socket must outlast the wait it asks lockd for, or lockd could
        grant the lock to a caller that has already given up. None (no timeout) for waits
        without a bound; TCP keepalive notices a dead host then."""
        if wire_wait_ms == WAIT_FOREVER_MS:
            return None
        return wire_wait_ms / 1000 + self.options.call_timeout


class _LockBlock:
    """The context manager client.lock() returns: acquire on entry, release on exit."""

    def __init__(self, acquire):
        self._acquire = acquire
        self._lease = None

    def __enter__(self):
        if self._lease is not None:
            raise RuntimeError('this lock() block is already in use; call client.lock() again for another')
        self._lease = self._acquire()
        return self._lease

    def __exit__(self, exc_type, exc, tb):
        lease, self._lease = self._lease, None
        release_quietly(lease, exc is not None)
        return False


def _ms(seconds):
    return None if seconds is None else ttl_ms(seconds)


def _lock_info(info):
    holders = tuple(HolderInfo(h.owner, mode_name(h.mode), h.fence, h.expiresAtMs / 1000, h.holdCount) for h in info.holders)
    return LockInfo(info.lockKey, holders, info.waiters)


__all__ = ['LockClient', 'LockInfo', 'HolderInfo', 'LeaseState', 'LockdError']
