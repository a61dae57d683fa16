/** lockctl with several addresses (--addr a,b and LOCKD_ADDR=a,b) and `lockctl cluster`, as a process against a real lockd. */
import net from 'node:net';
import path from 'node:path';
import { LockdProcess, startLockd, stopAllLockd } from '../helpers/lockd-process';
import { ProcessResult, runProcess } from '../helpers/tools';

const LOCKCTL = path.resolve(__dirname, '../../bin/lockctl.js');
let lockd: LockdProcess;
let closed: string;

/** A port nothing listens on: bound by the OS, then closed. */
async function closedAddress(): Promise<string> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return `127.0.0.1:${port}`;
}

beforeAll(async () => {
  lockd = await startLockd();
  closed = await closedAddress();
});
afterAll(stopAllLockd);

const live = () => `127.0.0.1:${lockd.port}`;

function lockctl(args: string[], env: NodeJS.ProcessEnv = {}): Promise<ProcessResult> {
  return runProcess(process.execPath, [LOCKCTL, ...args], { env: { LOCKD_ADDR: '', ...env }, timeoutMs: 20_000 });
}

test('--addr a,b: the first address refuses, lockctl uses the second', async () => {
  expect(await lockctl(['--addr', `${closed},${live()}`, 'ping'])).toMatchObject({ code: 0, stdout: 'pong\n' });
  const acquired = await lockctl(['--addr', `${closed}, ${live()}`, '--json', 'acquire', 'multi', '--ttl', '30s']);
  expect(acquired.code).toBe(0);
  const { token } = JSON.parse(acquired.stdout);
  expect(await lockctl(['--addr', live(), 'status', 'multi'])).toMatchObject({ code: 0, stdout: expect.stringMatching(/^multi: held by /) });
  expect(await lockctl(['--addr', `${closed},${live()}`, 'release', 'multi', '--token', token])).toMatchObject({ code: 0, stdout: 'released multi\n' });
});

test('LOCKD_ADDR=a,b works like --addr a,b; --addr overrides it', async () => {
  expect(await lockctl(['ping'], { LOCKD_ADDR: `${closed},${live()}` })).toMatchObject({ code: 0, stdout: 'pong\n' });
  expect(await lockctl(['--addr', live(), 'ping'], { LOCKD_ADDR: closed })).toMatchObject({ code: 0, stdout: 'pong\n' });
});

test('no address answers: exit 3 naming them all; a bad entry is a usage error', async () => {
  const other = await closedAddress();
  const down = await lockctl(['--addr', `${closed},${other}`, 'ping']);
  expect(down.code).toBe(3);
  expect(down.stderr).toContain(`lockctl: cannot reach lockd at any of ${closed},${other}`);
  const bad = await lockctl(['--addr', `${live()},nohost`, 'ping']);
  expect(bad.code).toBe(2);
  expect(bad.stderr).toMatch(/address "nohost" is not host:port/);
});

test('lockctl cluster against a single lockd: not clustered, human and --json', async () => {
  const human = await lockctl(['--addr', `${closed},${live()}`, 'cluster']);
  expect(human).toMatchObject({ code: 0, stdout: `not clustered: a single lockd (${live()}) serves every key\n`, stderr: '' });
  const json = await lockctl(['--addr', live(), '--json', 'cluster']);
  expect(json.code).toBe(0);
  expect(JSON.parse(json.stdout)).toEqual({
    cluster: '',
    clustered: false,
    nodeId: live(),
    partitions: 1,
    nodes: [{ nodeId: live(), address: live(), partitions: [0] }],
    unowned: [],
  });
  const down = await lockctl(['--addr', closed, '--json', 'cluster']);
  expect(down.code).toBe(3);
  expect(JSON.parse(down.stdout).error).toMatchObject({ code: 'LOCKD_CONNECTION', exitCode: 3 });
});

test('help: the address list and the cluster command', async () => {
  const help = await lockctl(['--help']);
  expect(help.stdout).toContain('--addr host:port[,host:port...]');
  expect(help.stdout).toMatch(/^ {2}cluster {5,}nodes, the partitions each owns/m);
  const cluster = await lockctl(['cluster', '--help']);
  expect(cluster).toMatchObject({ code: 0, stdout: expect.stringMatching(/^usage: lockctl cluster\n/) });
});
