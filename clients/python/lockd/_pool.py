"""Connections for one LockClient: each call borrows one for its duration, so background
renewal, a waiting acquire and other threads never share a connection mid-call.

Short calls (try-once acquire, release, renew, inspect...) are never refused or queued: they
borrow an idle connection or open one. Waiting acquires hold theirs until lockd answers, so
they are counted and capped at `max_waits`; a capped wait fails at once with
ResourceExhaustedError instead of queueing behind a release it might be waiting for.
"""
import contextlib
import threading

from ._connection import Connection
from .errors import ConnectionError, ResourceExhaustedError


class ConnectionPool:
    def __init__(self, options):
        self._options = options
        self._lock = threading.Lock()
        self._idle = []
        # Every open connection, idle or borrowed, so close() can wake blocked readers.
        self._open = set()
        self._waits = 0
        self._closed = False
        #: Connections opened so far (a counter tests and diagnostics read).
        self.opened = 0

    @property
    def closed(self):
        return self._closed

    @contextlib.contextmanager
    def connection(self):
        """Borrows a connection for one call; returns it afterwards unless the call broke it."""
        connection = self._checkout()
        try:
            yield connection
        finally:
            self._checkin(connection)

    @contextlib.contextmanager
    def waiting_connection(self):
        """Like connection(), for an acquire that may wait; counted against max_waits."""
        with self._lock:
            if self._waits >= self._options.max_waits:
                raise ResourceExhaustedError(
                    f'{self._waits} acquires are already waiting on this LockClient (max_waits={self._options.max_waits}); '
                    'raise max_waits or wait for fewer locks at once')
            self._waits += 1
        try:
            with self.connection() as connection:
                yield connection
        finally:
            with self._lock:
                self._waits -= 1

    def close(self):
        """Closes every connection, waking calls blocked on one (they raise ConnectionError). Idempotent."""
        with self._lock:
            self._closed = True
            connections = list(self._open)
            self._open.clear()
            self._idle.clear()
        for connection in connections:
            connection.close()

    def _checkout(self):
        while True:
            with self._lock:
                if self._closed:
                    raise ConnectionError('the LockClient is closed')
                connection = self._idle.pop() if self._idle else None
            if connection is None:
                break
            if connection.is_usable():
                return connection
            # lockd closed it while idle (a restart, an idle timeout): drop it, try the next.
            self._forget(connection)
        connection = Connection(self._options)
        with self._lock:
            self.opened += 1
            if self._closed:
                connection.close()
                raise ConnectionError('the LockClient is closed')
            self._open.add(connection)
        return connection

    def _checkin(self, connection):
        with self._lock:
            keep = not connection.broken and not self._closed and len(self._idle) < self._options.max_idle_connections
            if keep:
                self._idle.append(connection)
                return
            self._open.discard(connection)
        connection.close()

    def _forget(self, connection):
        with self._lock:
            self._open.discard(connection)
        connection.close()
