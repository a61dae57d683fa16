// Drives lockd with the generated gen-nodejs stubs on the npm thrift runtime, callback style,
// and prints one JSON report. Run by generated-node-client.test.ts as a plain Node process:
// thrift 0.24 pulls in the ESM-only uuid package, which Node loads but jest's module system does not.
// usage: node generated-client.js PORT buffered|framed binary|compact
const thrift = require('thrift');
const LockService = require('../../gen-nodejs/LockService');
const types = require('../../gen-nodejs/lock_service_types');

const [port, transportName, protocolName] = process.argv.slice(2);
const transport = transportName === 'framed' ? thrift.TFramedTransport : thrift.TBufferedTransport;
const protocol = protocolName === 'compact' ? thrift.TCompactProtocol : thrift.TBinaryProtocol;
const connection = thrift.createConnection('127.0.0.1', Number(port), { transport, protocol });
connection.on('error', (error) => {
  console.error(error);
  process.exit(1);
});
const client = thrift.createClient(LockService, connection);
const call = (fn) => new Promise((resolve) => fn((error, value) => resolve(error ? { error } : { value })));
const num = (value) => Number(String(value));

async function main() {
  const report = {};
  report.ping = (await call((cb) => client.ping(cb))).value;
  const { value: result } = await call((cb) => client.acquire(new types.LockRequest({ lockKey: 'gen', owner: 'node', ttlMs: 5000, mode: types.LockMode.SHARED }), cb));
  const token = result.lease.token;
  const fence = num(result.lease.fence);
  report.acquired = result.acquired;
  report.mode = result.lease.mode;
  report.ttlMs = num(result.lease.ttlMs);
  report.renewKeepsFence = num((await call((cb) => client.renew('gen', token, 8000, cb))).value.fence) === fence;
  report.checkFence = (await call((cb) => client.checkFence('gen', fence, cb))).value;
  report.inspectOwner = (await call((cb) => client.inspect('gen', cb))).value.holders[0].owner;
  report.listed = (await call((cb) => client.listLocks('g', 10, cb))).value.map((info) => info.lockKey);
  report.release = (await call((cb) => client.release('gen', token, cb))).value;
  report.acquireLock = (await call((cb) => client.acquireLock(new types.LockRequest({ lockKey: 'legacy' }), cb))).value;
  report.releaseLock = (await call((cb) => client.releaseLock(new types.LockRequest({ lockKey: 'legacy' }), cb))).value;
  report.cancelWait = (await call((cb) => client.cancelWait(12345, cb))).value;
  const invalid = (await call((cb) => client.acquire(new types.LockRequest({ lockKey: 'x', ttlMs: -1 }), cb))).error;
  report.invalid = { isLockError: invalid instanceof types.LockError, code: invalid.code, message: invalid.message };
  const stale = (await call((cb) => client.renew('gen', token, 1000, cb))).error;
  report.stale = { isLockError: stale instanceof types.LockError, code: stale.code };
  console.log(JSON.stringify(report));
  connection.end();
}
main();
