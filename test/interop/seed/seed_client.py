from thrift.transport import TSocket
from thrift.transport import TTransport
from thrift.protocol import TBinaryProtocol

from generated import lock_service

def main():
    transport = TSocket.TSocket('localhost', 9090)
    transport = TTransport.TBufferedTransport(transport)
    protocol = TBinaryProtocol.TBinaryProtocol(transport)

    client = lock_service.LockService.Client(protocol)
    transport.open()

    lock_request = lock_service.LockRequest('file_lock_key')

    acquired = client.acquireLock(lock_request)
    if acquired:
        # Perform the file write operation
        print('Lock acquired. Writing to file...')
        # Write to file
        # Release the lock
        client.releaseLock(lock_request)
        print('Lock released.')
    else:
        print('Failed to acquire lock. Another process is writing to the file.')

    transport.close()

if __name__ == '__main__':
    main()
