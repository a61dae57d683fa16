"""One Thrift connection to lockd, and the translation of everything python3-thrift can raise
into this package's typed errors.

python3-thrift's generated client is synchronous: a call writes its request and then reads
the next reply, so one connection carries one call at a time (the pool in _pool.py hands each
caller its own). The one exception is cancelling a parked acquire: another thread may write a
`cancelWait` on the waiting connection while the waiting thread reads; the two replies then
arrive in either order and the waiting thread reads both (see `Connection.acquire`).

With TLS the socket is wrapped by Python's ssl module (the same socket, so keepalive and
timeouts apply unchanged), and with a credential every new connection calls authenticate
before anything else (docs/security.md). OpenSSL does not support one TLS session being read
and written by two threads at once, so over TLS the cancelWait is written by the waiting thread
itself, woken in its read (see `_TlsSocket`).
"""
import os
import select
import socket
import ssl
import threading
import time

from thrift.protocol.TBinaryProtocol import TBinaryProtocolAccelerated
from thrift.protocol.TCompactProtocol import TCompactProtocolAccelerated
from thrift.protocol.TProtocol import TProtocolException
from thrift.Thrift import TApplicationException, TMessageType
from thrift.transport import TSocket, TTransport

from ._gen import LockService
from ._gen.ttypes import LockError
from .errors import (CallTimeoutError, ConfigError, ConnectionError, PermissionDeniedError, ProtocolError,
                     UnauthenticatedError, error_from_wire)

_TRANSPORTS = {'buffered': TTransport.TBufferedTransport, 'framed': TTransport.TFramedTransport}
# The accelerated protocols fall back to pure Python when thrift's C extension is missing.
_PROTOCOLS = {'binary': TBinaryProtocolAccelerated, 'compact': TCompactProtocolAccelerated}
#: Appended to errors a transport or protocol mismatch also causes, which lockd cannot report.
_MISMATCH_HINT = ' (a transport or protocol that differs from lockd\'s --transport/--protocol fails this way too)'
#: The same for a plain connection, which lockd closes at once when it serves TLS.
_PLAIN_HINT = (' (lockd closes plain connections at once when it serves TLS (--tls-cert): then set tls=True or tls_ca;'
               ' a transport or protocol that differs from lockd\'s --transport/--protocol fails this way too)')
#: The same for a TLS connection, which lockd closes right after the handshake when it refuses the client certificate.
_TLS_HINT = (' (lockd with --tls-ca closes connections whose client certificate is missing, expired or untrusted:'
             ' check tls_cert/tls_key; a transport or protocol that differs from lockd\'s --transport/--protocol fails this way too)')
#: Keepalive probes sent (one per interval) before a silent peer counts as dead.
_KEEPALIVE_PROBES = 3


class WaitCancelled(Exception):
    """Raised inside the client when a wait was cancelled before lockd granted it."""


class WaitHandle:
    """Lets another thread give up a parked acquire: `cancel()` before the request is sent
    keeps it from being sent; after, it sends `cancelWait` so lockd answers the wait at once.
    The waiting thread still receives that answer, so a grant that crossed the cancel on the
    wire reaches the caller, who can hand it back."""

    def __init__(self):
        self._lock = threading.Lock()
        self._cancelled = False
        self._connection = None

    @property
    def cancelled(self):
        return self._cancelled

    def cancel(self):
        with self._lock:
            self._cancelled = True
            connection = self._connection
        if connection is not None:
            connection.send_cancel()

    def _attach(self, connection):
        """Called by the connection, under its state lock, right before it sends the acquire."""
        with self._lock:
            if self._cancelled:
                raise WaitCancelled()
            self._connection = connection


