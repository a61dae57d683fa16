"""Lease: a granted lock, its background renewal and how its loss is reported."""
import logging
import random
import threading
import time

from .errors import ConnectionError, LockdError, NotHolderError, ResourceExhaustedError, UnavailableError
from .options import ttl_ms as to_ttl_ms

log = logging.getLogger('lockd')

#: Shortest pause before a failed background renewal is retried, seconds: never a tight loop.
MIN_RENEW_RETRY = 0.01
#: Refusals worth retrying: the network, or lockd busy or restarting. Others end the lease.
_TRANSIENT = (ConnectionError, UnavailableError, ResourceExhaustedError)


def mode_name(mode):
    """The wire's LockMode number as "exclusive" or "shared"."""
    return 'shared' if mode == 2 else 'exclusive'


class Lease:
    """A granted lock. Holding is only as good as the lease: check `lost` (or pass `on_lost`)
    and hand `fence` to what you protect, so it can refuse a stale holder's writes.

    Timing is judged on this machine's monotonic clock: a lease counts as lost once its TTL
    has passed since the request that granted or renewed it was sent (after a wait in lockd's
    queue: since the grant arrived), so clock skew between this host and lockd does not
    matter. `expires_at` is lockd's own figure, on lockd's clock.

    ``with lease:`` releases it when the block ends. Built by LockClient, never directly.
    """

    def __init__(self, owner, wire, valid_from, on_lost=None):
        #: The lock's name.
        self.key = wire.lockKey
        #: The secret that proves ownership (renew, release, re-enter). Keep it secret.
        self.token = wire.token
        #: Fencing token: greater than every fence lockd issued for this key before this grant.
        self.fence = wire.fence
        #: "exclusive" or "shared".
        self.mode = mode_name(wire.mode)
        #: Set once the lease is lost: it expired unrenewed, a renewal was refused, or lockd
        #: stayed unreachable past its TTL. `lost_reason` says which. Releasing does not set it.
        self.lost = threading.Event()
        #: The LockdError that ended the lease (NotHolderError, ConnectionError...), or None.
        self.lost_reason = None
        self._owner = owner
        self._on_lost = on_lost
        self._cond = threading.Condition()
        self._apply(wire, valid_from)
        # lockd surely no longer holds it (expired, refused as NOT_HOLDER): release need not ask.
        self._gone = False
        self._released = threading.Event()
        self._releasing = False
        self._release_outcome = None
        self._auto_renew = False
        self._renew_every = None
        self._next_renew_at = 0.0
        self._keeper = None

    # --- state -----------------------------------------------------------------------------

    @property
    def ttl(self):
        """Lease length the last grant or renewal applied, seconds."""
        return self._ttl_ms / 1000

    @property
    def expires_at(self):
        """When the lease ends unless renewed: Unix epoch seconds on lockd's clock."""
        return self._expires_at_ms / 1000

    @property
    def hold_count(self):
        """How many times the holder has entered, as of the last grant or renewal."""
        return self._hold_count

    @property
    def remaining(self):
        """Seconds before the lease surely ends unless renewed, on this host's clock; 0 once past."""
        return max(0.0, self._deadline - time.monotonic())

    @property
    def held(self):
        """True until released, lost or past its TTL."""
        if self._releasing or self.lost.is_set():
            return False
        if time.monotonic() >= self._deadline:
            self._mark_lost(NotHolderError(f'lost the lease on {self.key!r}: its {self.ttl:g} s TTL ran out without a renewal'), gone=True)
            return False
        return True

    def __repr__(self):
        state = 'released' if self._releasing else 'lost' if self.lost.is_set() else 'held'
        return f'<Lease key={self.key!r} fence={self.fence} mode={self.mode} ttl={self.ttl:g}s {state}>'

    # --- operations ------------------------------------------------------------------------

    def renew(self, ttl=None):
        """Extends the lease to now + `ttl` seconds (None: its current TTL), keeping token and
        fence. Raises NotHolderError (and sets `lost`) when lockd no longer holds it,
        InvalidArgumentError when `ttl` is outside lockd's range."""
        if self._releasing:
            raise NotHolderError(f'the lease on {self.key!r} was released; acquire it again')
        ttl_ms = self._ttl_ms if ttl is None else to_ttl_ms(ttl)
        sent_at = time.monotonic()
        try:
            wire = self._owner._renew_lease(self, ttl_ms)
        except NotHolderError as error:
            self._mark_lost(error, gone=True)
            raise
        with self._cond:
            self._apply(wire, sent_at)
            self._cond.notify_all()

    def release(self):
        """Leaves the lease once (hold_count - 1; the lock frees at zero) and stops background
        renewal, after any renewal in flight. Idempotent: later calls return the first call's
        result. Returns False when lockd no longer held it (it expired or was lost: the work done
        under it may not have been exclusive). Raises ConnectionError when lockd cannot be
        reached; the lease then ends at its TTL."""
        with self._cond:
            first = not self._releasing
            self._releasing = True
            self._auto_renew = False
            self._cond.notify_all()
        if not first:
            self._released.wait()
            return self._outcome()
        try:
            keeper = self._keeper
            if keeper is not None and keeper is not threading.current_thread():
                keeper.join()
            self._release_outcome = (False, None) if self._gone else (self._owner._release_lease(self), None)
        except BaseException as error:
            self._release_outcome = (None, error)
        finally:
            self._released.set()
        return self._outcome()

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        release_quietly(self, exc is not None)
        return False

    # --- background renewal and loss -------------------------------------------------------

    def _start_keeper(self, auto_renew, renew_every=None):
        """Starts the thread that renews (when `auto_renew`) every `renew_every` seconds (None:
        a third of the TTL, jittered +-10% so leases granted together do not renew in step) and
        notices the deadline. Daemon: an exiting program does not wait for its leases."""
        with self._cond:
            self._auto_renew = auto_renew
            self._renew_every = renew_every
            self._next_renew_at = time.monotonic() + _jitter(self._renew_interval())
            self._keeper = threading.Thread(target=self._keep, name=f'lockd-lease-{self.key}', daemon=True)
        self._keeper.start()

    def _keep(self):
        last_error = None
        while True:
            with self._cond:
                if self._releasing or self.lost.is_set():
                    return
                now = time.monotonic()
                if now >= self._deadline:
                    break
                due = min(self._deadline, self._next_renew_at) if self._auto_renew else self._deadline
                if now < due:
                    self._cond.wait(due - now)
                    continue
            try:
                self.renew()
                last_error = None
                with self._cond:
                    self._next_renew_at = time.monotonic() + _jitter(self._renew_interval())
            except NotHolderError:
                return  # renew() marked it lost
            except _TRANSIENT as error:
                last_error = error
                if self._owner.closed:
                    self._auto_renew = False  # nothing can renew it now; the deadline still ends it
                    continue
                with self._cond:
                    # Retry well before the deadline, a little sooner each time.
                    self._next_renew_at = time.monotonic() + _jitter(max(MIN_RENEW_RETRY, min(self._renew_interval(), self.remaining / 3)))
            except LockdError as error:
                if not self._releasing:
                    self._mark_lost(error, gone=False)  # refused for good (INVALID_ARGUMENT...): retrying cannot help
                return
        if last_error is not None:
            reason = ConnectionError(f'lost the lease on {self.key!r}: its {self.ttl:g} s TTL ran out while it could not be renewed ({last_error})')
        else:
            reason = NotHolderError(f'lost the lease on {self.key!r}: its {self.ttl:g} s TTL ran out without a renewal')
        self._mark_lost(reason, gone=True)

    def _mark_lost(self, reason, gone):
        with self._cond:
            if gone:
                self._gone = True
            if self.lost.is_set():
                return
            self.lost_reason = reason
            self._auto_renew = False
            self.lost.set()
            self._cond.notify_all()
        if self._on_lost is not None:
            try:
                self._on_lost(reason)
            except Exception:
                log.exception('lockd: the on_lost callback for %r raised', self.key)

    def _apply(self, wire, valid_from):
        self._ttl_ms = wire.ttlMs
        self._expires_at_ms = wire.expiresAtMs
        self._hold_count = wire.holdCount
        self._deadline = valid_from + wire.ttlMs / 1000

    def _renew_interval(self):
        return self._renew_every or self._ttl_ms / 3000

    def _outcome(self):
        value, error = self._release_outcome
        if error is not None:
            raise error
        return value


def release_quietly(lease, failing):
    """Releases at the end of a ``with`` block. A release lockd cannot receive is not the
    block's failure (the lease then ends at its TTL), so it is logged, not raised; so is a
    lease found lost, which means the block may not have run exclusively."""
    try:
        if not lease.release() and not failing:
            log.warning('lockd: the lease on %r was already lost when the block ended (%s); the work may not have been exclusive',
                        lease.key, lease.lost_reason or 'expired')
    except LockdError as error:
        log.warning('lockd: could not release the lease on %r: %s; it ends at its TTL', lease.key, error)


def _jitter(seconds):
    return seconds * (0.9 + 0.2 * random.random())
