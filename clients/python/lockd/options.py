"""LockClient options, their defaults and why, in one place; and the seconds -> milliseconds
conversions every call uses. Durations are seconds (float) on the Python side; lockd's wire
counts milliseconds.
"""
import dataclasses
import math
import os
import socket
from typing import Optional

from .credentials import Credential, credential_from_env, read_credential_file, to_credential
from .errors import ConfigError, InvalidArgumentError

#: lockd's default port.
DEFAULT_PORT = 9090


def _default_owner():
    return f'{socket.gethostname()}:{os.getpid()}'


@dataclasses.dataclass(frozen=True)
class ClientOptions:
    """Everything a LockClient can be told; every field has a default."""

    # --- Connection ----------------------------------------------------------------------
    #: lockd's host. Default "localhost": lockd's own default address.
    host: str = 'localhost'
    #: lockd's port. Default 9090: lockd's default port.
    port: int = DEFAULT_PORT
    #: "buffered" or "framed"; must match lockd's --transport. Default "buffered": lockd's default.
    transport: str = 'buffered'
    #: "binary" or "compact"; must match lockd's --protocol. Default "binary": lockd's default.
    protocol: str = 'binary'
    #: Seconds one connection attempt may take. Default 5: longer than any healthy LAN connect,
    #: short enough to report a dead host.
    connect_timeout: float = 5.0
    #: Seconds a call may take beyond the wait it asks for: a waiting acquire's socket timeout is
    #: its wait plus this, so lockd always answers before the client gives up (see "the timeout
    #: rule" in docs/clients/python.md). Default 10: a stuck server is reported as
    #: CallTimeoutError instead of hanging the caller.
    call_timeout: float = 10.0
    #: Seconds of silence before TCP keepalive probes a connection, which is how a wait without
    #: a bound (wait=None) notices a dead host; None turns probing off. Default 30.
    tcp_keepalive: Optional[float] = 30.0

    # --- Connections and waits -----------------------------------------------------------
    #: Idle connections kept open for the next call. Default 4: enough for a lease renewer and
    #: a few threads, few enough to stay invisible in lockd's connection count.
    max_idle_connections: int = 4
    #: Waiting acquires in flight at once on this client; each holds its own connection while
    #: it waits. More raise ResourceExhaustedError. Default 256: far above what one process
    #: needs, low enough to stop a runaway loop before it exhausts lockd's connections.
    max_waits: int = 256

    #: Threads AsyncLockClient runs short calls (release, renew, inspect...) on; waiting
    #: acquires get threads of their own, up to max_waits, so a release never queues behind
    #: the waits it would end. Default 8: short calls take a round trip each.
    async_call_threads: int = 8

    # --- Leases --------------------------------------------------------------------------
    #: Label shown by inspect and lockd's logs; never used for ownership.
    #: Default "<hostname>:<pid>", which finds the process.
    owner: str = dataclasses.field(default_factory=_default_owner)
    #: Lease length in seconds when a call names none. Default None: lockd's --default-ttl
    #: (30 s unless configured), so one server setting governs every client.
    ttl: Optional[float] = None

    # --- Security (docs/security.md) ---------------------------------------------------------
    #: Connect with TLS. Default False (plain TCP, lockd's default); implied by tls_ca, tls_cert
    #: and tls_key. True alone trusts lockd's certificate by the system's CAs.
    tls: bool = False
    #: PEM file of the CA lockd's certificate must chain to. Default None: the system's CAs.
    tls_ca: Optional[str] = None
    #: PEM client certificate (lockd's --tls-ca must trust it), with tls_key.
    tls_cert: Optional[str] = None
    #: PEM key of tls_cert.
    tls_key: Optional[str] = None
    #: (identity, secret) or a Credential, sent with authenticate() first on every new connection;
    #: a refusal raises UnauthenticatedError/PermissionDeniedError. Default None (anonymous);
    #: from_env reads LOCKD_CREDENTIAL="identity:secret". Stored as a Credential, whose repr
    #: hides the secret.
    credential: Optional[Credential] = None
    #: A file holding "identity:secret", read once when the options are made; excludes credential.
    credential_file: Optional[str] = None

    def __post_init__(self):
        fail = _failer('invalid LockClient option')
        if not isinstance(self.host, str) or not self.host:
            fail(f'host must be a non-empty string, got {self.host!r}')
        if not _is_int(self.port) or not 1 <= self.port <= 65535:
            fail(f'port must be an integer in 1..65535, got {self.port!r}')
        if self.transport not in ('buffered', 'framed'):
            fail(f'transport must be "buffered" or "framed", got {self.transport!r}')
        if self.protocol not in ('binary', 'compact'):
            fail(f'protocol must be "binary" or "compact", got {self.protocol!r}')
        for name in ('connect_timeout', 'call_timeout'):
            if not _is_positive_number(getattr(self, name)):
                fail(f'{name} must be a positive number of seconds, got {getattr(self, name)!r}')
        if self.tcp_keepalive is not None and not (_is_positive_number(self.tcp_keepalive) and self.tcp_keepalive >= 1):
            fail(f'tcp_keepalive must be None or at least 1 second, got {self.tcp_keepalive!r}')
        if not _is_int(self.max_idle_connections) or self.max_idle_connections < 0:
            fail(f'max_idle_connections must be a whole number >= 0, got {self.max_idle_connections!r}')
        if not _is_int(self.max_waits) or self.max_waits < 1:
            fail(f'max_waits must be a whole number >= 1, got {self.max_waits!r}')
        if not _is_int(self.async_call_threads) or self.async_call_threads < 1:
            fail(f'async_call_threads must be a whole number >= 1, got {self.async_call_threads!r}')
        if not isinstance(self.owner, str):
            fail(f'owner must be a string, got {self.owner!r}')
        if self.ttl is not None:
            ttl_ms(self.ttl, error=ConfigError)
        self._check_security(fail)

    def _check_security(self, fail):
        # Frozen dataclass: normalized fields are set with object.__setattr__.
        for name in ('tls_ca', 'tls_cert', 'tls_key', 'credential_file'):
            value = getattr(self, name)
            if value is not None:
                if not isinstance(value, (str, os.PathLike)) or not os.fspath(value):
                    fail(f'{name} must be None or a file path, got {value!r}')
                object.__setattr__(self, name, os.fspath(value))
        if not isinstance(self.tls, bool):
            fail(f'tls must be True or False, got {self.tls!r}')
        if self.tls_cert is not None and self.tls_key is None:
            fail(f'tls_cert={self.tls_cert!r} needs tls_key, the file with its private key')
        if self.tls_key is not None and self.tls_cert is None:
            fail(f'tls_key={self.tls_key!r} needs tls_cert, the client certificate it belongs to')
        if self.tls_ca is not None or self.tls_cert is not None:
            object.__setattr__(self, 'tls', True)
        if self.credential_file is not None:
            if self.credential is not None:
                fail('give credential or credential_file, not both')
            object.__setattr__(self, 'credential', read_credential_file(self.credential_file))
        else:
            object.__setattr__(self, 'credential', to_credential(self.credential))