class Connection:
    """A socket, a transport and a protocol over it, and the generated client. Not thread-safe
    except for `send_cancel`; after any failure other than a LockError it is closed (`broken`)."""

    def __init__(self, options):
        self._options = options
        self.address = f'{options.host}:{options.port}'
        try:
            sock = socket.create_connection((options.host, options.port), timeout=options.connect_timeout)
        except socket.timeout:
            raise ConnectionError(f'cannot connect to lockd at {self.address}: no answer within connect_timeout={options.connect_timeout} s') from None
        except OSError as error:
            raise ConnectionError(f'cannot connect to lockd at {self.address}: {error.strerror or error}') from error
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        _enable_keepalive(sock, options.tcp_keepalive)
        self._tls = options.tls
        self._hint = _TLS_HINT if options.tls else _PLAIN_HINT
        if options.tls:
            sock = self._handshake(sock, options)
        self._socket = _TlsSocket(sock, self._send_requested_cancel) if options.tls else TSocket.TSocket()
        self._socket.setHandle(sock)
        self._transport = _TRANSPORTS[options.transport](self._socket)
        protocol = _PROTOCOLS[options.protocol]
        # Separate protocol objects for reading and writing: TCompactProtocol keeps per-direction
        # state, and a cancelWait may be written while the waiting thread reads.
        self._client = LockService.Client(protocol(self._transport), protocol(self._transport))
        self._cancel_client = LockService.Client(None, protocol(self._transport))
        self._seqid = 0
        # Guards writes that may come from two threads (acquire and send_cancel) and the wait state.
        self._state = threading.Lock()
        self._waiting_seqid = None
        self._cancels_in_flight = 0
        # Over TLS: a cancel asked for by another thread, for the waiting thread to send.
        self._cancel_requested = False
        self.broken = False
        if options.credential is not None:
            self._authenticate(options.credential, options.call_timeout)

    def call(self, method, *args, timeout):
        """Calls `method` with positional `args` (so a renamed IDL parameter changes nothing
        here), waiting up to `timeout` seconds for the reply."""
        self._set_timeout(timeout)
        with self._state:
            self._client._seqid = self._next_seqid()
        return self._guard(method, lambda: getattr(self._client, method)(*args), timeout)

    def acquire(self, request, timeout, handle=None):
        """Sends acquire(request) and returns its AcquireResult. `handle` lets another thread
        cancel the wait; a wait cancelled before it was sent raises WaitCancelled."""
        self._set_timeout(timeout)

        def exchange():
            with self._state:
                if handle is not None:
                    handle._attach(self)
                seqid = self._next_seqid()
                self._client._seqid = seqid
                self._client.send_acquire(request)
                self._waiting_seqid = seqid
            refusal = None
            try:
                result = self._receive_acquire()
            except LockError as error:
                refusal = error
            with self._state:
                self._waiting_seqid = None
                self._cancel_requested = False
                unanswered = self._cancels_in_flight
            # A cancel crossed the reply: read its answer so the next call finds a clean stream.
            for _ in range(unanswered):
                self._read_cancel_reply()
            if refusal is not None:
                raise refusal
            return result

        return self._guard('acquire', exchange, timeout)

    def send_cancel(self):
        """Asks lockd to answer the parked acquire now (from any thread). Does nothing when no
        acquire is parked here. A failure to send breaks the connection, which ends the wait too."""
        with self._state:
            if self._waiting_seqid is None or self.broken:
                return
            if self._tls:
                self._cancel_requested = True
                self._socket.wake()
                return
            self._write_cancel()

    def _send_requested_cancel(self):
        """Over TLS, on the waiting thread inside its read: sends the cancel another thread asked for."""
        with self._state:
            if self._cancel_requested and self._waiting_seqid is not None and not self.broken:
                self._write_cancel()
            self._cancel_requested = False

    def _write_cancel(self):
        """Writes cancelWait for the parked acquire; called with the state lock held."""
        self._cancel_client._seqid = self._next_seqid()
        try:
            self._cancel_client.send_cancelWait(self._waiting_seqid)
            self._cancels_in_flight += 1
        except Exception:
            self.close()

    def is_usable(self):
        """False once broken, or when lockd closed the connection while it sat idle."""
        if self.broken:
            return False
        return _tls_is_open(self._socket.handle) if self._tls else self._socket.isOpen()

    def close(self):
        """Closes the socket; a thread blocked reading it wakes up with ConnectionError."""
        self.broken = True
        handle = self._socket.handle
        if handle is not None:
            try:
                handle.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            handle.close()
        if self._tls:
            self._socket.close_wake()

    # --- internals -----------------------------------------------------------------------

    def _handshake(self, sock, options):
        """Wraps `sock` in TLS and shakes hands within connect_timeout; the typed error otherwise."""
        try:
            context = tls_context(options)
            sock.settimeout(options.connect_timeout)
            return context.wrap_socket(sock, server_hostname=options.host)
        except ConfigError:
            sock.close()
            raise
        except ssl.SSLCertVerificationError as error:
            sock.close()
            raise ConnectionError(f'lockd at {self.address} presented a certificate this client does not trust: {error.verify_message}'
                                  f' (tls_ca={options.tls_ca!r}; lockd\'s certificate must chain to it and name {options.host!r})') from None
        except socket.timeout:
            sock.close()
            raise ConnectionError(f'no TLS handshake with lockd at {self.address} within connect_timeout={options.connect_timeout} s') from None
        except (ssl.SSLError, OSError) as error:
            sock.close()
            raise ConnectionError(f'TLS handshake with lockd at {self.address} failed: {_reason(error)}'
                                  ' (does lockd serve TLS? it needs --tls-cert/--tls-key)') from None

    def _authenticate(self, credential, timeout):
        """The first call of a connection with a credential; a refusal closes it and names the
        identity, never the secret."""
        try:
            self.call('authenticate', credential.identity, credential.secret, timeout=timeout)
        except (UnauthenticatedError, PermissionDeniedError) as refusal:
            self.close()
            raise type(refusal)(f'lockd at {self.address} refused authenticate as {credential.identity!r}: {refusal.message}') from None
        except BaseException:
            self.close()
            raise

    def _next_seqid(self):
        self._seqid = (self._seqid + 1) & 0x7FFFFFFF
        return self._seqid

    def _set_timeout(self, seconds):
        self._socket.setTimeout(None if seconds is None else seconds * 1000)

    def _receive_acquire(self):
        iprot = self._client._iprot
        while True:
            name, kind, _seqid = iprot.readMessageBegin()
            if kind == TMessageType.EXCEPTION:
                failure = TApplicationException()
                failure.read(iprot)
                iprot.readMessageEnd()
                raise failure
            if name == 'cancelWait':
                self._finish_cancel_reply(iprot)
                continue
            if name != 'acquire':
                raise ProtocolError(f'lockd answered {name!r} while this connection waited for acquire')
            result = LockService.acquire_result()
            result.read(iprot)
            iprot.readMessageEnd()
            if result.error is not None:
                raise result.error
            if result.success is None:
                raise ProtocolError('lockd answered acquire without a result')
            return result.success

    def _read_cancel_reply(self):
        iprot = self._client._iprot
        name, kind, _seqid = iprot.readMessageBegin()
        if kind == TMessageType.EXCEPTION or name != 'cancelWait':
            raise ProtocolError(f'lockd answered {name!r} where the answer to cancelWait was due')
        self._finish_cancel_reply(iprot)

    def _finish_cancel_reply(self, iprot):
        result = LockService.cancelWait_result()
        result.read(iprot)
        iprot.readMessageEnd()
        with self._state:
            self._cancels_in_flight -= 1

    def _guard(self, method, exchange, timeout):
        """Runs one request/reply exchange, mapping failures to typed errors. A LockError leaves
        the stream in order; anything else leaves it unknown, so the connection is closed."""
        try:
            return exchange()
        except LockError as refusal:
            raise error_from_wire(refusal.code, refusal.message) from None
        except WaitCancelled:
            raise
        except Exception as failure:
            self.close()
            raise translate_failure(failure, method, self.address, timeout, self._hint) from failure


