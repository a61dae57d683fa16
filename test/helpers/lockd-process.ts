/**
 * lockd as a real child process for integration tests.
 *
 *   const lockd = await startLockd(['--transport', 'framed']);   // ready, on 127.0.0.1:lockd.port
 *   ...
 *   expect(await lockd.stop()).toBe(0);                           // SIGTERM, exit code
 *
 * It runs `node dist/src/server/main.js --host 127.0.0.1 --port 0 [--in-memory] ARGS` (dist/ is
 * built by `npm test`) and resolves once lockd prints `lockd listening on HOST:PORT` on stdout.
 *
 * Leaks are hard to make: every process is registered, and importing this module registers
 * `afterAll(stopAllLockd)` in the importing test file, so even a test that forgets to stop its
 * lockd (or fails half-way) leaves nothing running. If the test process itself dies (jest killed,
 * a crash), the child notices its stdin pipe closing and exits at once (exit-with-parent.js).
 */
import { ChildProcess, spawn } from 'node:child_process';
import path from 'node:path';

export const LOCKD_MAIN = path.resolve(__dirname, '../../dist/src/server/main.js');
/** Preloaded into lockd: exits it when the test process that started it goes away. */
const EXIT_WITH_PARENT = path.resolve(__dirname, 'exit-with-parent.js');
const READY = /^lockd listening on (\S+):(\d+)$/m;
const DEFAULT_READY_TIMEOUT_MS = 15_000;
const DEFAULT_STOP_GRACE_MS = 5_000;

export interface StartOptions {
  /** Extra environment variables (LOCKD_* configuration), merged over this process's. */
  env?: NodeJS.ProcessEnv;
  /** How long to wait for the readiness line. Default 15 s; past it startLockd rejects with lockd's output. */
  readyTimeoutMs?: number;
}

export interface LockdProcess {
  /** The address lockd reported it listens on (always 127.0.0.1). */
  host: string;
  /** The real port (lockd is started with --port 0 unless ARGS give another). */
  port: number;
  pid: number;
  process: ChildProcess;
  /** Everything lockd printed so far, stdout and stderr interleaved as received. */
  output(): string;
  /**
   * Resolves once `expected` matches the output printed so far (a RegExp is tested against all
   * of it; a function gets all of it). Rejects after `timeoutMs` (default 10 s) or if lockd exits first.
   */
  waitForOutput(expected: RegExp | ((output: string) => boolean), timeoutMs?: number): Promise<void>;
  /** SIGTERM, then SIGKILL if it has not exited within `graceMs` (default 5 s); resolves with the exit code (null if killed by a signal). */
  stop(graceMs?: number): Promise<number | null>;
  /** Sends `signal` (default SIGKILL) and returns at once; await exited() to see it end. */
  kill(signal?: NodeJS.Signals): void;
  /** Resolves with the exit code once the process has exited. */
  exited(): Promise<number | null>;
}

/** Every child started here and not yet exited. */
const running = new Set<ChildProcess>();

// Registered at import time, so every test file using the harness cleans up after itself.
if (typeof afterAll === 'function') afterAll(stopAllLockd);

/** Spawns lockd with the parent-death guard, its output captured and the child registered. */
function spawnLockd(args: string[], env: NodeJS.ProcessEnv | undefined) {
  // stdin is a pipe nobody writes to: it reaches EOF only when this process dies (see EXIT_WITH_PARENT).
  const child = spawn(process.execPath, ['--require', EXIT_WITH_PARENT, LOCKD_MAIN, ...args], {
    stdio: ['pipe', 'pipe', 'pipe'],
    env: { ...process.env, ...env },
  });
  running.add(child);
  child.stdin!.on('error', () => {}); // never written; a dead child must not raise EPIPE here
  let output = '';
  let stdout = '';
  const listeners = new Set<() => void>();
  const onOutput = (chunk: Buffer, fromStdout: boolean) => {
    output += chunk.toString('utf8');
    if (fromStdout) stdout += chunk.toString('utf8');
    for (const listener of listeners) listener();
  };
  child.stdout!.on('data', (chunk: Buffer) => onOutput(chunk, true));
  child.stderr!.on('data', (chunk: Buffer) => onOutput(chunk, false));
  // 'close' (not 'exit') so that all output has been read when exited() resolves.
  // A failed spawn emits 'error' and maybe never 'close': either one ends the process's story.
  const exited = new Promise<number | null>((resolve) => {
    const ended = (code: number | null) => {
      running.delete(child);
      for (const listener of listeners) listener();
      resolve(code);
    };
    child.once('close', ended);
    child.once('error', (error) => {
      output += `\n[harness] cannot run lockd: ${error.message}\n`;
      ended(null);
    });
  });
  const alive = () => child.exitCode === null && child.signalCode === null;
  /** Resolves when `done(output, stdout)` holds; rejects with the output on timeout or exit. */
  const waitFor = (done: (all: string, stdoutOnly: string) => boolean, timeoutMs: number, what: string) =>
    new Promise<void>((resolve, reject) => {
      const check = () => {
        if (done(output, stdout)) finish();
        else if (!running.has(child)) finish(new Error(`lockd exited (${child.exitCode ?? child.signalCode}) before ${what}:\n${output}`));
      };
      const finish = (error?: Error) => {
        clearTimeout(timer);
        listeners.delete(check);
        if (error) reject(error);
        else resolve();
      };
      const timer = setTimeout(() => finish(new Error(`timed out after ${timeoutMs} ms waiting for ${what}; lockd printed:\n${output}`)), timeoutMs);
      listeners.add(check);
      check();
    });
  return { child, output: () => output, stdout: () => stdout, exited, alive, waitFor };
}