def parse_address(address):
    """Parses "host:port" (as in LOCKD_ADDR); "[::1]:9090" for IPv6. Raises ConfigError."""
    text = address.strip() if isinstance(address, str) else ''
    host, sep, port = text.rpartition(':')
    if host.startswith('[') and host.endswith(']'):
        host = host[1:-1]
    if not sep or not host or not port.isdigit() or not 1 <= int(port) <= 65535:
        raise ConfigError(f'address {address!r} is not host:port (for example localhost:9090)')
    return host, int(port)


def resolve_options(host=None, port=None, env=None, **overrides):
    """Defaults, then LOCKD_ADDR and LOCKD_CREDENTIAL from `env` (when given), then host/port
    and the other fields passed; fields passed as None keep their default, and a credential or
    credential_file passed replaces LOCKD_CREDENTIAL. Raises ConfigError naming the first bad field."""
    fields = {}
    if env is not None and env.get('LOCKD_ADDR'):
        fields['host'], fields['port'] = parse_address(env['LOCKD_ADDR'])
    if env is not None and overrides.get('credential') is None and overrides.get('credential_file') is None:
        credential = credential_from_env(env)
        if credential is not None:
            fields['credential'] = credential
    known = {f.name for f in dataclasses.fields(ClientOptions)}
    unknown = sorted(set(overrides) - known)
    if unknown:
        raise ConfigError(f'unknown LockClient option(s) {", ".join(unknown)}; known: {", ".join(sorted(known))}')
    given = dict(overrides, host=host, port=port)
    fields.update({name: value for name, value in given.items() if value is not None})
    return ClientOptions(**fields)


# --- seconds -> the wire's milliseconds -----------------------------------------------------

def ttl_ms(seconds, error=InvalidArgumentError):
    """A lease length in whole ms (at least 1), or None to let lockd choose."""
    if seconds is None:
        return None
    if not _is_positive_number(seconds) or math.isinf(seconds):
        raise error(f'ttl must be a positive number of seconds (or None for lockd\'s --default-ttl), got {seconds!r}')
    return max(1, round(seconds * 1000))


#: The wire's waitMs for "until granted".
WAIT_FOREVER_MS = -1


def wait_ms(seconds):
    """The wire's waitMs: None -> -1 (until granted), 0 -> 0 (try once), else ms rounded up."""
    if seconds is None:
        return WAIT_FOREVER_MS
    if not isinstance(seconds, (int, float)) or isinstance(seconds, bool) or seconds < 0 or math.isnan(seconds):
        raise InvalidArgumentError(f'wait must be None (until granted), 0 (try once) or a positive number of seconds, got {seconds!r}')
    if math.isinf(seconds):
        return WAIT_FOREVER_MS
    return math.ceil(seconds * 1000)


def _is_int(value):
    return isinstance(value, int) and not isinstance(value, bool)


def _is_positive_number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0 and not math.isnan(value)


def _failer(prefix):
    def fail(message):
        raise ConfigError(f'{prefix}: {message}')
    return fail
