"""lockd conformance scenarios (../python/scenarios.py) on ThriftPy (python3-thriftpy), which
parses the IDL at run time instead of generating code.

usage: conformance.py IDL_PATH HOST PORT buffered|framed binary|compact KEY_PREFIX
"""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'python'))
# docs:begin imports
import thriftpy
from thriftpy.protocol import TBinaryProtocolFactory, TCompactProtocolFactory
from thriftpy.rpc import make_client
from thriftpy.thrift import TApplicationException, TMessageType, TPayload
from thriftpy.transport import TBufferedTransportFactory, TFramedTransportFactory
# docs:end imports

import scenarios

lock_thrift = thriftpy.load(sys.argv[1], module_name='lock_service_thrift')


def connect(host, port, transport_name, protocol_name, timeout_ms):
    """A client on its own connection over the given transport and protocol."""
    transports = TFramedTransportFactory() if transport_name == 'framed' else TBufferedTransportFactory()
    protocols = TCompactProtocolFactory() if protocol_name == 'compact' else TBinaryProtocolFactory()
    # timeout (ms) must exceed the waitMs of every call (see the timeout rule).
    return make_client(lock_thrift.LockService, host, port, proto_factory=protocols, trans_factory=transports, timeout=timeout_ms)


def use_lease(client, key):
    """Acquire, renew and release with a fence; a LockError carries a code from ErrorCode."""
    result = client.acquire(lock_thrift.LockRequest(lockKey=key, owner='conformance', ttlMs=30000, waitMs=0))
    if not result.acquired:
        return None  # busy: someone else holds it
    lease = result.lease
    try:
        lease = client.renew(key, lease.token, 60000)  # same token, same fence
        return lease.fence
    except lock_thrift.LockError as error:
        if error.code == lock_thrift.ErrorCode.NOT_HOLDER:
            return None  # the lease expired: stop working on the resource
        raise
    finally:
        client.release(key, lease.token)


class NoArgs(TPayload):
    """An empty argument struct, for a call written by hand."""
    thrift_spec = {}
    default_spec = []


class Binding:
    """What scenarios.py needs from this runtime."""
    LockRequest, LockMode = lock_thrift.LockRequest, lock_thrift.LockMode
    ErrorCode, LockError = lock_thrift.ErrorCode, lock_thrift.LockError
    use_lease = staticmethod(use_lease)
    EXCEPTION, UNKNOWN_METHOD = TMessageType.EXCEPTION, TApplicationException.UNKNOWN_METHOD

    def __init__(self, host, port, transport_name, protocol_name):
        self.address = (host, port, transport_name, protocol_name)

    def connect(self, timeout_ms):
        client = connect(*self.address, timeout_ms)
        return client, client.close

    @staticmethod
    def send_acquire(client, request):
        client._send('acquire', lockRequest=request)

    @staticmethod
    def recv_acquire(client):
        return client._recv('acquire')

    @staticmethod
    def call_unknown_method(client, name, seqid):
        """Writes a call of `name` by hand through the client's own protocol; returns the reply's
        message type, its seqid and the TApplicationException it carries."""
        out = client._oprot
        out.write_message_begin(name, TMessageType.CALL, seqid)
        out.write_struct(NoArgs())
        out.write_message_end()
        out.trans.flush()
        _name, message_type, reply_seqid = client._iprot.read_message_begin()
        error = TApplicationException()
        client._iprot.read_struct(error)
        client._iprot.read_message_end()
        return message_type, reply_seqid, error


if __name__ == '__main__':
    host, port, transport_name, protocol_name, prefix = sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5], sys.argv[6]
    scenarios.run(Binding(host, port, transport_name, protocol_name), prefix)