/**
 * Starts lockd on 127.0.0.1 and a free port with `args` (--in-memory is added unless `args` have
 * --data-dir) and resolves once it accepts connections. Rejects, after killing it, with everything
 * it printed if it exits or is not ready within `readyTimeoutMs`.
 */
export async function startLockd(args: string[] = [], opts: StartOptions = {}): Promise<LockdProcess> {
  const named = (flag: string) => args.some((arg) => arg === flag || arg.startsWith(`${flag}=`));
  // A cluster node (--etcd) keeps its state in etcd: neither a data dir nor --in-memory applies.
  const stateless = named('--data-dir') || named('--etcd');
  const full = ['--host', '127.0.0.1', '--port', '0', ...(stateless ? [] : ['--in-memory']), ...args];
  const lockd = spawnLockd(full, opts.env);
  const { child } = lockd;
  try {
    // Only stdout carries the readiness line; logs go to stderr and could quote it.
    await lockd.waitFor((_, stdout) => READY.test(stdout), opts.readyTimeoutMs ?? DEFAULT_READY_TIMEOUT_MS, `"lockd listening on" (node ${full.join(' ')})`);
    const [, host, port] = READY.exec(lockd.stdout())!;
    return {
      host,
      port: Number(port),
      pid: child.pid!,
      process: child,
      output: lockd.output,
      waitForOutput: (expected, timeoutMs = 10_000) =>
        lockd.waitFor((text) => (expected instanceof RegExp ? expected.test(text) : expected(text)), timeoutMs, `output ${String(expected)}`),
      exited: () => lockd.exited,
      kill: (signal = 'SIGKILL') => {
        if (lockd.alive()) child.kill(signal);
      },
      stop: (graceMs = DEFAULT_STOP_GRACE_MS) => terminate(child, lockd.exited, graceMs),
    };
  } catch (error) {
    child.kill('SIGKILL');
    await lockd.exited;
    throw error;
  }
}

/**
 * Runs lockd with exactly `args` (no defaults added) to completion, for startup errors and --help.
 * Kills it after `timeoutMs` (default 15 s). Resolves with its exit code and output.
 */
export async function runLockd(args: string[], opts: { env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): Promise<{ code: number | null; output: string }> {
  const lockd = spawnLockd(args, opts.env);
  const timer = setTimeout(() => lockd.child.kill('SIGKILL'), opts.timeoutMs ?? DEFAULT_READY_TIMEOUT_MS);
  const code = await lockd.exited;
  clearTimeout(timer);
  return { code, output: lockd.output() };
}

/** SIGTERM, SIGKILL after `graceMs`, resolves with the exit code. */
async function terminate(child: ChildProcess, exited: Promise<number | null>, graceMs: number): Promise<number | null> {
  if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
  const killer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  const code = await exited;
  clearTimeout(killer);
  return code;
}

/** Stops (SIGTERM, then SIGKILL after 5 s) every lockd this module started that still runs. For afterEach/afterAll. */
export async function stopAllLockd(): Promise<void> {
  await Promise.all(
    [...running].map((child) => terminate(child, new Promise((resolve) => child.once('close', resolve)), DEFAULT_STOP_GRACE_MS)),
  );
}
