/**
 * The markdown report: one table per workload with same-run ratios beside lockd's rows, a ratio
 * summary, memory and connection figures, and issue 6's speed targets marked PASS or FAIL (a
 * report of one run, not a test).
 */
import type { ConnectionsResult, MemoryResult } from './capacity';
import type { DiskSyncFloor } from './disk';
import { median } from './stats';
import { lockdName, REDIS_ALWAYS_NAME, WANTED_FD_LIMIT } from './targets';
import type { Timing, WorkloadName, WorkloadResult } from './workloads';

/** Row labels the report compares; run.ts names its rows with these. */
export const LABELS = {
  floor: 'raw TCP ping-pong (floor)',
  noop: 'no-op Thrift server (npm runtime)',
  lockd: lockdName('memory'),
  durableBatch: lockdName('batch'),
  redisPrefix: 'Redis 7',
  redisAlways: REDIS_ALWAYS_NAME,
} as const;

/** Everything one run measured, and how. */
export interface BenchData {
  startedAt: string;
  /** One line: CPUs, memory, kernel, Node, Redis version. */
  machine: string;
  quick: boolean;
  /** 1-minute load average at the start and at the end: other work on the machine skews a run. */
  load: { start: number; end: number };
  timing: Timing;
  concurrencies: number[];
  workloads: WorkloadName[];
  results: WorkloadResult[];
  /** Lines about rows not run (missing Redis, a refused flag) and other caveats. */
  notes: string[];
  memory?: MemoryResult[];
  memoryLeases: number;
  connections?: ConnectionsResult;
  headToHead?: HeadToHead;
}

/** Runs at one concurrency with every target up at once, interleaved round by round. */
export interface HeadToHead {
  concurrency: number;
  rounds: number;
  timing: Timing;
  /** One per target and workload, with one result per round (in round order). */
  entrants: Array<{ target: string; workload: WorkloadName; results: WorkloadResult[] }>;
  /** The disk's synced-write latency after each round (when durable lockd ran). */
  diskSync: DiskSyncFloor[];
}

/** A ratio the speed targets use: its per-round values and their median. */
interface RoundRatio {
  perRound: number[];
  median: number;
}


/** numerator / denominator of each round (rounds where either is missing are left out). */
function roundRatio(h: HeadToHead, numerator: (label: string, w: WorkloadName) => boolean, denominator: (label: string, w: WorkloadName) => boolean): RoundRatio | undefined {
  const top = h.entrants.find((e) => numerator(e.target, e.workload));
  const bottom = h.entrants.find((e) => denominator(e.target, e.workload));
  if (!top || !bottom) return undefined;
  const perRound = top.results.map((r, i) => r.pairsPerSecond / (bottom.results[i]?.pairsPerSecond ?? NaN)).filter(Number.isFinite);
  return { perRound, median: median(perRound) };
}

/** The four ratios of issue 6's targets, from the interleaved rounds. */
function headToHeadRatios(h: HeadToHead) {
  const lockd = (label: string, w: WorkloadName) => label === LABELS.lockd && w === 'uncontended';
  return {
    redis: roundRatio(h, lockd, (label, w) => isRedis(label) && w === 'uncontended'),
    floor: roundRatio(h, lockd, (label) => label === LABELS.floor),
    contended: roundRatio(h, (label, w) => label === LABELS.lockd && w === 'contended', lockd),
    durable: roundRatio(h, (label) => label === LABELS.durableBatch, lockd),
    durableRedisAlways: roundRatio(h, (label) => label === LABELS.durableBatch, (label) => label === LABELS.redisAlways),
  };
}

const int = (n: number) => (Number.isFinite(n) ? Math.round(n).toLocaleString('en-US') : '–');
const ms = (n: number | undefined) => (n === undefined || !Number.isFinite(n) ? '–' : n.toFixed(2));
const pct = (n: number) => (Number.isFinite(n) ? `${(n * 100).toFixed(1)}%` : '–');
const x = (n: number) => (Number.isFinite(n) ? `${n.toFixed(2)}×` : '–');
const mib = (bytes: number) => `${(bytes / 2 ** 20).toFixed(1)}`;

/** A Redis row lockd in memory is compared with (not the durable Redis, which durable lockd is). */
const isRedis = (label: string) => label.startsWith(LABELS.redisPrefix) && label !== LABELS.redisAlways;
/** "Redis" for the uncontended row, "Redis redlock" / "Redis poll" for the retry variants. */
const redisShort = (label: string) => (label.includes('redlock') ? 'Redis redlock' : label.includes('poll') ? 'Redis poll' : 'Redis');

