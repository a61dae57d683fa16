/**
 * A no-op LockService on the npm thrift runtime's own server (buffered + binary, callback
 * handlers): the cost of the generic Thrift path with no lock logic at all. Prints its port.
 */
import path from 'node:path';
import thrift from 'thrift';

const root = path.resolve(__dirname, '../../../..');
// eslint-disable-next-line @typescript-eslint/no-var-requires
const LockService = require(path.join(root, 'gen-nodejs/LockService'));
// eslint-disable-next-line @typescript-eslint/no-var-requires
const types = require(path.join(root, 'gen-nodejs/lock_service_types'));

type Done = (error: unknown, value?: unknown) => void;
const lease = new types.Lease({ lockKey: 'k', token: '0'.repeat(32), fence: 1, ttlMs: 30000, expiresAtMs: 0, mode: 1, holdCount: 1 });
const handler = {
  acquire: (_request: unknown, done: Done) => done(null, new types.AcquireResult({ acquired: true, lease })),
  release: (_key: string, _token: string, done: Done) => done(null, true),
  ping: (done: Done) => done(null, 'pong'),
};
const server = thrift.createServer(LockService, handler as never, { transport: thrift.TBufferedTransport, protocol: thrift.TBinaryProtocol });
server.on('error', () => {});
server.listen(0, '127.0.0.1');
server.on('listening', () => console.log(`listening on 127.0.0.1:${(server.address() as { port: number }).port}`));
process.on('SIGTERM', () => process.exit(0));
