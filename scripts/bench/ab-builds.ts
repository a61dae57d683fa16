/**
 * `node dist/scripts/bench/ab-builds.js --baseline DIR`: two lockd builds side by side — the one
 * in this checkout and the one whose repository root is DIR (built: DIR/dist/src/server/main.js)
 * — in interleaved rounds, so a change to the request path is measured against the run-to-run
 * noise of this shared machine: uncontended and contended pairs/s at C=64 (medians of rounds,
 * and the spread), contended hand-off p99, and RSS per held lease.
 */
import path from 'node:path';
import { parseArgs } from 'node:util';
import { lockdMemory } from './capacity';
import { lockdDriver } from './clients';
import { percentile } from './stats';
import { ROOT, startLockdBuild, Target } from './targets';
import { runWorkload, WorkloadName } from './workloads';

const { values } = parseArgs({
  options: {
    baseline: { type: 'string' },
    rounds: { type: 'string', default: '7' },
    'round-ms': { type: 'string', default: '2000' },
    leases: { type: 'string', default: '1000000' },
    concurrency: { type: 'string', default: '64' },
  },
});
if (values.baseline === undefined) {
  process.stderr.write('usage: node dist/scripts/bench/ab-builds.js --baseline DIR [--rounds 7] [--round-ms 2000] [--leases 1000000] [--concurrency 64]\n');
  process.exit(2);
}

const builds = [
  { name: 'baseline', main: path.join(path.resolve(values.baseline), 'dist/src/server/main.js') },
  { name: 'current', main: path.join(ROOT, 'dist/src/server/main.js') },
];
const rounds = Number(values.rounds);
const concurrency = Number(values.concurrency);
const timing = { warmupMs: 300, windowMs: Number(values['round-ms']), graceMs: 2_000 };
const workloads: WorkloadName[] = ['uncontended', 'contended'];

type Samples = Record<string, number[]>;

async function withBuild<T>(build: (typeof builds)[number], fn: (target: Target) => Promise<T>): Promise<T> {
  const target = await startLockdBuild(build.main, `lockd ${build.name}`);
  try {
    return await fn(target);
  } finally {
    await target.stop();
  }
}

async function main(): Promise<void> {
  const pairs: Samples = {};
  const handoffP99: Samples = {};
  for (let round = 0; round < rounds; round++) {
    // Alternate which build goes first, so neither always gets the warmer machine.
    const order = round % 2 === 0 ? builds : [...builds].reverse();
    for (const build of order) {
      await withBuild(build, async (target) => {
        for (const workload of workloads) {
          const result = await runWorkload(lockdDriver(target), workload, concurrency, timing);
          (pairs[`${build.name} ${workload}`] ??= []).push(result.pairsPerSecond);
          if (result.contention !== undefined) (handoffP99[build.name] ??= []).push(result.contention.handoff.p99Ms);
          if (result.errors > 0) process.stderr.write(`${build.name} ${workload}: ${result.errors} errors (${result.firstError})\n`);
        }
      });
    }
    process.stderr.write(`round ${round + 1}/${rounds} done\n`);
  }
  const median = (values: number[]) => percentile([...values].sort((a, b) => a - b), 0.5);
  const spread = (values: number[]) => `${Math.round(Math.min(...values))}-${Math.round(Math.max(...values))}`;
  const lines = [`| C=${concurrency}, ${rounds} interleaved rounds of ${timing.windowMs} ms | baseline | current | current / baseline |`, '|---|---:|---:|---:|'];
  for (const workload of workloads) {
    const base = pairs[`baseline ${workload}`];
    const current = pairs[`current ${workload}`];
    const ratios = base.map((b, i) => current[i] / b);
    lines.push(`| ${workload} pairs/s (median; range) | ${Math.round(median(base))} (${spread(base)}) | ${Math.round(median(current))} (${spread(current)}) | ${median(ratios).toFixed(2)} (per-round ${Math.min(...ratios).toFixed(2)}-${Math.max(...ratios).toFixed(2)}) |`);
  }
  lines.push(`| contended hand-off p99 ms (median) | ${median(handoffP99.baseline).toFixed(2)} | ${median(handoffP99.current).toFixed(2)} | |`);
  const leases = Number(values.leases);
  if (leases > 0) {
    const memory: Record<string, number> = {};
    for (const build of builds) memory[build.name] = await withBuild(build, async (target) => (await lockdMemory(target, leases, 1_000)).bytesPerLease);
    lines.push(`| RSS per held lease, ${leases.toLocaleString('en-US')} leases | ${Math.round(memory.baseline)} B | ${Math.round(memory.current)} B | |`);
  }
  process.stdout.write(`${lines.join('\n')}\n`);
}

main().catch((error) => {
  process.stderr.write(`${error instanceof Error ? error.stack : String(error)}\n`);
  process.exit(1);
});
