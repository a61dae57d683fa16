/** lockd as a process: configuration errors, readiness, and a graceful SIGTERM. */
import { ThriftConnection } from '../../src/client/thrift-connection';
import { UnavailableError } from '../../src/errors';
import { CALL_WRITERS } from '../../src/protocol/lock-service/client';
import { connectStub } from '../helpers/in-process-lockd';
import { runLockd, startLockd, stopAllLockd } from '../helpers/lockd-process';

afterEach(stopAllLockd);

test.each([
  [['--port', 'seventy'], /--port: "seventy" is not a port number/],
  [['--default-ttl', '5x'], /--default-ttl: "5x" is not a positive duration/],
  [['--min-ttl', '10s', '--max-ttl', '1s'], /--min-ttl 10s is above --max-ttl 1s/],
  [['--bogus'], /unknown argument "--bogus"/],
  [['--transport', 'http'], /one of buffered, framed/],
  [['--etcd', 'http://127.0.0.1:1', '--data-dir', '/tmp/x'], /--data-dir does not apply with --etcd/],
  [['--etcd', 'http://127.0.0.1:1', '--in-memory'], /--in-memory does not apply with --etcd/],
  [['--etcd', 'http://127.0.0.1:1', '--port', '0'], /cluster mode needs --advertise host:port/],
  [['--etcd', 'etcd.example:2379', '--port', '9999'], /--etcd endpoint "etcd.example:2379" must look like http:\/\/host:port/],
])('invalid configuration %p exits 2 with a one-line reason', async (args, reason) => {
  const { code, output } = await runLockd(args as string[]);
  expect(code).toBe(2);
  expect(output).toMatch(reason);
  expect(output.trim().split('\n')).toHaveLength(1);
});

test('LOCKD_* variables configure it, and flags win over them', async () => {
  const bad = await runLockd([], { env: { LOCKD_DEFAULT_TTL: 'soon' } });
  expect(bad.code).toBe(2);
  expect(bad.output).toMatch(/LOCKD_DEFAULT_TTL: "soon"/);
  const lockd = await startLockd(['--default-ttl', '7s'], { env: { LOCKD_DEFAULT_TTL: '9s' } });
  const stub = await connectStub(lockd.port);
  expect((await stub.acquire({ lockKey: 'env' }).reply).lease!.ttlMs).toBe(7_000);
});

test('--help lists every flag with its default and variable', async () => {
  const { code, output } = await runLockd(['--help']);
  expect(code).toBe(0);
  for (const flag of ['--port', '--transport', '--protocol', '--default-ttl', '--max-message-size', '--fsync', '--log-format']) {
    expect(output).toContain(flag);
  }
  expect(output).toContain('LOCKD_DEFAULT_TTL');
});

test('SIGTERM answers parked waiters with UNAVAILABLE, closes connections and exits 0', async () => {
  // Debug logs say when the waiter is parked, so the test waits for that line instead of polling.
  const lockd = await startLockd(['--log-level', 'debug']);
  const holder = await connectStub(lockd.port);
  await holder.acquire({ lockKey: 'busy' }).reply;
  const waiter = await connectStub(lockd.port);
  const parked = waiter.acquire({ lockKey: 'busy', waitMs: -1 }).reply.catch((error: Error) => error);
  await lockd.waitForOutput(/debug queued .*"key":"busy"/);
  expect((await holder.inspect('busy')).waiters).toBe(1);
  expect(await lockd.stop()).toBe(0);
  const answer = await parked;
  expect(answer).toBeInstanceOf(UnavailableError);
  expect((answer as Error).message).toMatch(/shutting down/);
  expect(lockd.output()).toMatch(/stopping.*SIGTERM/);
});

