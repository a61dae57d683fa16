/**
 * `node dist/scripts/bench/table-ab.js --baseline DIR [--rounds 15] [--pairs 300000]`: the lock
 * table of this checkout against the one built in DIR (DIR/dist/src/table/lock-table.js), in one
 * process, interleaved rounds of acquire + release pairs on 1,000 keys. Measures CPU time of this
 * thread (process.cpuUsage), not wall time: on a shared machine the other processes' load moves
 * wall time far more than the difference between two builds of the table (issue 12: the cost of
 * hashing tokens, ~1 us a pair, was invisible in ab-builds' pairs/s at C=64 on a loaded machine).
 */
import path from 'node:path';
import { parseArgs } from 'node:util';
import type { LockTable as LockTableType, TableLimits } from '../../src/table/lock-table';
import { ROOT } from './targets';

const { values } = parseArgs({
  options: {
    baseline: { type: 'string' },
    rounds: { type: 'string', default: '15' },
    pairs: { type: 'string', default: '300000' },
  },
});
if (values.baseline === undefined) {
  process.stderr.write('usage: node dist/scripts/bench/table-ab.js --baseline DIR [--rounds 15] [--pairs 300000]\n');
  process.exit(2);
}

const LIMITS: TableLimits = { defaultTtlMs: 30_000, minTtlMs: 10, maxTtlMs: 600_000, maxWaitMs: 30_000, defaultListLimit: 100, maxListLimit: 1_000, maxLeases: 100_000, maxWaiters: 1_000 };
const KEYS = Array.from({ length: 1_000 }, (_, i) => `bench/key-${i}`);
type TableClass = new (limits: TableLimits) => LockTableType;
const load = (root: string): TableClass => (require(path.join(root, 'dist/src/table/lock-table.js')) as { LockTable: TableClass }).LockTable;
const builds = [
  { name: 'baseline', table: new (load(path.resolve(values.baseline)))(LIMITS) },
  { name: 'current', table: new (load(ROOT))(LIMITS) },
];

/** CPU nanoseconds per acquire + release pair. */
function run(table: LockTableType, pairs: number): number {
  const now = 1_700_000_000_000;
  const before = process.cpuUsage();
  for (let i = 0; i < pairs; i++) {
    const key = KEYS[i % KEYS.length];
    const outcome = table.acquire({ key, session: 0 }, now);
    if (outcome.kind !== 'granted' || !table.release(key, outcome.lease.token, now)) throw new Error(`pair ${i} on ${key} failed`);
  }
  const used = process.cpuUsage(before);
  return ((used.user + used.system) * 1_000) / pairs;
}

const rounds = Number(values.rounds);
const pairs = Number(values.pairs);
for (const build of builds) run(build.table, pairs);
const samples: Record<string, number[]> = { baseline: [], current: [] };
for (let round = 0; round < rounds; round++) {
  // Alternate which build goes first, so neither always gets the warmer cache.
  for (const build of round % 2 === 0 ? builds : [...builds].reverse()) samples[build.name].push(run(build.table, pairs));
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
for (const name of ['baseline', 'current']) {
  const xs = samples[name];
  console.log(`${name}: CPU ns per acquire+release pair, median ${Math.round(median(xs))} (range ${Math.round(Math.min(...xs))}-${Math.round(Math.max(...xs))})`);
}
const ratios = samples.current.map((c, i) => c - samples.baseline[i]);
console.log(`current - baseline: ${Math.round(median(samples.current) - median(samples.baseline))} ns per pair (per-round differences ${Math.round(Math.min(...ratios))} to ${Math.round(Math.max(...ratios))})`);
