/**
 * Polyglot interop with Debian's python3-thrift (for /usr/bin/python3 only) against a real lockd:
 * - the seed 000 client, verbatim, with Python generated from the seed's own IDL;
 * - Python generated from lockd's IDL, over buffered+binary and framed+compact.
 * A missing compiler, interpreter or thrift module fails here with the apt-get command to run.
 */
import { ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startLockd } from '../helpers/lockd-process';
import { DEBIAN_PYTHON, requirePythonThrift, requireThriftCompiler, run, runProcess } from '../helpers/tools';

const root = path.resolve(__dirname, '../..');
const seedDir = path.join(__dirname, 'seed');
/** Python must not write __pycache__ into the source tree; output must not sit in a buffer. */
const PYTHON_ENV = { PYTHONDONTWRITEBYTECODE: '1', PYTHONUNBUFFERED: '1' };
let scratch: string;
/** Where `thrift -r --gen py` put the code for the seed's IDL and for lockd's. */
let seedGenPy: string;
let lockdGenPy: string;

beforeAll(() => {
  requireThriftCompiler();
  requirePythonThrift();
  scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'lockd-interop-'));
  seedGenPy = path.join(scratch, 'seed');
  lockdGenPy = path.join(scratch, 'lockd');
  fs.mkdirSync(seedGenPy);
  fs.mkdirSync(lockdGenPy);
  run('thrift', ['-r', '--gen', 'py', '-out', seedGenPy, path.join(seedDir, 'lock_service.thrift')]);
  run('thrift', ['-r', '--gen', 'py', '-out', lockdGenPy, path.join(root, 'idl/lock_service.thrift')]);
});
afterAll(() => {
  if (scratch) fs.rmSync(scratch, { recursive: true, force: true });
});

/** Python processes still running (the lock holder); killed after each test whatever happened. */
const pythons = new Set<ChildProcessWithoutNullStreams>();
afterEach(() => {
  for (const child of pythons) child.kill('SIGKILL');
  pythons.clear();
});

/** Runs a Python script to completion with Debian's interpreter; returns its stdout, throws with both streams otherwise. */
async function python(args: string[]): Promise<string> {
  const result = await runProcess(DEBIAN_PYTHON, args, { env: PYTHON_ENV, timeoutMs: 20_000 });
  if (result.code !== 0) throw new Error(`python ${args.join(' ')} exited ${result.code}:\n${result.stdout}\n${result.stderr}`);
  return result.stdout;
}

/** The seed 000 client, unchanged, pointed at lockd's port by run_seed_client.py. */
function runSeedClient(port: number): Promise<string> {
  return python([path.join(seedDir, 'run_seed_client.py'), seedGenPy, String(port)]);
}

/** Starts hold_lock.py and resolves with the child and its first line (`held` or `refused`). */
function startHolder(port: number): Promise<{ child: ChildProcessWithoutNullStreams; answer: string }> {
  const child = spawn(DEBIAN_PYTHON, [path.join(seedDir, 'hold_lock.py'), seedGenPy, String(port)], { env: { ...process.env, ...PYTHON_ENV } });
  pythons.add(child);
  let stdout = '';
  let stderr = '';
  child.stderr.on('data', (chunk) => (stderr += chunk));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`hold_lock.py did not answer within 15 s:\n${stdout}\n${stderr}`)), 15_000);
    child.stdout.on('data', (chunk) => {
      stdout += chunk;
      if (stdout.includes('\n')) {
        clearTimeout(timer);
        resolve({ child, answer: stdout.trim() });
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`hold_lock.py exited ${code} before answering:\n${stdout}\n${stderr}`));
    });
  });
}

test('the seed 000 client works unchanged: it acquires, writes, releases', async () => {
  const lockd = await startLockd();
  expect(await runSeedClient(lockd.port)).toBe('Lock acquired. Writing to file...\nLock released.\n');
  // It released on its way out, so a second run gets the lock again.
  expect(await runSeedClient(lockd.port)).toBe('Lock acquired. Writing to file...\nLock released.\n');
});

test('while another seed-style client holds the lock the seed client is refused; the holder leaving frees it', async () => {
  const lockd = await startLockd(['--log-level', 'debug']);
  const holder = await startHolder(lockd.port);
  expect(holder.answer).toBe('held');

  expect(await runSeedClient(lockd.port)).toBe('Failed to acquire lock. Another process is writing to the file.\n');
  // Still held after the refused client left: another seed-style caller is refused as well.
  expect((await startHolder(lockd.port)).answer).toBe('refused');

  // The holder exits without releasing; lockd frees its connection-bound grant when the connection closes.
  const holderExit = new Promise((resolve) => holder.child.once('exit', resolve));
  holder.child.stdin.end();
  expect(await holderExit).toBe(0);
  await lockd.waitForOutput(/connection closed .*"freedLeases":1/);
  expect(await runSeedClient(lockd.port)).toBe('Lock acquired. Writing to file...\nLock released.\n');
});

test.each([
  ['buffered', 'binary'],
  ['framed', 'compact'],
])("Python generated from lockd's IDL speaks %s + %s", async (transport, protocol) => {
  const lockd = await startLockd(['--transport', transport, '--protocol', protocol]);
  const report = JSON.parse(await python([path.join(__dirname, 'lockd_client.py'), lockdGenPy, String(lockd.port), transport, protocol]));
  expect(report).toEqual({
    acquired: true,
    token_length: 32,
    token_hex: true,
    fence_positive: true,
    busy: false,
    reentered: { holdCount: 2, sameToken: true, sameFence: true },
    wrong_token_release: false,
    inspect: { owner: 'python', holders: 1, fence: true, mode: 'EXCLUSIVE' },
    renew_keeps_fence: true,
    check_fence: true,
    check_other_fence: false,
    empty_key_error: 'INVALID_ARGUMENT',
    empty_key_message_names_field: true,
    release_1: true,
    release_2: true,
    release_3: false,
    listed: [],
    ping: 'pong',
  });
});
