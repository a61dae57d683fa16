/**
 * Every Thrift language calls lockd: for each language of languages.ts, its code generated from
 * idl/lock_service.thrift compiles (a test of its own), and its client runs every scenario of
 * scenarios.ts against a real lockd on each stack its runtime offers (one test per language x
 * stack). A language whose compiler or runtime is missing fails here with the packages to
 * install (.ci/conformance-packages lists them all): nothing is skipped.
 *
 * lockd takes its stack from flags, so one lockd runs per stack; clients only get a port, so
 * one lockd serving every stack would do as well. Each lockd starts from a data directory whose
 * fence ceiling is above 2^32, so every fence it issues needs all 64 bits of an i64.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { FileStore } from '../../src/store/file-store';
import { LockdProcess, startLockd } from '../helpers/lockd-process';
import { requireThriftCompiler, runProcess } from '../helpers/tools';
import { LANGUAGES, Language, Stack, stackName } from './languages';
import { SCENARIOS } from './scenarios';

/** lockd's first fence is above this (2^32 + 2^16): bit 32 is set, as in any fence past 4 billion grants. */
const FENCE_CEILING = 2 ** 32 + 2 ** 16;
const COMPILE_TIMEOUT_MS = 240_000;
const CLIENT_TIMEOUT_MS = 60_000;

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
  const store = new FileStore({ dataDir, fsync: 'batch', forceRecovery: false, liveLeases: () => [], fenceCeiling: () => FENCE_CEILING });
  await store.open();
  store.append({ kind: 'fence-reserve', ceiling: FENCE_CEILING });
  await new Promise<void>((resolve, reject) => store.sync((error) => (error ? reject(error) : resolve())));
  await store.close();
  return dataDir;
}

/** The lockd serving `stack`, started on first use. */
function lockdFor(stack: Stack): Promise<LockdProcess> {
  const name = stackName(stack);
  if (!lockds.has(name)) {
    lockds.set(name, (async () => startLockd(['--data-dir', await seededDataDir(name), '--fsync', 'off', '--transport', stack.transport, '--protocol', stack.protocol]))());
  }
  return lockds.get(name)!;
}

/** Runs the language's generate and compile steps in a directory of its own. */
async function build(language: Language): Promise<string> {
  requireThriftCompiler();
  const dir = path.join(scratch, language.name);
  fs.mkdirSync(dir);
  for (const step of language.build(dir)) {
    const result = await runProcess(step.command, step.args, { env: step.env, timeoutMs: COMPILE_TIMEOUT_MS });
    if (result.code !== 0) {
      const missing = result.code === null || /ENOENT|not found|No such file|Can't locate|cannot find package|cannot load such file/i.test(result.stderr);
      throw new Error(
        `${language.name}: \`${step.command} ${step.args.join(' ')}\` failed (${result.code})` +
          (missing ? `; is everything installed? apt-get install -y ${language.packages.join(' ')} (.ci/conformance-packages lists them)` : '') +
          `\n${result.stdout}\n${result.stderr}`,
      );
    }
    // Perl's "masks earlier declaration", say.
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
  const result = await runProcess(command, [...args, '127.0.0.1', String(port), stack.transport, stack.protocol, prefix], { env, timeoutMs: CLIENT_TIMEOUT_MS });
  const lines = result.stdout.split('\n').filter((line) => line.trim() !== '');
  const parsed = lines.map((line) => {
    try {
      return JSON.parse(line) as ScenarioLine;
    } catch {
      throw new Error(`${language.name} printed a line that is not JSON: ${line}\nstderr:\n${result.stderr}`);
    }
  });
  if (result.code !== 0 || parsed.length !== SCENARIOS.length) {
    throw new Error(`${language.name} client exited ${result.code} after ${parsed.length} of ${SCENARIOS.length} scenarios:\n${result.stdout}\n${result.stderr}`);
  }
  return parsed;
}

for (const language of LANGUAGES) {
  describe(language.name, () => {
    test(`generated code compiles (${language.packages.join(', ')})`, async () => {
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
