/**
 * Durable lockd against in-memory lockd (and Redis appendfsync always, and optionally another
 * lockd build), uncontended acquire+release, interleaved round by round so a busy minute on a
 * shared machine falls on every side of a ratio. A measurement for store work, lighter than
 * `npm run bench`:
 *
 *   npm run build && node dist/scripts/bench/durable-ab.js [--rounds 5] [--window-ms 2000]
 *       [--concurrency 1,64] [--baseline /path/to/other/dist/src/server/main.js] [--no-redis]
 *
 * Prints per-round pairs/s and p50 per target and C, the medians, the server's CPU time per pair,
 * the ratios durable / in-memory and durable / Redis-always, and the disk's synced-write latency
 * (the C=1 floor).
 */
import { parseArgs } from 'node:util';
import { lockdDriver, POLL_RETRY, redisDriver, type Driver } from './clients';
import { measureSyncedWrites } from './disk';
import { median } from './stats';
import { cpuMsOf, startLockd, startRedis, writeCallsOf, type Target } from './targets';
import { runWorkload, type WorkloadResult } from './workloads';

const { values } = parseArgs({
  options: { rounds: { type: 'string' }, 'window-ms': { type: 'string' }, concurrency: { type: 'string' }, baseline: { type: 'string' }, 'no-redis': { type: 'boolean' }, variant: { type: 'string', multiple: true } },
});
const ROUNDS = Number(values.rounds ?? 5);
const WINDOW_MS = Number(values['window-ms'] ?? 2_000);
const CONCURRENCY = (values.concurrency ?? '1,64').split(',').map(Number);
const WARMUP_MS = 300;


async function main(): Promise<void> {
  const targets: Target[] = [];
  const entrants: Array<{ driver: Driver; pid: number; results: Map<number, WorkloadResult[]>; cpuPerPairUs: Map<number, number[]>; writesPerPair: Map<number, number[]> }> = [];
  const enter = async (target: Promise<Target>, driver: (t: Target) => Driver) => {
    const t = await target;
    targets.push(t);
    entrants.push({ driver: driver(t), pid: t.pid, results: new Map(CONCURRENCY.map((c) => [c, []])), cpuPerPairUs: new Map(CONCURRENCY.map((c) => [c, []])), writesPerPair: new Map(CONCURRENCY.map((c) => [c, []])) });
  };
  try {
    await enter(startLockd('memory'), lockdDriver);
    await enter(startLockd('batch'), lockdDriver);
    if (values.baseline) await enter(startLockd('batch', values.baseline, 'baseline lockd (durable, fsync batch)'), lockdDriver);
    // --variant 'label:NAME=VALUE,NAME=VALUE': one more durable lockd of this build with those environment variables.
    for (const variant of values.variant ?? []) {
      const [label, assignments = ''] = variant.split(':');
      const saved = { ...process.env };
      for (const assignment of assignments.split(',').filter(Boolean)) {
        const [name, value] = assignment.split('=');
        process.env[name] = value;
      }
      await enter(startLockd('batch', undefined, `variant ${label}`), lockdDriver);
      process.env = saved;
    }
    if (!values['no-redis']) await enter(startRedis('always'), (t) => redisDriver(t, POLL_RETRY, t.name));
    const disk: number[] = [];
    for (let round = 1; round <= ROUNDS; round++) {
      for (const c of CONCURRENCY) {
        for (const entrant of entrants) {
          const cpuBefore = cpuMsOf(entrant.pid);
          const writesBefore = writeCallsOf(entrant.pid);
          const result = await runWorkload(entrant.driver, 'uncontended', c, { warmupMs: WARMUP_MS, windowMs: WINDOW_MS, graceMs: 2_000 });
          entrant.results.get(c)!.push(result);
          // Server CPU per pair: robust where throughput is not, on a machine whose CPUs others
          // share (pairs of the warm-up are estimated at the window's rate).
          const pairs = (result.pairsPerSecond * (WARMUP_MS + WINDOW_MS)) / 1000;
          entrant.cpuPerPairUs.get(c)!.push(((cpuMsOf(entrant.pid) - cpuBefore) * 1000) / Math.max(1, pairs));
          entrant.writesPerPair.get(c)!.push((writeCallsOf(entrant.pid) - writesBefore) / Math.max(1, pairs));
        }
      }
      disk.push(measureSyncedWrites().p50Us);
      process.stderr.write(`round ${round}: ${entrants.map((e) => CONCURRENCY.map((c) => `${e.driver.label} C=${c} ${Math.round(e.results.get(c)![round - 1].pairsPerSecond)}`).join(' · ')).join(' | ')} | disk ${Math.round(disk[round - 1])} us\n`);
    }
    console.log(`${ROUNDS} interleaved rounds of ${WINDOW_MS} ms; disk synced 4 KiB write p50 ${Math.round(median(disk))} us (median of rounds)\n`);
    console.log('| target | C | pairs/s (median) | p50 ms (median) | server CPU µs per pair (median) | server write syscalls per pair (median; sockets and disk) | each round pairs/s |');
    console.log('|---|---:|---:|---:|---:|---:|---|');
    for (const c of CONCURRENCY) {
      for (const e of entrants) {
        const rs = e.results.get(c)!;
        console.log(`| ${e.driver.label} | ${c} | ${Math.round(median(rs.map((r) => r.pairsPerSecond))).toLocaleString('en-US')} | ${median(rs.map((r) => r.p50Ms)).toFixed(3)} | ${Math.round(median(e.cpuPerPairUs.get(c)!))} | ${median(e.writesPerPair.get(c)!).toFixed(2)} | ${rs.map((r) => Math.round(r.pairsPerSecond)).join(' · ')} |`);
      }
    }
    const ratio = (a: number, b: number, c: number) => median(entrants[a].results.get(c)!.map((r, i) => r.pairsPerSecond / entrants[b].results.get(c)![i].pairsPerSecond));
    for (const [index, entrant] of entrants.entries()) {
      if (index > 1 && !entrant.driver.label.startsWith('Redis')) console.log(`${entrant.driver.label} / in-memory: ${CONCURRENCY.map((c) => `C=${c} ${ratio(index, 0, c).toFixed(2)}x`).join(', ')}`);
    }
    console.log('\n| C | durable / in-memory | durable / Redis always | baseline durable / in-memory |');
    console.log('|---:|---:|---:|---:|');
    const redisIndex = entrants.findIndex((e) => e.driver.label.startsWith('Redis'));
    const baselineIndex = entrants.findIndex((e) => e.driver.label.startsWith('baseline'));
    for (const c of CONCURRENCY) {
      console.log(`| ${c} | ${ratio(1, 0, c).toFixed(2)}x | ${redisIndex < 0 ? '' : `${ratio(1, redisIndex, c).toFixed(2)}x`} | ${baselineIndex < 0 ? '' : `${ratio(baselineIndex, 0, c).toFixed(2)}x`} |`);
    }
    const p50 = (i: number) => median(entrants[i].results.get(1)?.map((r) => r.p50Ms) ?? [NaN]);
    if (CONCURRENCY.includes(1)) {
      console.log(`\nC=1 p50: durable ${p50(1).toFixed(3)} ms; in-memory ${p50(0).toFixed(3)} ms + disk ${(median(disk) / 1000).toFixed(3)} ms = ${(p50(0) + median(disk) / 1000).toFixed(3)} ms; ratio ${(p50(1) / (p50(0) + median(disk) / 1000)).toFixed(2)}x`);
    }
  } finally {
    for (const t of targets) await t.stop();
  }
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
