// Drives lockd with the generated gen-nodejs stubs on the npm thrift runtime, callback style,
// and prints one JSON report for generated-node-client.test.ts to compare.
// It runs as a plain Node process because thrift 0.24 requires the ESM-only `uuid` package,
// which Node 20 loads but jest's module system does not.
// usage: node generated-client.js PORT buffered|framed binary|compact
'use strict';
const thrift = require('thrift');
const types = require('../../gen-nodejs/lock_service_types');
const { ProbeClient } = require('./clients/node/probe-client');

const { Thrift } = thrift;
const [port, transportName, protocolName] = process.argv.slice(2);

const connection = thrift.createConnection('127.0.0.1', Number(port), {
  transport: transportName === 'framed' ? thrift.TFramedTransport : thrift.TBufferedTransport,
  protocol: protocolName === 'compact' ? thrift.TCompactProtocol : thrift.TBinaryProtocol,
});
// Until the report is printed a close is a failure: pending callbacks would never run.
let done = false;
connection.on('close', () => done || fail('lockd closed the connection before the run finished'));
connection.on('error', (error) => fail(`connection error: ${error.stack || error}`));
const client = thrift.createClient(ProbeClient, connection);

function fail(message) {
  process.stderr.write(`${message}\n`);
  process.exit(1);
}
/** Calls `start(callback)` and resolves with { value } or { error }. */
const call = (start) => new Promise((resolve) => start((error, value) => resolve(error ? { error } : { value })));
/** Like call, but an error is a failure of the whole run (with the method named). */
async function ok(what, start) {
  const { error, value } = await call(start);
  if (error) fail(`${what} failed: ${error.stack || JSON.stringify(error)}`);
  return value;
}
/** i64 fields arrive as node-int64 values in callback style. */
const num = (value) => Number(String(value));

async function main() {
  const report = {};
  report.ping = await ok('ping', (cb) => client.ping(cb));

  const result = await ok('acquire', (cb) => client.acquire(new types.LockRequest({ lockKey: 'gen', owner: 'node', ttlMs: 5000, mode: types.LockMode.SHARED }), cb));
  const { token } = result.lease;
  const fence = num(result.lease.fence);
  report.acquire = { acquired: result.acquired, mode: result.lease.mode, ttlMs: num(result.lease.ttlMs), holdCount: result.lease.holdCount };
  report.renewKeepsFence = num((await ok('renew', (cb) => client.renew('gen', token, 8000, cb))).fence) === fence;
  report.checkFence = await ok('checkFence', (cb) => client.checkFence('gen', fence, cb));
  const info = await ok('inspect', (cb) => client.inspect('gen', cb));
  report.inspect = { lockKey: info.lockKey, owners: info.holders.map((holder) => holder.owner), waiters: info.waiters };
  report.listed = (await ok('listLocks', (cb) => client.listLocks('g', 10, cb))).map((entry) => entry.lockKey);
  report.release = await ok('release', (cb) => client.release('gen', token, cb));
  report.releaseAgain = await ok('release', (cb) => client.release('gen', token, cb));

  report.acquireLock = await ok('acquireLock', (cb) => client.acquireLock(new types.LockRequest({ lockKey: 'legacy' }), cb));
  report.acquireLockAgain = await ok('acquireLock', (cb) => client.acquireLock(new types.LockRequest({ lockKey: 'legacy' }), cb));
  report.releaseLock = await ok('releaseLock', (cb) => client.releaseLock(new types.LockRequest({ lockKey: 'legacy' }), cb));
  report.cancelWait = await ok('cancelWait', (cb) => client.cancelWait(12345, cb));

  const invalid = (await call((cb) => client.acquire(new types.LockRequest({ lockKey: 'x', ttlMs: -1 }), cb))).error;
  report.invalid = { isLockError: invalid instanceof types.LockError, code: invalid && invalid.code, message: invalid && invalid.message };
  const stale = (await call((cb) => client.renew('gen', token, 1000, cb))).error;
  report.stale = { isLockError: stale instanceof types.LockError, code: stale && stale.code };

  const unknown = (await call((cb) => client.noSuchMethod(cb)));
  report.unknownMethod = {
    isApplicationException: unknown.error instanceof Thrift.TApplicationException,
    type: unknown.error && unknown.error.type,
    message: unknown.error && unknown.error.message,
    value: unknown.value,
  };
  // Same connection, still usable.
  report.pingAfterUnknown = await ok('ping after unknown method', (cb) => client.ping(cb));
  done = true;
  process.stdout.write(`${JSON.stringify(report)}\n`);
  connection.end();
}
main().catch((error) => fail(error.stack));
