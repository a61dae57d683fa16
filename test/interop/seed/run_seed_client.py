"""Runs seed_client.py (the seed 000 client, verbatim) against a lockd on another port.

usage: run_seed_client.py SEED_GEN_PY_DIR LOCKD_PORT

The client imports `generated.lock_service` (the shim package next to this file, over the code
generated from the seed's IDL in SEED_GEN_PY_DIR) and dials localhost:9090. Rather than edit the
client, this redirects any TSocket aimed at port 9090 to 127.0.0.1:LOCKD_PORT, then runs the
client as __main__.
"""
import os
import runpy
import sys

here = os.path.dirname(os.path.abspath(__file__))
gen_py_dir, lockd_port = sys.argv[1], int(sys.argv[2])
sys.path[:0] = [gen_py_dir, here]

from thrift.transport import TSocket  # noqa: E402

_original_init = TSocket.TSocket.__init__


def _redirected_init(self, host='localhost', port=9090, *args, **kwargs):
    if port == 9090:
        host, port = '127.0.0.1', lockd_port
    _original_init(self, host, port, *args, **kwargs)


TSocket.TSocket.__init__ = _redirected_init
runpy.run_path(os.path.join(here, 'seed_client.py'), run_name='__main__')
