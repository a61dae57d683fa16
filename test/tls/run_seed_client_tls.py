"""Runs seed_client.py (the seed 000 client, verbatim) against lockd over TLS.

usage: run_seed_client_tls.py SEED_GEN_PY_DIR LOCKD_PORT CA_FILE [CLIENT_CERT CLIENT_KEY]

Only the socket class differs from test/interop/seed/run_seed_client.py: the client's
TSocket.TSocket('localhost', 9090) becomes python3-thrift's TSSLSocket.TSSLSocket aimed at
127.0.0.1:LOCKD_PORT, trusting CA_FILE and presenting the client certificate when given.
"""
import os
import runpy
import sys
import warnings

here = os.path.dirname(os.path.abspath(__file__))
seed_dir = os.path.join(here, '..', 'interop', 'seed')
gen_py_dir, lockd_port, ca_file = sys.argv[1], int(sys.argv[2]), sys.argv[3]
client_cert = sys.argv[4] if len(sys.argv) > 4 else None
client_key = sys.argv[5] if len(sys.argv) > 5 else None
sys.path[:0] = [gen_py_dir, seed_dir]

import types  # noqa: E402

import thrift.transport  # noqa: E402
from thrift.transport import TSocket, TSSLSocket  # noqa: E402

# python3-thrift 0.17's TSSLSocket uses ssl calls Python 3.11 deprecates (and turns their
# warnings on when imported); they are noise here.
warnings.filterwarnings('ignore', category=DeprecationWarning)


def tls_socket(host='localhost', port=9090, *args, **kwargs):
    if port == 9090:
        host, port = '127.0.0.1', lockd_port
    return TSSLSocket.TSSLSocket(host, port, ca_certs=ca_file, certfile=client_cert, keyfile=client_key)


# The client's `from thrift.transport import TSocket` sees a module whose TSocket is the TLS
# socket; TSSLSocket keeps the real module it subclasses from.
shim = types.ModuleType('thrift.transport.TSocket')
shim.__dict__.update(TSocket.__dict__)
shim.TSocket = tls_socket
thrift.transport.TSocket = shim
sys.modules['thrift.transport.TSocket'] = shim
runpy.run_path(os.path.join(seed_dir, 'seed_client.py'), run_name='__main__')
