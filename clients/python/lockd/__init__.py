"""lockd client for Python: leases with fencing tokens from a lockd server, over python3-thrift.

    from lockd import LockClient
    client = LockClient("127.0.0.1", 9090)
    with client.lock("reports/daily", ttl=30) as lease:
        ...  # held, renewed in the background; lease.fence orders writers

See docs/clients/python.md in the lockd repository.
"""
from .aio import AsyncLease, AsyncLockClient
from .credentials import Credential, read_credential_file
from .client import HolderInfo, LeaseState, LockClient, LockInfo
from .errors import (
    CallTimeoutError,
    ConfigError,
    ConnectionError,
    InvalidArgumentError,
    LockdConnectionError,
    LockdError,
    LockTimeoutError,
    NotHolderError,
    PermissionDeniedError,
    ProtocolError,
    ResourceExhaustedError,
    UnauthenticatedError,
    UnavailableError,
    WireErrorCode,
)
from .lease import Lease
from .options import ClientOptions, parse_address

__version__ = '0.1.0'

__all__ = [
    'LockClient', 'AsyncLockClient', 'Lease', 'AsyncLease', 'LockInfo', 'HolderInfo', 'LeaseState',
    'ClientOptions', 'parse_address', 'Credential', 'read_credential_file',
    'LockdError', 'InvalidArgumentError', 'NotHolderError', 'ResourceExhaustedError', 'UnauthenticatedError',
    # ConnectionError is left out so `from lockd import *` does not shadow the built-in;
    # lockd.ConnectionError and LockdConnectionError name it.
    'PermissionDeniedError', 'UnavailableError', 'LockTimeoutError', 'LockdConnectionError',
    'CallTimeoutError', 'ProtocolError', 'ConfigError', 'WireErrorCode',
]
