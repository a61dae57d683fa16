/**
 * External tools some tests need (the Thrift compiler, Debian's python3 with its thrift module).
 * A missing tool fails the test with the install command: nothing is skipped silently.
 */
import { ChildProcessWithoutNullStreams, spawn, spawnSync } from 'node:child_process';

/** Debian's interpreter: python3-thrift is installed for it, not for other pythons on PATH. */
export const DEBIAN_PYTHON = '/usr/bin/python3';

/**
 * Throws with an install hint unless `thrift --version` runs. Tests call it instead of skipping:
 * a missing tool fails the suite, with or without CI=true.
 */
export function requireThriftCompiler(): void {
  const result = spawnSync('thrift', ['--version'], { encoding: 'utf8' });
  if (result.status !== 0) {
    throw new Error(`the Apache Thrift compiler (thrift) is missing${ciNote()}: apt-get install -y thrift-compiler (.ci/run does this)`);
  }
}

/** Throws with an install hint unless Debian's python3 exists and can import thrift. */
export function requirePythonThrift(): void {
  const result = spawnSync(DEBIAN_PYTHON, ['-c', 'import thrift'], { encoding: 'utf8' });
  if (result.error) {
    throw new Error(`${DEBIAN_PYTHON} is missing${ciNote()} (${result.error.message}): apt-get install -y python3 python3-thrift (.ci/run does this)`);
  }
  if (result.status !== 0) {
    throw new Error(`${DEBIAN_PYTHON} cannot import thrift${ciNote()}: apt-get install -y python3-thrift (.ci/run does this)\n${result.stderr}`);
  }
}

function ciNote(): string {
  return process.env.CI === 'true' ? ' on this CI machine' : '';
}

/** Runs a command to completion, throwing with its output when it fails. */
export function run(command: string, args: string[], options: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): string {
  const result = spawnSync(command, args, { encoding: 'utf8', timeout: 60_000, ...options, env: { ...process.env, ...options.env } });
  if (result.status !== 0) {
    throw new Error(`${command} ${args.join(' ')} failed (${result.status ?? result.signal}):\n${result.stdout}\n${result.stderr}`);
  }
  return result.stdout;
}

/** What a finished process printed and how it ended. */
export interface ProcessResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs a command to completion without throwing, killing it after `timeoutMs`. `onSpawn` gets
 * the child (to signal it or watch its output as it comes).
 */
export function runProcess(
  command: string,
  args: string[],
  options: { env?: NodeJS.ProcessEnv; timeoutMs?: number; onSpawn?: (child: ChildProcessWithoutNullStreams) => void } = {},
): Promise<ProcessResult> {
  return new Promise((resolve) => {
    const child = spawn(command, args, { env: { ...process.env, ...options.env } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk) => (stdout += chunk));
    child.stderr.on('data', (chunk) => (stderr += chunk));
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 30_000);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
    options.onSpawn?.(child);
  });
}