/** Renders the whole report as markdown. */
export function renderReport(data: BenchData): string {
  const out: string[] = [];
  const say = (line = '') => out.push(line);
  const find = (label: string, workload: WorkloadName, c: number) => data.results.find((r) => r.target === label && r.workload === workload && r.concurrency === c);

  say('# lockd benchmark');
  say();
  say(`${data.startedAt} · ${data.machine}${data.quick ? ' · **QUICK (smoke) run: figures are not comparable with full runs**' : ''}`);
  say();
  say(`Load average (1 min) ${data.load.start.toFixed(2)} at the start, ${data.load.end.toFixed(2)} at the end.`);
  say();
  say(`Window ${int(data.timing.windowMs)} ms after ${int(data.timing.warmupMs)} ms of warm-up; only pairs completed inside it count. One pair = acquire + release; each worker on its own persistent connection; the load runs in one Node process beside the server on the same cores, so read ratios of one run, not absolutes.`);
  for (const note of data.notes) say(`> ${note}`);

  for (const workload of data.workloads) {
    const rows = data.results.filter((r) => r.workload === workload);
    if (rows.length === 0) continue;
    const contended = workload === 'contended';
    say();
    say(`## ${workload}`);
    say();
    if (workload === 'uncontended') say('Worker i loops on its own key.');
    if (workload === 'contended') say('All workers on one key. lockd: waiting in its FIFO queue. Redis: SET NX fails fast and the client retries per its policy. Hand-off = from the moment one worker sends its release to the moment the next grant reaches a different worker (what a waiter sees: one trip to the server and one back); share = each worker\'s fraction of the grants (fair = 1/C).');
    if (workload === 'mixed') say('1,000 keys drawn from a Zipf distribution (s = 1.0). lockd waits in its queue; Redis polls every 10±5 ms.');
    say();
    say(`| target | C | pairs/s | p50 ms | p99 ms | max ms |${contended ? ' hand-off p50 / p99 ms (release sent → next grant) | share max / min | same worker again |' : ''} same-run ratios |`);
    say(`|---|---:|---:|---:|---:|---:|${contended ? '---:|---:|---:|' : ''}---|`);
    for (const r of rows) {
      const c = r.contention;
      const extra = contended && c ? ` ${ms(c.handoff.p50Ms)} / ${ms(c.handoff.p99Ms)} | ${pct(c.maxShare)} / ${pct(c.minShare)} | ${pct(c.sameWorkerAgain)} |` : contended ? ' | | |' : '';
      say(`| ${r.target} | ${r.concurrency} | ${int(r.pairsPerSecond)} | ${ms(r.p50Ms)} | ${ms(r.p99Ms)} | ${ms(r.maxMs)} |${extra} ${ratiosBeside(r, data.results)} |`);
    }
    for (const r of rows) {
      if (r.errors > 0) say(`> ${r.target} C=${r.concurrency}: ${r.errors} worker(s) stopped on an error; first: ${r.firstError}`);
      if (r.cutOff) say(`> ${r.target} C=${r.concurrency}: workers were still busy ${int(data.timing.graceMs)} ms after the window and were cut off.`);
    }
  }

  say();
  say('## Ratios (pairs/s, same run)');
  say();
  say('| C | lockd / Redis | lockd / raw TCP floor | lockd / no-op Thrift | durable batch / in-memory | durable batch / Redis appendfsync always | lockd contended / uncontended |');
  say('|---:|---:|---:|---:|---:|---:|---:|');
  for (const c of data.concurrencies) {
    const lockd = find(LABELS.lockd, 'uncontended', c)?.pairsPerSecond ?? NaN;
    const over = (label: string, workload: WorkloadName = 'uncontended') => x(lockd / (find(label, workload, c)?.pairsPerSecond ?? NaN));
    const redis = data.results.find((r) => isRedis(r.target) && r.workload === 'uncontended' && r.concurrency === c)?.target ?? '';
    const batch = (find(LABELS.durableBatch, 'uncontended', c)?.pairsPerSecond ?? NaN) / lockd;
    const hot = (find(LABELS.lockd, 'contended', c)?.pairsPerSecond ?? NaN) / lockd;
    const batchOverAlways = (find(LABELS.durableBatch, 'uncontended', c)?.pairsPerSecond ?? NaN) / (find(LABELS.redisAlways, 'uncontended', c)?.pairsPerSecond ?? NaN);
    say(`| ${c} | ${over(redis)} | ${over(LABELS.floor)} | ${over(LABELS.noop)} | ${x(batch)} | ${x(batchOverAlways)} | ${x(hot)} |`);
  }

  if (data.memory && data.memory.length > 0) {
    say();
    say(`## Memory: server RSS per held lease, ${int(data.memoryLeases)} leases`);
    say();
    say('Keys are 12 characters (`lease-000000`); Redis values are 32-hex tokens. RSS from /proc/PID/status after a warm-up (before) and after the leases are held (after).');
    say();
    say('| target | leases granted | RSS before MiB | RSS after MiB | bytes per lease |');
    say('|---|---:|---:|---:|---:|');
    for (const m of data.memory) say(`| ${m.target} | ${int(m.granted)} | ${mib(m.rssBeforeBytes)} | ${mib(m.rssAfterBytes)} | ${int(m.bytesPerLease)} |`);
  }

  const k = data.connections;
  if (k) {
    say();
    say(`## ${int(k.asked)} idle connections to lockd, each holding a lease`);
    say();
    say(`| opened | open-file limit lockd / load (asked ${int(WANTED_FD_LIMIT)}) | lockd RSS before / all open / after closing MiB | RSS per connection | pair on a further connection while all are open: p50 / max ms | lockd alive |`);
    say('|---:|---:|---:|---:|---:|---|');
    say(`| ${int(k.opened)} | ${k.serverFdLimit ?? '?'} / ${k.loadFdLimit ?? '?'} | ${mib(k.rssBeforeBytes)} / ${mib(k.rssOpenBytes)} / ${mib(k.rssAfterCloseBytes)} | ${int(k.rssPerConnectionBytes)} B | ${ms(k.pairP50Ms)} / ${ms(k.pairMaxMs)} | ${k.serverAlive ? 'yes' : 'NO'} |`);
    if (k.stoppedBecause) say(`> stopped early: ${k.stoppedBecause}`);
  }

  if (data.headToHead) renderHeadToHead(data.headToHead, say);

  say();
  renderTargets(data, say);
  return `${out.join('\n')}\n`;
}

