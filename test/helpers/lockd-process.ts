/**
 * Starts lockd as a real child process (`node dist/src/server/main.js`, built by `npm test`) on
 * a free loopback port, waits for its readiness line, and stops every process it started.
 */
import { ChildProcess, spawn } from 'node:child_process';
import path from 'node:path';

export const LOCKD_MAIN = path.resolve(__dirname, '../../dist/src/server/main.js');
const READY = /lockd listening on ([\d.]+):(\d+)/;

export interface LockdProcess {
  host: string;
  port: number;
  pid: number;
  process: ChildProcess;
  /** Everything the process printed so far (stdout and stderr). */
  output(): string;
  /** SIGTERM, then SIGKILL if it has not exited within `graceMs`; resolves with the exit code. */
  stop(graceMs?: number): Promise<number | null>;
  /** Resolves with the exit code once the process has exited. */
  exited(): Promise<number | null>;
}

const running = new Set<ChildProcess>();

/**
 * Starts lockd with `args` on 127.0.0.1 and any free port (add --data-dir for a durable one;
 * without it --in-memory is added). Rejects with its output if it is not ready within 15 s.
 */
export function startLockd(args: string[] = [], env: NodeJS.ProcessEnv = {}): Promise<LockdProcess> {
  const durable = args.some((arg) => arg.startsWith('--data-dir'));
  const fullArgs = [LOCKD_MAIN, '--host', '127.0.0.1', '--port', '0', ...(durable ? [] : ['--in-memory']), ...args];
  const child = spawn(process.execPath, fullArgs, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
  running.add(child);
  let output = '';
  const exit = new Promise<number | null>((resolve) => child.once('exit', (code) => (running.delete(child), resolve(code))));
  child.stdout!.on('data', (chunk) => (output += chunk));
  child.stderr!.on('data', (chunk) => (output += chunk));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => fail(new Error(`lockd was not ready within 15 s:\n${output}`)), 15_000);
    const fail = (error: Error) => {
      clearTimeout(timer);
      child.kill('SIGKILL');
      reject(error);
    };
    const onData = () => {
      const match = READY.exec(output);
      if (!match) return;
      clearTimeout(timer);
      child.stdout!.off('data', onData);
      resolve({
        host: match[1],
        port: Number(match[2]),
        pid: child.pid!,
        process: child,
        output: () => output,
        exited: () => exit,
        stop: async (graceMs = 5_000) => {
          if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
          const killer = setTimeout(() => child.kill('SIGKILL'), graceMs);
          const code = await exit;
          clearTimeout(killer);
          return code;
        },
      });
    };
    child.stdout!.on('data', onData);
    exit.then((code) => fail(new Error(`lockd exited with ${code} before it was ready:\n${output}`)));
  });
}

/** Runs lockd with `args` to completion (for startup errors); resolves with exit code and output. */
export function runLockd(args: string[], env: NodeJS.ProcessEnv = {}, timeoutMs = 15_000): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [LOCKD_MAIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
    running.add(child);
    let output = '';
    child.stdout!.on('data', (chunk) => (output += chunk));
    child.stderr!.on('data', (chunk) => (output += chunk));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('exit', (code) => {
      clearTimeout(timer);
      running.delete(child);
      resolve({ code, output });
    });
  });
}

/** Kills every lockd this module started that is still running. */
export async function stopAllLockd(): Promise<void> {
  const exits = [...running].map((child) => new Promise((resolve) => {
    child.once('exit', resolve);
    child.kill('SIGKILL');
  }));
  await Promise.all(exits);
}
