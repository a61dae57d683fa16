"""A Python client generated from idl/lock_service.thrift drives lockd and prints one JSON report.

usage: lockd_client.py GEN_PY_DIR PORT buffered|framed binary|compact

The test compares the whole report, so every line here is an assertion about lockd's wire
behaviour as a Python caller sees it.
"""
import json
import re
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
report['token_hex'] = re.fullmatch('[0-9a-f]+', lease.token) is not None
report['fence_positive'] = lease.fence > 0
# Busy, and try-once: no lease for the second caller.
report['busy'] = client.acquire(LockRequest(lockKey='py/job')).acquired
again = client.acquire(LockRequest(lockKey='py/job', token=lease.token)).lease
report['reentered'] = {'holdCount': again.holdCount, 'sameToken': again.token == lease.token, 'sameFence': again.fence == lease.fence}
report['wrong_token_release'] = client.release('py/job', '0' * 32)
info = client.inspect('py/job')
report['inspect'] = {
    'owner': info.holders[0].owner,
    'holders': len(info.holders),
    'fence': info.holders[0].fence == lease.fence,
    'mode': LockMode._VALUES_TO_NAMES[info.holders[0].mode],
}
report['renew_keeps_fence'] = client.renew('py/job', lease.token, 20000).fence == lease.fence
report['check_fence'] = client.checkFence('py/job', lease.fence)
report['check_other_fence'] = client.checkFence('py/job', lease.fence + 1)
try:
    client.acquire(LockRequest(lockKey=''))
    report['empty_key_error'] = None
except LockError as error:
    report['empty_key_error'] = ErrorCode._VALUES_TO_NAMES[error.code]
    report['empty_key_message_names_field'] = 'lockKey' in error.message
# Held twice (re-entered): two releases free it, a third finds nothing.
report['release_1'] = client.release('py/job', lease.token)
report['release_2'] = client.release('py/job', lease.token)
report['release_3'] = client.release('py/job', lease.token)
report['listed'] = [info.lockKey for info in client.listLocks('py/', 0)]
report['ping'] = client.ping()
transport.close()
print(json.dumps(report))
