/**
 * Every Thrift language calls lockd: for each language of languages.ts, its code generated from
 * idl/lock_service.thrift compiles (a test of its own), and its client runs every scenario of
 * scenarios.ts against a real lockd on each stack its runtime offers (one test per language x
 * stack). A language whose compiler or runtime is missing fails here with the packages to
 * install (.ci/conformance-packages lists them all): nothing is skipped.
 *
 * One lockd runs per stack, started with that stack's --transport and --protocol (see
 * ONE_LOCKD_SERVES_EVERY_STACK). Each lockd starts from a data directory whose fence ceiling is
 * above 2^32, so every fence it issues needs all 64 bits of an i64.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { FileStore } from '../../src/store/file-store';
import { LockdProcess, startLockd } from '../helpers/lockd-process';
import { requireThriftCompiler } from '../helpers/tools';
import { LANGUAGES, Language, Stack, stackName } from './languages';
import { SCENARIOS } from './scenarios';

/** lockd's first fence is above this (2^32 + 2^16): bit 32 is set, as in any fence past 4 billion grants. */
const FENCE_CEILING = 2 ** 32 + 2 ** 16;
const COMPILE_TIMEOUT_MS = 240_000;
/** Niceness of the generate and compile steps (javac, g++ and go build keep a core busy for tens of seconds). */
const COMPILE_NICENESS = 10;
const CLIENT_TIMEOUT_MS = 60_000;
/**
 * false: one lockd per stack, each started with that stack's flags (a lockd that takes its stack
 * from flags needs this). true: one lockd with default flags serves every stack, for a lockd that
 * tells each connection's stack from its first bytes. Clients only get a port either way.
 */
const ONE_LOCKD_SERVES_EVERY_STACK = true;

let scratch: string;
const lockds = new Map<string, Promise<LockdProcess>>();
/** Per language: resolves with its build directory once generated and compiled; rejects with why not. */
const builds = new Map<string, Promise<string>>();

beforeAll(() => {
  scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'lockd-conformance-'));
});
afterAll(async () => {
  await Promise.all([...lockds.values()].map(async (lockd) => (await lockd).stop()));
  if (scratch) fs.rmSync(scratch, { recursive: true, force: true });
});

/** A data directory holding only a fence reservation at FENCE_CEILING, written by lockd's own store. */
async function seededDataDir(name: string): Promise<string> {
  const dataDir = path.join(scratch, `data-${name}`);
  const store = new FileStore({ dataDir, fsync: 'batch', forceRecovery: false });
  await store.open({ durableLeases: () => [], reservedFenceCeiling: FENCE_CEILING });
  store.append({ kind: 'fence-reserve', ceiling: FENCE_CEILING });
  await new Promise<void>((resolve, reject) => store.sync((error) => (error ? reject(error) : resolve())));
  await store.close();
  return dataDir;
}

/** The lockd serving `stack`, started on first use. */
function lockdFor(stack: Stack): Promise<LockdProcess> {
  const name = ONE_LOCKD_SERVES_EVERY_STACK ? 'every-stack' : stackName(stack);
  const stackFlags = ONE_LOCKD_SERVES_EVERY_STACK ? [] : ['--transport', stack.transport, '--protocol', stack.protocol];
  if (!lockds.has(name)) {
    lockds.set(name, (async () => startLockd(['--data-dir', await seededDataDir(name), '--fsync', 'off', ...stackFlags]))());
  }
  return lockds.get(name)!;
}

interface Outcome {
  /** Exit code; null when killed at the time limit or never started. */
  code: number | null;
  stdout: string;
  stderr: string;
  /** Why the command could not start (ENOENT: not installed). */
  spawnError?: string;
}

/** Runs a command to completion, killing it after `timeoutMs`; a command that cannot start resolves too. */
function runCommand(command: string, args: string[], env: NodeJS.ProcessEnv | undefined, timeoutMs: number): Promise<Outcome> {
  return new Promise((resolve) => {
    const child = spawn(command, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk) => (stdout += chunk));
    child.stderr.on('data', (chunk) => (stderr += chunk));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    // A command that cannot start emits 'error' and 'close' but no 'exit'.
    let spawnError: string | undefined;
    child.once('error', (error) => (spawnError = error.message));
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code: spawnError ? null : code, stdout, stderr, spawnError });
    });
  });
}

