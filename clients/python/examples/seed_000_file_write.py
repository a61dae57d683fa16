"""Seed 000's job on lockd: one process at a time writes the shared file.

    LOCKD_ADDR=127.0.0.1:9090 python3 seed_000_file_write.py /tmp/shared.txt
"""
import sys

from lockd import LockClient

path = sys.argv[1] if len(sys.argv) > 1 else 'shared.txt'
client = LockClient.from_env()  # LOCKD_ADDR=host:port, else localhost:9090

# acquireLock/releaseLock, as in the seed: try once; the grant is bound to this client's
# connection, so it is freed at once if the process dies before releasing.
if client.acquire_lock('file_lock_key'):
    print('Lock acquired. Writing to file...')
    with open(path, 'a') as shared:
        shared.write('one writer at a time\n')
    client.release_lock('file_lock_key')
    print('Lock released.')
else:
    print('Failed to acquire lock. Another process is writing to the file.')
client.close()
