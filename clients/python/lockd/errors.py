"""Typed errors. Each carries a stable string ``code`` to branch on (the same codes as lockd's
TypeScript client) and, for refusals that crossed the wire, the IDL's numeric ``wire_code``.

Where a Python built-in means the same thing the error derives from it as well, so
``except ValueError``, ``except TimeoutError`` and ``except ConnectionError`` keep working.
"""
import builtins
import enum

from ._gen.ttypes import ErrorCode as _IdlErrorCode


#: The IDL's ErrorCode values (idl/lock_service.thrift), as LockError carries them: built from
#: the generated enum, so a code added to the IDL appears here on regeneration.
WireErrorCode = enum.IntEnum('WireErrorCode', _IdlErrorCode._NAMES_TO_VALUES)


class LockdError(Exception):
    """Base class of every error this package raises."""

    #: Stable string code, e.g. "LOCKD_NOT_HOLDER".
    code = 'LOCKD_ERROR'
    #: The IDL ErrorCode when lockd refused the call with a LockError, else None.
    wire_code = None

    def __init__(self, message):
        super().__init__(message)
        self.message = message


class InvalidArgumentError(LockdError, ValueError):
    """A field is missing or out of range; the message names it and the allowed range."""

    code = 'LOCKD_INVALID_ARGUMENT'
    wire_code = WireErrorCode.INVALID_ARGUMENT


class NotHolderError(LockdError):
    """The token names no live lease on that key: it is wrong, released or expired."""

    code = 'LOCKD_NOT_HOLDER'
    wire_code = WireErrorCode.NOT_HOLDER


class ResourceExhaustedError(LockdError):
    """A limit was reached (lockd's connections, waiters or leases, or this client's max_waits); retry later."""

    code = 'LOCKD_RESOURCE_EXHAUSTED'
    wire_code = WireErrorCode.RESOURCE_EXHAUSTED


class UnauthenticatedError(LockdError):
    """Credentials are missing or wrong."""

    code = 'LOCKD_UNAUTHENTICATED'
    wire_code = WireErrorCode.UNAUTHENTICATED


class PermissionDeniedError(LockdError):
    """The credentials do not allow the call."""

    code = 'LOCKD_PERMISSION_DENIED'
    wire_code = WireErrorCode.PERMISSION_DENIED


class UnavailableError(LockdError):
    """lockd is shutting down or cannot make the change durable; retry elsewhere or later."""

    code = 'LOCKD_UNAVAILABLE'
    wire_code = WireErrorCode.UNAVAILABLE


class LockTimeoutError(LockdError, TimeoutError):
    """The wait for a busy lock ran out before it was granted."""

    code = 'LOCKD_LOCK_TIMEOUT'


class ConnectionError(LockdError, builtins.ConnectionError):  # noqa: A001 - named as the brief and the TS client name it
    """lockd could not be reached, or the connection broke during a call: a network failure, not a refusal."""

    code = 'LOCKD_CONNECTION'


class CallTimeoutError(ConnectionError):
    """lockd did not answer within call_timeout (plus the wait the call asked for)."""

    code = 'LOCKD_CALL_TIMEOUT'


class ProtocolError(LockdError):
    """lockd answered with something this client does not understand (a TApplicationException,
    an unknown error code): usually a client and server built from different IDLs, or a
    transport/protocol mismatch."""

    code = 'LOCKD_PROTOCOL'


class ConfigError(LockdError, ValueError):
    """An invalid client option or LOCKD_ADDR."""

    code = 'LOCKD_CONFIG'


#: Alias that does not shadow the built-in name when imported with ``from lockd.errors import *``.
LockdConnectionError = ConnectionError

_BY_WIRE_CODE = {cls.wire_code: cls for cls in (
    InvalidArgumentError, NotHolderError, ResourceExhaustedError,
    UnauthenticatedError, PermissionDeniedError, UnavailableError,
)}


def error_from_wire(code, message):
    """The typed error for a LockError that arrived over the wire."""
    cls = _BY_WIRE_CODE.get(code)
    if cls is None:
        return ProtocolError(f'lockd answered with unknown error code {code}: {message}')
    return cls(message)