/** The ratios printed beside a row: lockd against Redis, the floor and no-op Thrift; durable against in-memory. */
function ratiosBeside(row: WorkloadResult, results: WorkloadResult[]): string {
  const same = (r: WorkloadResult) => r.workload === row.workload && r.concurrency === row.concurrency;
  const parts: string[] = [];
  if (row.target === LABELS.lockd) {
    for (const redis of results.filter((r) => same(r) && isRedis(r.target))) parts.push(`${x(row.pairsPerSecond / redis.pairsPerSecond)} ${redisShort(redis.target)}`);
    const floor = results.find((r) => same(r) && r.target === LABELS.floor);
    if (floor) parts.push(`${x(row.pairsPerSecond / floor.pairsPerSecond)} floor`);
    const noop = results.find((r) => same(r) && r.target === LABELS.noop);
    if (noop) parts.push(`${x(row.pairsPerSecond / noop.pairsPerSecond)} no-op Thrift`);
  } else if (row.target.startsWith('lockd (durable')) {
    const memory = results.find((r) => same(r) && r.target === LABELS.lockd);
    if (memory) parts.push(`${x(row.pairsPerSecond / memory.pairsPerSecond)} in-memory`);
    const always = results.find((r) => same(r) && r.target === LABELS.redisAlways);
    if (always) parts.push(`${x(row.pairsPerSecond / always.pairsPerSecond)} Redis appendfsync always`);
  }
  return parts.join(' · ');
}

function renderHeadToHead(h: HeadToHead, say: (line?: string) => void): void {
  say();
  say(`## Head to head, C=${h.concurrency}: ${h.rounds} interleaved rounds`);
  say();
  say(`Every target up at once; each round runs each of them for ${int(h.timing.windowMs)} ms (after ${int(h.timing.warmupMs)} ms of warm-up) in turn, so a slow stretch of the shared VM falls on both sides of a ratio. The speed targets below use the medians of the per-round ratios.`);
  say();
  say('| target | workload | median pairs/s | each round |');
  say('|---|---|---:|---|');
  for (const e of h.entrants) say(`| ${e.target} | ${e.workload} | ${int(median(e.results.map((r) => r.pairsPerSecond)))} | ${e.results.map((r) => int(r.pairsPerSecond)).join(' · ')} |`);
  const ratios = headToHeadRatios(h);
  say();
  say('| ratio | median | each round |');
  say('|---|---:|---|');
  const row = (name: string, r: RoundRatio | undefined) => r && say(`| ${name} | ${x(r.median)} | ${r.perRound.map(x).join(' · ')} |`);
  row('lockd / Redis', ratios.redis);
  row('lockd / raw TCP floor', ratios.floor);
  row('lockd contended / uncontended', ratios.contended);
  row('durable batch / in-memory', ratios.durable);
  row('durable batch / Redis appendfsync always', ratios.durableRedisAlways);
  if (h.diskSync.length > 0) {
    say();
    say('The disk right after each round: one synced 4 KiB overwrite (what a durable batch waits for), p50 / p90 µs. Durable throughput depends on it.');
    say();
    say(`| disk | median p50 | each round |`);
    say('|---|---:|---|');
    say(`| synced write µs | ${int(median(h.diskSync.map((d) => d.p50Us)))} | ${h.diskSync.map((d) => `${int(d.p50Us)} / ${int(d.p90Us)}`).join(' · ')} |`);
  }
}