test('the startup log shows the effective configuration and the listening line comes once ready', async () => {
  const lockd = await startLockd(['--log-format', 'json']);
  const started = lockd.output().split('\n').find((line) => line.includes('lockd started'));
  expect(JSON.parse(started!).config).toMatchObject({ host: '127.0.0.1', transport: 'buffered', protocol: 'binary', inMemory: true });
  expect(await (await connectStub(lockd.port)).ping()).toBe('pong');
});

test('with --log-level debug every lock operation is logged, and no token ever appears in the logs', async () => {
  const lockd = await startLockd(['--log-level', 'debug']);
  const client = await connectStub(lockd.port);
  const lease = (await client.acquire({ lockKey: 'secret-job', owner: 'auditor' }).reply).lease!;
  await client.renew('secret-job', lease.token, 10_000);
  await client.acquire({ lockKey: 'secret-job', token: lease.token }).reply;
  await client.release('secret-job', lease.token);
  await client.release('secret-job', lease.token);
  await client.release('secret-job', lease.token);
  await client.releaseLock({ lockKey: 'secret-job', token: lease.token });
  await expect(client.renew('secret-job', lease.token, 10_000)).rejects.toThrow();
  await lockd.stop();
  const output = lockd.output();
  expect(output).toMatch(/debug granted .*"key":"secret-job"/);
  expect(output).toMatch(/debug renewed/);
  expect(output).toMatch(/debug released/);
  expect(output).not.toContain(lease.token);
});

test('--version prints the package version', async () => {
  const { code, output } = await runLockd(['--version']);
  expect(code).toBe(0);
  expect(output.trim()).toBe(`lockd ${require('../../package.json').version}`);
});

test('a port in use exits 1 with a hint', async () => {
  const first = await startLockd();
  const { code, output } = await runLockd(['--port', String(first.port), '--in-memory']);
  expect(code).toBe(1);
  expect(output).toMatch(/EADDRINUSE.*perhaps another lockd: stop it, or pick another port with --port/);
});

test('an expiry is logged at info with key, owner and fence, never the token', async () => {
  const lockd = await startLockd(['--min-ttl', '50ms', '--log-level', 'info']);
  const stub = await connectStub(lockd.port);
  const lease = (await stub.acquire({ lockKey: 'short-lived', owner: 'worker-7', ttlMs: 100 }).reply).lease!;
  await lockd.waitForOutput(/info lease expired \{"key":"short-lived","owner":"worker-7","fence":\d+\}/);
  expect(lockd.output()).not.toContain(lease.token);
});

test('an HTTP request to the Thrift port is told the HTTP listener\'s port', async () => {
  const lockd = await startLockd(['--http-port', '0']);
  const httpPort = Number(/lockd http listening on [\d.]+:(\d+)/.exec(lockd.output())?.[1]);
  const reply = await new Promise<string>((resolve, reject) => {
    const socket = require('node:net').connect(lockd.port, '127.0.0.1', () => socket.write('GET /metrics HTTP/1.1\r\n\r\n'));
    let text = '';
    socket.on('data', (chunk: Buffer) => (text += chunk.toString()));
    socket.on('close', () => resolve(text));
    socket.on('error', reject);
  });
  expect(httpPort).toBeGreaterThan(0);
  expect(reply).toContain(`its HTTP API listens on port ${httpPort}`);
});

test('a single lockd answers clusterInfo as a cluster of one that owns the only partition', async () => {
  const lockd = await startLockd();
  const connection = await ThriftConnection.connect({ host: '127.0.0.1', port: lockd.port, transport: 'buffered', protocol: 'binary', connectTimeoutMs: 5_000, maxMessageBytes: 1 << 20 });
  try {
    const info = await connection.call('clusterInfo', CALL_WRITERS.clusterInfo, undefined, 5_000).reply;
    const self = `127.0.0.1:${lockd.port}`;
    expect(info).toEqual({ cluster: '', nodeId: self, partitions: 1, members: [{ nodeId: self, address: self, partitions: [0] }], owners: [self] });
  } finally {
    connection.close();
  }
});
