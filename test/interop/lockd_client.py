"""A Python client generated from idl/lock_service.thrift, driving lockd; prints one JSON report.

usage: lockd_client.py GEN_PY_DIR PORT buffered|framed binary|compact
"""
import json
import sys

sys.path.insert(0, sys.argv[1])
from lockservice import LockService  # noqa: E402
from lockservice.ttypes import ErrorCode, LockError, LockMode, LockRequest  # noqa: E402
from thrift.protocol import TBinaryProtocol, TCompactProtocol  # noqa: E402
from thrift.transport import TSocket, TTransport  # noqa: E402

port, transport_name, protocol_name = int(sys.argv[2]), sys.argv[3], sys.argv[4]
socket = TSocket.TSocket('127.0.0.1', port)
transport = TTransport.TFramedTransport(socket) if transport_name == 'framed' else TTransport.TBufferedTransport(socket)
protocol = TCompactProtocol.TCompactProtocol(transport) if protocol_name == 'compact' else TBinaryProtocol.TBinaryProtocol(transport)
client = LockService.Client(protocol)
transport.open()

report = {}
result = client.acquire(LockRequest(lockKey='py/job', owner='python', ttlMs=10000, mode=LockMode.EXCLUSIVE))
lease = result.lease
report['acquired'] = result.acquired
report['token_length'] = len(lease.token)
report['fence_positive'] = lease.fence > 0
report['busy'] = client.acquire(LockRequest(lockKey='py/job')).acquired
report['reentered_hold_count'] = client.acquire(LockRequest(lockKey='py/job', token=lease.token)).lease.holdCount
report['wrong_token_release'] = client.release('py/job', '0' * 32)
report['inspect_owner'] = client.inspect('py/job').holders[0].owner
report['renew_keeps_fence'] = client.renew('py/job', lease.token, 20000).fence == lease.fence
report['check_fence'] = client.checkFence('py/job', lease.fence)
try:
    client.acquire(LockRequest(lockKey=''))
    report['empty_key_error'] = None
except LockError as error:
    report['empty_key_error'] = ErrorCode._VALUES_TO_NAMES[error.code]
    report['empty_key_message'] = error.message
report['release_1'] = client.release('py/job', lease.token)
report['release_2'] = client.release('py/job', lease.token)
report['listed'] = [info.lockKey for info in client.listLocks('py/', 0)]
report['ping'] = client.ping()
transport.close()
print(json.dumps(report))
