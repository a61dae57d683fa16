/**
 * `npm run bench [-- flags]`: starts every target, runs every workload at each concurrency,
 * measures memory per held lease and idle connections, stops everything it started, prints one
 * markdown report with same-run ratios and issue 6's targets, and writes it (results.md) with
 * the raw figures (raw.jsonl, one JSON object a line) under bench/results/<time>/. A full run
 * with no filter flags also refreshes bench/RESULTS.md.
 *
 * Flags: see USAGE below (`--help`).
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { idleConnections, lockdMemory, MemoryResult, redisMemory } from './capacity';
import { DiskSyncFloor, measureSyncedWrites } from './disk';
import { Driver, lockdDriver, noopThriftDriver, POLL_RETRY, rawTcpDriver, REDLOCK_RETRY, redisDriver } from './clients';
import { BenchData, HeadToHead, LABELS, renderReport } from './report';
import { writeMainReport } from './results-file';
import { killAllNow, LockdVariant, openFileLimit, redisMissing, ROOT, startLockd, startNoopThrift, startRawTcp, startRedis, Target, TargetSkipped, WANTED_FD_LIMIT } from './targets';
import { runWorkload, Timing, WorkloadName, WorkloadResult, WORKLOADS } from './workloads';

const USAGE = `usage: npm run bench -- [flags]
  --quick              smoke run in under a minute: short windows, 100,000 leases, 1,000 connections
  --warmup-ms N        warm-up before each measured window (default 1000; quick 100)
  --duration-ms N      measured window (default 5000; quick 400)
  --c LIST             concurrencies (default 1,16,64)
  --only LIST          workloads: uncontended,contended,mixed (default all)
  --targets LIST       raw,noop,lockd,redis,durable,redis-always (default all)
  --leases N           leases held for the memory figure (default 1,000,000; quick 100,000)
  --connections N      idle connections (default 10,000; quick 1,000)
  --no-memory          skip the memory figure
  --no-connections     skip the idle-connection figure
  --rounds N           head-to-head rounds at C=64, targets interleaved (default 7; quick 2; 0 skips)
  --round-ms N         measured window of one head-to-head run (default 2000; quick 300)
  --out DIR            where to write results.md and raw.jsonl (default bench/results/<time>)
A full run (no flags) writes bench/RESULTS.md and then runs npm run bench:cluster (lockd cluster
mode against etcd's own lock), which adds its section there; npm run bench:recovery keeps one too.`;

const TARGET_KINDS = ['raw', 'noop', 'lockd', 'redis', 'durable', 'redis-always'] as const;
type TargetKind = (typeof TARGET_KINDS)[number];

/** The run's settings, from flags. */
interface Settings {
  quick: boolean;
  timing: Timing;
  concurrencies: number[];
  workloads: WorkloadName[];
  targets: TargetKind[];
  leases: number;
  connections: number;
  memory: boolean;
  idle: boolean;
  /** Head-to-head rounds (0: none) and the timing of each run in them. */
  rounds: number;
  roundTiming: Timing;
  settleMs: number;
  outDir: string;
  /** Full run with no filters: also write bench/RESULTS.md. */
  canonical: boolean;
}