function renderTargets(data: BenchData, say: (line?: string) => void): void {
  const top = Math.max(...data.concurrencies);
  const find = (label: string, workload: WorkloadName) => data.results.find((r) => r.target === label && r.workload === workload && r.concurrency === top);
  const lockd = find(LABELS.lockd, 'uncontended');
  const redis = data.results.find((r) => isRedis(r.target) && r.workload === 'uncontended' && r.concurrency === top);
  const floor = find(LABELS.floor, 'uncontended');
  const hot = find(LABELS.lockd, 'contended');
  const batch = find(LABELS.durableBatch, 'uncontended');
  const redisAlways = find(LABELS.redisAlways, 'uncontended');
  const memory = data.memory?.find((m) => m.target === LABELS.lockd);
  const k = data.connections;

  say(`## Speed targets of issue 6 (this run${top === 64 ? '' : `; C=${top} stands in for C=64`}${data.quick ? '; quick run' : ''})`);
  say();
  const check = (label: string, value: number | undefined, limit: number, better: 'higher' | 'lower', shown: (v: number) => string) => {
    if (value === undefined || !Number.isFinite(value)) say(`- n/a  ${label}: not measured in this run`);
    else say(`- ${(better === 'higher' ? value >= limit : value <= limit) ? 'PASS' : 'FAIL'} ${label}: ${shown(value)}`);
  };
  const h2h = data.headToHead ? headToHeadRatios(data.headToHead) : undefined;
  // Prefer the interleaved medians: one sequential window per target is at the VM's mercy.
  const ratio = (a: WorkloadResult | undefined, b: WorkloadResult | undefined, interleaved: RoundRatio | undefined) =>
    interleaved ? interleaved.median : a && b ? a.pairsPerSecond / b.pairsPerSecond : undefined;
  if (data.headToHead) {
    say(`Ratios are the head-to-head medians (${data.headToHead.rounds} rounds at C=${data.headToHead.concurrency}); the rest is from the tables above.`);
    say();
  }
  check(`uncontended C=${top} ≥ 1.0× Redis`, ratio(lockd, redis, h2h?.redis), 1.0, 'higher', x);
  check(`uncontended C=${top} ≥ 0.5× raw TCP floor`, ratio(lockd, floor, h2h?.floor), 0.5, 'higher', x);
  check(`contended C=${top}: hand-off to another worker p99 ≤ 1 ms`, hot?.contention?.handoff.p99Ms, 1, 'lower', (v) => `${ms(v)} ms`);
  check(`contended C=${top}: no worker above 2/C = ${pct(2 / top)} of the grants`, hot?.contention?.maxShare, 2 / top, 'lower', (v) => `max ${pct(v)}`);
  check(`contended C=${top}: ≥ 0.5× lockd uncontended C=${top}`, ratio(hot, lockd, h2h?.contended), 0.5, 'higher', x);
  check(`≤ 150 bytes RSS per held lease at ${int(data.memoryLeases)} leases${data.memoryLeases === 1_000_000 ? '' : ' (the target is at 1,000,000)'}`, memory?.bytesPerLease, 150, 'lower', (v) => `${int(v)} B`);
  if (k) {
    const ok = k.opened === k.asked && k.serverAlive;
    say(`- ${ok ? 'PASS' : 'FAIL'} ${int(k.asked)} open connections without falling over: ${int(k.opened)} opened, lockd ${k.serverAlive ? 'alive' : 'DEAD'}, ${int(k.rssPerConnectionBytes)} B RSS per connection`);
  } else say('- n/a  idle connections: not measured in this run');
  check(`durable (fsync batch) ≥ 0.7× in-memory, uncontended C=${top}`, ratio(batch, lockd, h2h?.durable), 0.7, 'higher', x);
  check(`durable (fsync batch) ≥ 0.85× in-memory, uncontended C=${top} (issue 17)`, ratio(batch, lockd, h2h?.durable), 0.85, 'higher', x);
  check(`durable (fsync batch) ≥ 1.0× Redis appendfsync always, uncontended C=${top} (issue 17)`, ratio(batch, redisAlways, h2h?.durableRedisAlways), 1.0, 'higher', x);
}
