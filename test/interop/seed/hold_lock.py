"""A second seed-style client that takes the seed's lock and keeps it until told to go.

usage: hold_lock.py SEED_GEN_PY_DIR LOCKD_PORT

Calls acquireLock('file_lock_key') with the code generated from the seed's IDL, prints `held`
or `refused`, then waits for its stdin to close and exits without releasing: lockd must free a
seed-style grant when the connection that made it closes.
"""
import os
import sys

sys.path[:0] = [sys.argv[1], os.path.dirname(os.path.abspath(__file__))]

from generated import lock_service  # noqa: E402
from thrift.protocol import TBinaryProtocol  # noqa: E402
from thrift.transport import TSocket, TTransport  # noqa: E402

transport = TTransport.TBufferedTransport(TSocket.TSocket('127.0.0.1', int(sys.argv[2])))
client = lock_service.LockService.Client(TBinaryProtocol.TBinaryProtocol(transport))
transport.open()
print('held' if client.acquireLock(lock_service.LockRequest('file_lock_key')) else 'refused', flush=True)
sys.stdin.read()
