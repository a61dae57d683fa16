"""The module seed 000's client imports as `from generated import lock_service`.

The seed never shows it; its client uses `lock_service.LockService.Client` and
`lock_service.LockRequest`, so this re-exports both from the package the Thrift compiler
generates from the seed's IDL (`namespace py lockservice`, found on sys.path).
"""
from lockservice import LockService  # noqa: F401
from lockservice.ttypes import LockRequest  # noqa: F401