function parseSettings(argv: string[]): Settings {
  const { values } = parseArgs({
    args: argv,
    options: {
      quick: { type: 'boolean' },
      'warmup-ms': { type: 'string' },
      'duration-ms': { type: 'string' },
      c: { type: 'string' },
      only: { type: 'string' },
      targets: { type: 'string' },
      leases: { type: 'string' },
      connections: { type: 'string' },
      'no-memory': { type: 'boolean' },
      'no-connections': { type: 'boolean' },
      rounds: { type: 'string' },
      'round-ms': { type: 'string' },
      out: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    console.log(USAGE);
    process.exit(0);
  }
  const quick = values.quick === true;
  const count = (flag: string, raw: string | undefined, fallback: number, min: number) => {
    const n = raw === undefined ? fallback : Number(raw);
    if (!Number.isInteger(n) || n < min) throw new Error(`--${flag} must be an integer ≥ ${min}, not ${raw}\n${USAGE}`);
    return n;
  };
  const list = <T extends string>(flag: string, raw: string | undefined, allowed: readonly T[]): T[] => {
    if (raw === undefined) return [...allowed];
    const items = raw.split(',').map((s) => s.trim()) as T[];
    const bad = items.filter((item) => !allowed.includes(item));
    if (bad.length > 0) throw new Error(`--${flag}: unknown ${bad.join(', ')} (choose from ${allowed.join(', ')})`);
    return items;
  };
  const windowMs = count('duration-ms', values['duration-ms'], quick ? 400 : 5_000, 1);
  const concurrencies = (values.c ?? '1,16,64').split(',').map((s) => count('c', s, 1, 1));
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  return {
    quick,
    timing: { warmupMs: count('warmup-ms', values['warmup-ms'], quick ? 100 : 1_000, 0), windowMs, graceMs: quick ? 5_000 : 10_000 },
    concurrencies,
    workloads: list('only', values.only, WORKLOADS),
    targets: list('targets', values.targets, TARGET_KINDS),
    leases: count('leases', values.leases, quick ? 100_000 : 1_000_000, 1),
    connections: count('connections', values.connections, quick ? 1_000 : 10_000, 1),
    memory: values['no-memory'] !== true,
    idle: values['no-connections'] !== true,
    rounds: count('rounds', values.rounds, quick ? 2 : 7, 0),
    roundTiming: { warmupMs: quick ? 100 : 500, windowMs: count('round-ms', values['round-ms'], quick ? 300 : 2_000, 1), graceMs: quick ? 5_000 : 10_000 },
    settleMs: quick ? 300 : 2_000,
    outDir: path.resolve(values.out ?? path.join(ROOT, 'bench/results', stamp)),
    canonical: !quick && argv.length === 0,
  };
}

/**
 * The load process needs one descriptor per idle connection. When its soft limit is too low and
 * the hard limit allows more, run this script again under `ulimit -n` (once) and return its exit code.
 */
function rerunWithMoreFiles(settings: Settings): number | undefined {
  const soft = openFileLimit('self') ?? Infinity;
  const hard = openFileLimit('self', 'hard') ?? soft;
  if (!settings.idle || soft >= settings.connections + 1_000 || hard <= soft || process.env.LOCKD_BENCH_RERUN === '1') return undefined;
  const script = `ulimit -n ${WANTED_FD_LIMIT} 2>/dev/null || ulimit -n "$(ulimit -Hn)"; exec "$0" "$@"`;
  const child = spawnSync('bash', ['-c', script, process.execPath, ...process.execArgv, __filename, ...process.argv.slice(2)], { stdio: 'inherit', env: { ...process.env, LOCKD_BENCH_RERUN: '1' } });
  return child.status ?? 1;
}

function machine(): string {
  const cpus = os.cpus();
  const redis = spawnSync('redis-server', ['--version'], { encoding: 'utf8' }).stdout?.match(/v=([\d.]+)/)?.[1];
  return `${cpus.length} × ${cpus[0]?.model.trim() ?? 'cpu'} · ${Math.round(os.totalmem() / 2 ** 30)} GiB · Linux ${os.release()} · Node ${process.version}${redis ? ` · redis-server ${redis}` : ''}`;
}

interface HeadToHeadEntrant {
  driver: Driver;
  workload: WorkloadName;
  results: WorkloadResult[];
}

/** The run: measurements in order, each target started, used, and stopped before the next. */
class Bench {
  readonly results: WorkloadResult[] = [];
  readonly notes: string[] = [];
  memory: MemoryResult[] = [];
  connections: BenchData['connections'];
  headToHeadResult: HeadToHead | undefined;
  private readonly rawPath: string;

  constructor(readonly settings: Settings) {
    fs.mkdirSync(settings.outDir, { recursive: true });
    this.rawPath = path.join(settings.outDir, 'raw.jsonl');
    fs.writeFileSync(this.rawPath, '');
  }

  /** Appends one raw record to raw.jsonl as soon as it is measured. */
  record(kind: string, value: object): void {
    fs.appendFileSync(this.rawPath, `${JSON.stringify({ kind, ...value })}\n`);
  }

  note(line: string): void {
    this.notes.push(line);
    this.record('note', { line });
    process.stderr.write(`  note: ${line}\n`);
  }

  /** Starts a target, runs `use`, always stops it; a target that cannot start becomes a note. */
  async with(start: () => Promise<Target>, use: (target: Target) => Promise<void>, what: string): Promise<void> {
    let target: Target;
    try {
      target = await start();
    } catch (error) {
      if (!(error instanceof TargetSkipped)) throw error;
      this.note(`${what} skipped: ${error.message}`);
      return;
    }
    try {
      await use(target);
    } finally {
      await target.stop();
    }
  }

  async workloads(driver: Driver, workloads: readonly WorkloadName[]): Promise<void> {
    for (const workload of workloads.filter((w) => this.settings.workloads.includes(w))) {
      for (const c of this.settings.concurrencies) {
        const result = await runWorkload(driver, workload, c, this.settings.timing);
        this.results.push(result);
        this.record('workload', result);
        process.stderr.write(`  ${result.target} ${workload} C=${c}: ${result.pairsPerSecond.toLocaleString('en-US')} pairs/s${result.errors ? ` (${result.errors} errors)` : ''}\n`);
      }
    }
  }

  async throughput(): Promise<void> {
    const wants = (kind: TargetKind) => this.settings.targets.includes(kind);
    if (wants('raw')) await this.with(startRawTcp, (t) => this.workloads(rawTcpDriver(t), ['uncontended']), LABELS.floor);
    if (wants('noop')) await this.with(startNoopThrift, (t) => this.workloads(noopThriftDriver(t), ['uncontended']), LABELS.noop);
    if (wants('lockd')) await this.with(() => startLockd('memory'), (t) => this.workloads(lockdDriver(t), WORKLOADS), LABELS.lockd);
    if (wants('redis')) {
      await this.with(
        startRedis,
        async (t) => {
          await this.workloads(redisDriver(t, POLL_RETRY, t.name), ['uncontended']);
          await this.workloads(redisDriver(t, REDLOCK_RETRY), ['contended']);
          await this.workloads(redisDriver(t, POLL_RETRY), ['contended', 'mixed']);
        },
        'Redis rows',
      );
    }
    if (wants('durable')) {
      for (const fsync of ['batch', 'always', 'off'] as LockdVariant[]) {
        await this.with(() => startLockd(fsync), (t) => this.workloads(lockdDriver(t), ['uncontended']), `lockd durable (--fsync ${fsync}) rows`);
      }
    }
    // The durable Redis a durable lockd is held against: an append-only file fsynced before each reply.
    if (wants('redis-always')) await this.with(() => startRedis('always'), (t) => this.workloads(redisDriver(t, POLL_RETRY, t.name), ['uncontended']), 'Redis appendfsync always rows');
  }

  /**
   * The figures the speed targets compare, measured with every target up at once and runs
   * interleaved (floor, Redis, lockd, lockd contended, durable; again and again), so a slow
   * minute on a shared VM hits every side of a ratio alike. Ratios are medians of per-round ratios.
   */
  async headToHead(): Promise<void> {
    const { rounds, targets: kinds } = this.settings;
    if (rounds === 0) return;
    const c = Math.max(...this.settings.concurrencies);
    const started: Target[] = [];
    const entrants: HeadToHeadEntrant[] = [];
    const enter = async (kind: TargetKind, start: () => Promise<Target>, runs: Array<{ driver: (t: Target) => Driver; workload: WorkloadName }>) => {
      if (!kinds.includes(kind)) return;
      try {
        const target = await start();
        started.push(target);
        for (const run of runs) entrants.push({ driver: run.driver(target), workload: run.workload, results: [] });
      } catch (error) {
        if (!(error instanceof TargetSkipped)) throw error;
      }
    };
    try {
      await enter('raw', startRawTcp, [{ driver: rawTcpDriver, workload: 'uncontended' }]);
      await enter('redis', startRedis, [{ driver: (t) => redisDriver(t, POLL_RETRY, t.name), workload: 'uncontended' }]);
      await enter('lockd', () => startLockd('memory'), [
        { driver: lockdDriver, workload: 'uncontended' },
        { driver: lockdDriver, workload: 'contended' },
      ]);
      await enter('durable', () => startLockd('batch'), [{ driver: lockdDriver, workload: 'uncontended' }]);
      await enter('redis-always', () => startRedis('always'), [{ driver: (t) => redisDriver(t, POLL_RETRY, t.name), workload: 'uncontended' }]);
      const diskSync: DiskSyncFloor[] = [];
      for (let round = 1; round <= rounds; round++) {
        for (const entrant of entrants) {
          const result = await runWorkload(entrant.driver, entrant.workload, c, this.settings.roundTiming);
          entrant.results.push(result);
          this.record('head-to-head', { round, ...result });
        }
        if (kinds.includes('durable') || kinds.includes('redis-always')) {
          diskSync.push(measureSyncedWrites());
          this.record('disk-sync', { round, ...diskSync[round - 1] });
        }
        process.stderr.write(`  head-to-head round ${round}/${rounds}: ${entrants.map((e) => `${e.driver.label} ${e.workload} ${e.results[round - 1].pairsPerSecond.toLocaleString('en-US')}`).join(' · ')}\n`);
      }
      this.headToHeadResult = {
        concurrency: c,
        rounds,
        timing: this.settings.roundTiming,
        entrants: entrants.map((e) => ({ target: e.driver.label, workload: e.workload, results: e.results })),
        diskSync,
      };
    } finally {
      for (const target of started) await target.stop();
    }
  }

  async capacity(): Promise<void> {
    const { leases, settleMs } = this.settings;
    const wants = (kind: TargetKind) => this.settings.targets.includes(kind);
    if (this.settings.memory) {
      const keep = (m: MemoryResult) => {
        this.memory.push(m);
        this.record('memory', m);
        process.stderr.write(`  ${m.target}: ${Math.round(m.bytesPerLease)} bytes per lease\n`);
      };
      if (wants('lockd')) await this.with(() => startLockd('memory'), async (t) => keep(await lockdMemory(t, leases, settleMs)), 'lockd memory');
      if (wants('redis')) await this.with(startRedis, async (t) => keep(await redisMemory(t, leases, settleMs)), 'Redis memory');
    }
    if (this.settings.idle && wants('lockd')) {
      await this.with(
        () => startLockd('memory'),
        async (t) => {
          this.connections = await idleConnections(t, this.settings.connections, settleMs);
          this.record('connections', this.connections);
          process.stderr.write(`  idle connections: ${this.connections.opened} opened\n`);
        },
        'idle connections',
      );
    }
  }
}

async function main(): Promise<number> {
  const settings = parseSettings(process.argv.slice(2));
  const rerun = rerunWithMoreFiles(settings);
  if (rerun !== undefined) return rerun;
  const bench = new Bench(settings);
  const startedAt = new Date().toISOString();
  const loadAtStart = os.loadavg()[0];
  bench.record('meta', { startedAt, machine: machine(), loadAverage: os.loadavg(), settings });
  const missing = redisMissing();
  if (missing && settings.targets.includes('redis')) {
    bench.note(`Redis rows skipped: ${missing}`);
    settings.targets = settings.targets.filter((t) => t !== 'redis' && t !== 'redis-always');
  }
  try {
    await bench.throughput();
    await bench.headToHead();
    await bench.capacity();
  } finally {
    killAllNow();
  }
  const report = renderReport({
    startedAt,
    machine: machine(),
    quick: settings.quick,
    load: { start: loadAtStart, end: os.loadavg()[0] },
    timing: settings.timing,
    concurrencies: settings.concurrencies,
    workloads: settings.workloads,
    results: bench.results,
    notes: bench.notes,
    memory: bench.memory,
    memoryLeases: settings.leases,
    connections: bench.connections,
    headToHead: bench.headToHeadResult,
  });
  process.stdout.write(report);
  fs.writeFileSync(path.join(settings.outDir, 'results.md'), report);
  if (settings.canonical) writeMainReport(report);
  process.stderr.write(`written to ${path.relative(ROOT, settings.outDir) || settings.outDir}\n`);
  // A full run also measures cluster mode against etcd's own lock on one etcd (issue 13); that
  // script records its own section of bench/RESULTS.md.
  if (settings.canonical) {
    const cluster = spawnSync(process.execPath, [path.join(__dirname, 'cluster.js')], { stdio: 'inherit' });
    if (cluster.status !== 0) process.stderr.write(`npm run bench:cluster failed (exit ${cluster.status}); bench/RESULTS.md keeps its earlier cluster section\n`);
  }
  return 0;
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    killAllNow();
    console.error(error instanceof Error ? error.message : error);
    process.exit(1);
  },
);