/** The install hint for a language whose tools or runtime are missing. */
const installHint = (language: Language) => `apt-get install -y ${language.packages.join(' ')} (.ci/conformance-packages lists every package; .ci/run installs them)`;
/** What a missing compiler, interpreter or library says, in the languages of the suite. */
const MISSING = /not found|No such file|cannot run command|Can't locate|cannot find package|cannot load such file|No module named|package .* does not exist/i;

/** Runs the language's generate and compile steps in a directory of its own. */
async function build(language: Language): Promise<string> {
  requireThriftCompiler();
  const dir = path.join(scratch, language.name);
  fs.mkdirSync(dir);
  for (const step of language.build(dir)) {
    // Compilers run niced: jest runs other test files beside this one, some of them timing-bound.
    const result = await runCommand('nice', ['-n', String(COMPILE_NICENESS), step.command, ...step.args], step.env, COMPILE_TIMEOUT_MS);
    if (result.spawnError) throw new Error(`${language.name}: cannot run ${step.command} (${result.spawnError}); install it: ${installHint(language)}`);
    if (result.code !== 0) {
      const missing = MISSING.test(result.stderr);
      throw new Error(
        `${language.name}: \`${step.command} ${step.args.join(' ')}\` failed (${result.code ?? 'killed at the time limit'})` +
          (missing ? `; is everything installed? ${installHint(language)}` : '') +
          `\n${result.stdout}\n${result.stderr}`,
      );
    }
    // Generated code must load without a warning (Perl's "masks earlier declaration", say).
    if (step.silent && result.stderr.trim() !== '') {
      throw new Error(`${language.name}: \`${step.command}\` printed warnings:\n${result.stderr}`);
    }
  }
  return dir;
}

/** What a client printed, one parsed line per scenario it reached. */
interface ScenarioLine {
  scenario: string;
  result?: unknown;
  error?: string;
}

async function runClient(language: Language, dir: string, stack: Stack, port: number, prefix: string): Promise<ScenarioLine[]> {
  const { command, args, env } = language.client(dir);
  const result = await runCommand(command, [...args, '127.0.0.1', String(port), stack.transport, stack.protocol, prefix], env, CLIENT_TIMEOUT_MS);
  if (result.spawnError) throw new Error(`${language.name}: cannot run ${command} (${result.spawnError}); install it: ${installHint(language)}`);
  const lines = result.stdout.split('\n').filter((line) => line.trim() !== '');
  const parsed = lines.map((line) => {
    try {
      return JSON.parse(line) as ScenarioLine;
    } catch {
      throw new Error(`${language.name} printed a line that is not JSON: ${line}\nstderr:\n${result.stderr}`);
    }
  });
  if (result.code !== 0 || parsed.length !== SCENARIOS.length) {
    const hint = MISSING.test(result.stderr) ? `\nIs everything installed? ${installHint(language)}` : '';
    throw new Error(`${language.name} client exited ${result.code ?? 'killed at the time limit'} after ${parsed.length} of ${SCENARIOS.length} scenarios:${hint}\n${result.stdout}\n${result.stderr}`);
  }
  return parsed;
}

for (const language of LANGUAGES) {
  describe(language.name, () => {
    const packages = language.packages.length > 0 ? language.packages.join(', ') : 'no Debian package';
    test(`generated code compiles (${packages})`, async () => {
      const started = build(language);
      builds.set(language.name, started);
      await expect(started).resolves.toEqual(path.join(scratch, language.name));
    }, COMPILE_TIMEOUT_MS);

    test.each(language.stacks.map((stack) => [stackName(stack), stack] as const))('every scenario over %s', async (name, stack) => {
      const built = builds.get(language.name);
      if (!built) throw new Error(`${language.name} was not built (its compile test did not run)`);
      const dir = await built.catch((error: Error) => {
        throw new Error(`${language.name} did not compile, so it cannot run: ${error.message}`);
      });
      const lockd = await lockdFor(stack);
      const prefix = `${language.name}/${name}/`;
      const lines = await runClient(language, dir, stack, lockd.port, prefix);
      // One comparison for the whole run: a failure shows every scenario's report side by side.
      expect(lines).toEqual(SCENARIOS.map((scenario) => ({ scenario: scenario.name, result: scenario.expected(prefix) })));
    }, CLIENT_TIMEOUT_MS + 20_000);
  });
}