def translate_failure(failure, method, address, timeout, hint=_MISMATCH_HINT):
    """The typed error for a failure of `method` that was not a refusal by lockd; `hint` ends
    the messages of failures a configuration mismatch also causes."""
    if isinstance(failure, (ProtocolError, ConnectionError)):
        return failure
    if isinstance(failure, TTransport.TTransportException):
        if failure.type == TTransport.TTransportException.TIMED_OUT or isinstance(failure.inner, socket.timeout):
            return CallTimeoutError(f'lockd at {address} did not answer {method} within {timeout:g} s{hint}')
        if failure.type == TTransport.TTransportException.END_OF_FILE:
            return ConnectionError(f'lockd at {address} closed the connection during {method}{hint}')
        if isinstance(failure.inner, OSError):
            return ConnectionError(f'connection to lockd at {address} failed during {method}: {_reason(failure.inner)}{hint}')
        return ConnectionError(f'connection to lockd at {address} failed during {method}: {failure.message or failure.inner}')
    if isinstance(failure, socket.timeout):
        return CallTimeoutError(f'lockd at {address} did not answer {method} within {timeout:g} s{hint}')
    if isinstance(failure, OSError):
        return ConnectionError(f'connection to lockd at {address} failed during {method}: {_reason(failure)}{hint}')
    if isinstance(failure, TApplicationException):
        return ProtocolError(f'lockd could not process {method}: {failure.message} (TApplicationException type {failure.type}); are client and server built from the same IDL?')
    if isinstance(failure, (TProtocolException, EOFError, ValueError, TypeError, KeyError)):
        return ProtocolError(f'cannot decode the answer to {method} from lockd at {address}: {failure!r}; do --transport/--protocol match the client options?')
    return ConnectionError(f'call {method} to lockd at {address} failed: {failure!r}')


