/** Ephemeral grants end with their connection: closed cleanly, or with the client process killed. */
import { spawn } from 'node:child_process';
import path from 'node:path';
import { startInProcess, stopAll, until } from '../helpers/in-process-lockd';

afterEach(stopAll);

test('an ephemeral lease is released when its connection closes, whatever its TTL, and the next waiter gets it', async () => {
  const lockd = await startInProcess();
  const holder = await lockd.connect();
  await holder.acquire({ lockKey: 'eph', ephemeral: true, ttlMs: 3_600_000 }).reply;
  const waiter = await lockd.connect();
  const parked = waiter.acquire({ lockKey: 'eph', waitMs: -1 }).reply;
  await until(async () => (await waiter.inspect('eph')).waiters === 1, 'the waiter to park');
  holder.connection.close();
  expect((await parked).acquired).toBe(true);
});

test('an ephemeral lease held by a client process that is killed with SIGKILL is released', async () => {
  const lockd = await startInProcess();
  // The child loads the built stub from dist/ (npm test builds before jest runs).
  const stub = path.resolve(__dirname, '../../dist/src/client/service-stub.js');
  const connection = path.resolve(__dirname, '../../dist/src/client/thrift-connection.js');
  const script = `
    const { ThriftConnection } = require(${JSON.stringify(connection)});
    const { LockServiceStub } = require(${JSON.stringify(stub)});
    ThriftConnection.connect({ host: '127.0.0.1', port: ${lockd.port}, transport: 'buffered', protocol: 'binary', connectTimeoutMs: 5000, maxMessageBytes: 1 << 20 })
      .then((c) => new LockServiceStub(c, 5000).acquire({ lockKey: 'crash', ephemeral: true, ttlMs: 3600000 }).reply)
      .then((r) => { console.log(r.acquired ? 'held' : 'busy'); setInterval(() => {}, 1000); });
  `;
  const child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  try {
    let output = '';
    child.stdout.on('data', (chunk) => (output += chunk));
    await until(() => output.includes('held'), 'the child to hold the lock', 10_000);
    const waiter = await lockd.connect();
    expect((await waiter.acquire({ lockKey: 'crash' }).reply).acquired).toBe(false);
    const parked = waiter.acquire({ lockKey: 'crash', waitMs: -1 }).reply;
    child.kill('SIGKILL');
    expect((await parked).acquired).toBe(true);
  } finally {
    child.kill('SIGKILL');
  }
});

test('ephemeral leases of one connection do not touch another connection\'s leases', async () => {
  const lockd = await startInProcess();
  const a = await lockd.connect();
  const b = await lockd.connect();
  await a.acquire({ lockKey: 'a1', ephemeral: true }).reply;
  await b.acquire({ lockKey: 'b1', ephemeral: true }).reply;
  a.connection.close();
  await until(async () => (await b.inspect('a1')).holders.length === 0, 'a1 to be freed');
  expect((await b.inspect('b1')).holders).toHaveLength(1);
});
