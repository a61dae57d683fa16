"""Runs seed_client.py unchanged against a lockd on another port.

The seed's client imports `generated.lock_service` (a module exposing LockService and
LockRequest) and dials localhost:9090. This wrapper builds that module from the code the Thrift
compiler generated from the seed's IDL and points port 9090 at LOCKD_PORT, leaving the client's
own code untouched.
"""
import os
import runpy
import sys
import types

sys.path.insert(0, os.environ['SEED_GEN_PY'])
from lockservice import LockService  # noqa: E402
from lockservice.ttypes import LockRequest  # noqa: E402
from thrift.transport import TSocket  # noqa: E402

generated = types.ModuleType('generated')
lock_service = types.ModuleType('generated.lock_service')
lock_service.LockService = LockService
lock_service.LockRequest = LockRequest
generated.lock_service = lock_service
sys.modules['generated'] = generated
sys.modules['generated.lock_service'] = lock_service

_original_init = TSocket.TSocket.__init__


def _redirected_init(self, host='localhost', port=9090, *args, **kwargs):
    if port == 9090:
        host, port = '127.0.0.1', int(os.environ['LOCKD_PORT'])
    _original_init(self, host, port, *args, **kwargs)


TSocket.TSocket.__init__ = _redirected_init
runpy.run_path(os.path.join(os.path.dirname(__file__), 'seed_client.py'), run_name='__main__')