def _enable_keepalive(sock, idle_seconds):
    if idle_seconds is None:
        return
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
    # Linux names these; elsewhere the system's keepalive timing applies.
    interval = max(1, int(idle_seconds) // _KEEPALIVE_PROBES)
    for name, value in (('TCP_KEEPIDLE', int(idle_seconds)), ('TCP_KEEPINTVL', interval), ('TCP_KEEPCNT', _KEEPALIVE_PROBES)):
        if hasattr(socket, name):
            sock.setsockopt(socket.IPPROTO_TCP, getattr(socket, name), value)


class _TlsSocket(TSocket.TSocket):
    """A TSocket over an SSLSocket whose TLS session only the reading thread touches while a
    read is in progress: the reader waits in select() on the socket and a wake-up pipe, not
    inside OpenSSL, and another thread that needs a write (cancelWait) calls `wake()`; the
    reader then runs `on_wake`, which writes. Reads time out as TSocket's do."""

    def __init__(self, handle, on_wake):
        super().__init__()
        self._on_wake = on_wake
        self._wake_read, self._wake_write = os.pipe()
        os.set_blocking(self._wake_read, False)
        os.set_blocking(self._wake_write, False)

    def wake(self):
        try:
            os.write(self._wake_write, b'w')
        except (BlockingIOError, OSError):
            pass  # already woken (the pipe is full) or closed with the connection

    def close_wake(self):
        for fd in (self._wake_write, self._wake_read):
            try:
                os.close(fd)
            except OSError:
                pass
        self._wake_read = self._wake_write = -1

    def read(self, sz):
        handle = self.handle
        if handle is None:
            raise TTransport.TTransportException(type=TTransport.TTransportException.NOT_OPEN, message='Transport not open')
        deadline = None if self._timeout is None else time.monotonic() + self._timeout
        while True:
            # Bytes OpenSSL already decrypted are not visible to select().
            if handle.pending() == 0:
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    raise TTransport.TTransportException(type=TTransport.TTransportException.TIMED_OUT, message='read timeout')
                try:
                    ready, _, _ = select.select([handle, self._wake_read], [], [], remaining)
                except (OSError, ValueError) as error:  # closed by another thread
                    raise TTransport.TTransportException(type=TTransport.TTransportException.END_OF_FILE, message='TLS socket closed', inner=error)
                if self._wake_read in ready:
                    try:
                        os.read(self._wake_read, 64)
                    except OSError:
                        pass
                    self._on_wake()
                if handle not in ready:
                    continue
            handle.settimeout(0)
            try:
                data = handle.recv(sz)
            except (ssl.SSLWantReadError, ssl.SSLWantWriteError):
                continue  # a record with no application data (a TLS 1.3 session ticket)
            except OSError as error:
                raise TTransport.TTransportException(message='unexpected exception', inner=error)
            finally:
                try:
                    handle.settimeout(self._timeout)
                except OSError:
                    pass
            if not data:
                raise TTransport.TTransportException(type=TTransport.TTransportException.END_OF_FILE, message='TSocket read 0 bytes')
            return data


def tls_context(options):
    """The client SSLContext for `options` (TLS 1.2 or newer, lockd's certificate checked against
    tls_ca or the system's CAs, the client certificate loaded), its files read now so a rotated
    file is used by the next connection. Raises ConfigError naming a file it cannot use."""
    try:
        context = ssl.create_default_context(cafile=options.tls_ca)
    except (OSError, ssl.SSLError) as error:
        raise ConfigError(f'TLS CA file tls_ca={options.tls_ca!r}: cannot use it: {_reason(error)}') from None
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    if options.tls_cert is not None:
        try:
            context.load_cert_chain(options.tls_cert, options.tls_key, password=_no_password)
        except ConfigError:
            raise
        except (OSError, ssl.SSLError) as error:
            raise ConfigError(f'TLS client certificate tls_cert={options.tls_cert!r}, tls_key={options.tls_key!r}: cannot use them: {_reason(error)}'
                              ' (PEM files; the key must belong to the certificate)') from None
    return context


def _no_password():
    # Without a callback, OpenSSL would prompt on the terminal for an encrypted key.
    raise ConfigError('the TLS key tls_key is encrypted; give lockd\'s client an unencrypted key file (chmod 600)')


def _reason(error):
    """The short reason of an OSError or SSLError, without errno noise."""
    if isinstance(error, ssl.SSLCertVerificationError) and error.verify_message:
        return error.verify_message
    if isinstance(error, ssl.SSLError) and error.reason:
        return error.reason
    return error.strerror or str(error) or type(error).__name__


def _tls_is_open(handle):
    """TSocket.isOpen for a TLS socket, where recv cannot peek: a non-blocking read of an idle
    connection finds nothing (open; TLS 1.3 session tickets are consumed on the way), end of
    stream (closed) or bytes nobody asked for (out of order: unusable)."""
    if handle is None:
        return False
    original_timeout = handle.gettimeout()
    try:
        handle.settimeout(0)
        try:
            handle.recv(1)
            return False
        except (ssl.SSLWantReadError, ssl.SSLWantWriteError, BlockingIOError):
            return True
        except OSError:
            return False
    finally:
        try:
            handle.settimeout(original_timeout)
        except OSError:
            pass
