/**
 * Polyglot interop: the seed 000 client, unchanged, and Python generated from lockd's own IDL,
 * both with Debian's python3-thrift, against a real lockd process.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startLockd, stopAllLockd } from '../helpers/lockd-process';
import { DEBIAN_PYTHON, requirePythonThrift, requireThriftCompiler, run, runProcess } from '../helpers/tools';

const root = path.resolve(__dirname, '../..');
let scratch: string;

beforeAll(() => {
  requireThriftCompiler();
  requirePythonThrift();
  scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'lockd-interop-'));
  fs.mkdirSync(path.join(scratch, 'seed'));
  fs.mkdirSync(path.join(scratch, 'lockd'));
  run('thrift', ['-r', '--gen', 'py', '-out', path.join(scratch, 'seed'), path.join(__dirname, 'seed/lock_service.thrift')]);
  run('thrift', ['-r', '--gen', 'py', '-out', path.join(scratch, 'lockd'), path.join(root, 'idl/lock_service.thrift')]);
});
afterAll(() => fs.rmSync(scratch, { recursive: true, force: true }));
afterEach(stopAllLockd);

async function python(args: string[], env: NodeJS.ProcessEnv = {}): Promise<string> {
  const result = await runProcess(DEBIAN_PYTHON, args, { env });
  if (result.code !== 0) throw new Error(`python exited ${result.code}:\n${result.stdout}\n${result.stderr}`);
  return result.stdout;
}

function runSeedClient(port: number): Promise<string> {
  return python([path.join(__dirname, 'seed/run_seed_client.py')], { SEED_GEN_PY: path.join(scratch, 'seed'), LOCKD_PORT: String(port) });
}

test('the seed 000 client works unchanged: it acquires, writes, releases', async () => {
  const lockd = await startLockd();
  const output = await runSeedClient(lockd.port);
  expect(output).toBe('Lock acquired. Writing to file...\nLock released.\n');
  // It released on its way out, so a second run gets the lock again.
  expect(await runSeedClient(lockd.port)).toContain('Lock acquired.');
});

test('the seed client is refused while another connection holds the lock', async () => {
  const lockd = await startLockd();
  const { connectStub } = await import('../helpers/in-process-lockd');
  const holder = await connectStub(lockd.port);
  expect(await holder.acquireLock({ lockKey: 'file_lock_key' }).reply).toBe(true);
  expect(await runSeedClient(lockd.port)).toBe('Failed to acquire lock. Another process is writing to the file.\n');
  holder.connection.close();
});

test.each([
  ['buffered', 'binary'],
  ['framed', 'compact'],
])('Python generated from lockd\'s IDL speaks %s + %s', async (transport, protocol) => {
  const lockd = await startLockd(['--transport', transport, '--protocol', protocol]);
  const report = JSON.parse(await python([path.join(__dirname, 'lockd_client.py'), path.join(scratch, 'lockd'), String(lockd.port), transport, protocol]));
  expect(report).toEqual({
    acquired: true,
    token_length: 32,
    fence_positive: true,
    busy: false,
    reentered_hold_count: 2,
    wrong_token_release: false,
    inspect_owner: 'python',
    renew_keeps_fence: true,
    check_fence: true,
    empty_key_error: 'INVALID_ARGUMENT',
    empty_key_message: 'lockKey must be 1..1024 bytes of UTF-8, got 0 bytes',
    release_1: true,
    release_2: true,
    listed: [],
    ping: 'pong',
  });
});
