/**
 * What metrics cost on the hot path, side by side in one run (goal: at most 5%).
 *
 * 1. In process, no network (the worst case): acquire + release pairs on a LocalBackend over a
 *    MemoryStore, bare vs wrapped in MeteredBackend, in alternating rounds.
 * 2. End to end: two in-memory lockd processes, one with the HTTP listener and --metrics=false,
 *    one with metrics on (both listen for HTTP, so only the bookkeeping differs); C LockClient
 *    workers doing acquire/release pairs for a few seconds per round, servers alternating, one
 *    /metrics scrape per round on the metered one. Throughput on a shared machine swings between
 *    rounds, so lockd's own CPU time per pair (from /proc/PID/stat) is reported beside it: it
 *    does not depend on how the client processes were scheduled.
 *
 *   npm run build && node dist/scripts/bench/metrics-cost.js [--rounds 5] [--seconds 3] [--workers 16] [--pairs 200000]
 */
import { ChildProcess, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { LocalBackend } from '../../src/backend/local-backend';
import { LockClient } from '../../src/client';
import { LockMetrics } from '../../src/metrics/lock-metrics';
import { MeteredBackend } from '../../src/metrics/metered-backend';
import { DEFAULT_SERVER_OPTIONS } from '../../src/options';
import { MemoryStore } from '../../src/store/store';
import { systemClock } from '../../src/table/types';
import type { Backend, SessionSink } from '../../src/backend/backend';

const { values } = parseArgs({
  options: {
    rounds: { type: 'string', default: '5' },
    seconds: { type: 'string', default: '3' },
    workers: { type: 'string', default: '8' },
    pairs: { type: 'string', default: '50000' },
  },
});
const ROUNDS = Number(values.rounds);
const ROUND_MS = Number(values.seconds) * 1000;
const WORKERS = Number(values.workers);
const PAIRS = Number(values.pairs);
/** Keys spread over this many prefixes (each its own series) so label lookups are exercised. */
const PREFIXES = 50;
const ROOT = path.resolve(__dirname, '../../..');

const noSink: SessionSink = { waiterGranted() {}, waiterTimedOut() {} };

/** Acquire + release pairs per second on `backend`, in process. */
function inProcessRound(backend: Backend, pairs: number): number {
  const session = backend.openSession(noSink);
  const keys = Array.from({ length: 1000 }, (_, i) => `p${i % PREFIXES}/job/${i}`);
  const started = performance.now();
  for (let i = 0; i < pairs; i++) {
    const outcome = backend.acquire({ key: keys[i % keys.length], session });
    if (outcome.kind !== 'granted') throw new Error(`expected a grant, got ${outcome.kind}`);
    backend.release(outcome.lease.key, outcome.lease.token);
  }
  const seconds = (performance.now() - started) / 1000;
  backend.closeSession(session);
  return pairs / seconds;
}

async function inProcess(): Promise<{ off: number[]; on: number[] }> {
  const limits = { ...DEFAULT_SERVER_OPTIONS, maxLeases: 10_000, maxWaiters: 1_000 };
  const bare = new LocalBackend(limits, new MemoryStore(), systemClock, false);
  const inner = new LocalBackend(limits, new MemoryStore(), systemClock, false);
  const sources = { leases: () => 0, waiters: () => 0, connections: () => 0, httpWaits: () => 0, draining: () => false };
  const metrics = new LockMetrics({ prefixDepth: 1, maxPrefixes: 100, onPrefixOverflow() {}, processMetrics: false }, sources);
  const metered = new MeteredBackend(inner, metrics);
  await bare.open();
  await inner.open();
  inProcessRound(bare, PAIRS / 4); // warm up both before measuring
  inProcessRound(metered, PAIRS / 4);
  const off: number[] = [];
  const on: number[] = [];
  // Three times the rounds (they are short), alternating which goes first.
  for (let round = 0; round < ROUNDS * 3; round++) {
    if (round % 2 === 0) {
      off.push(inProcessRound(bare, PAIRS));
      on.push(inProcessRound(metered, PAIRS));
    } else {
      on.push(inProcessRound(metered, PAIRS));
      off.push(inProcessRound(bare, PAIRS));
    }
  }
  await bare.close();
  await inner.close();
  return { off, on };
}

interface Server {
  child: ChildProcess;
  port: number;
  httpPort: number;
}

function startLockd(metricsOn: boolean): Promise<Server> {
  const args = [path.join(ROOT, 'dist/src/server/main.js'), '--in-memory', '--host', '127.0.0.1', '--port', '0', '--http-port', '0', '--log-level', 'warn'];
  if (!metricsOn) args.push('--metrics=false');
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`lockd was not ready in 15 s: ${out}`)), 15_000);
    child.once('exit', (code) => reject(new Error(`lockd exited (${code}): ${out}`)));
    child.stdout!.on('data', (chunk: Buffer) => {
      out += chunk;
      const ready = /^lockd listening on \S+:(\d+)$/m.exec(out);
      const http = /^lockd http listening on \S+:(\d+)$/m.exec(out);
      if (ready && http) {
        clearTimeout(timer);
        resolve({ child, port: Number(ready[1]), httpPort: Number(http[1]) });
      }
    });
  });
}

/** CPU seconds (user + system) a process has used, from /proc/PID/stat. */
function cpuSecondsOf(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  // utime and stime are fields 14 and 15 of stat, in clock ticks (100 per second on Linux).
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/** One round's throughput and the server's CPU microseconds per pair. */
interface RoundResult {
  pairsPerSecond: number;
  cpuMicrosPerPair: number;
}

/** Pairs per second over WORKERS clients for ROUND_MS, and what they cost `server` in CPU. */
async function networkRound(clients: LockClient[], round: number, server: Server): Promise<RoundResult> {
  const cpuBefore = cpuSecondsOf(server.child.pid!);
  const deadline = performance.now() + ROUND_MS;
  let pairs = 0;
  const started = performance.now();
  await Promise.all(
    clients.map(async (client, w) => {
      for (let i = 0; performance.now() < deadline; i++) {
        const lease = await client.acquire(`p${(w + i) % PREFIXES}/r${round}/w${w}`, { waitMs: 0, ttlMs: 30_000 });
        await lease.release();
        pairs++;
      }
    }),
  );
  const cpu = cpuSecondsOf(server.child.pid!) - cpuBefore;
  return { pairsPerSecond: pairs / ((performance.now() - started) / 1000), cpuMicrosPerPair: (cpu * 1e6) / pairs };
}

async function endToEnd(): Promise<{ throughput: { off: number[]; on: number[] }; cpu: { off: number[]; on: number[] } }> {
  const servers = { off: await startLockd(false), on: await startLockd(true) };
  const clients = {
    off: Array.from({ length: WORKERS }, () => new LockClient({ host: '127.0.0.1', port: servers.off.port })),
    on: Array.from({ length: WORKERS }, () => new LockClient({ host: '127.0.0.1', port: servers.on.port })),
  };
  const throughput = { off: [] as number[], on: [] as number[] };
  const cpu = { off: [] as number[], on: [] as number[] };
  try {
    await networkRound(clients.off, -1, servers.off); // warm up
    await networkRound(clients.on, -1, servers.on);
    for (let round = 0; round < ROUNDS; round++) {
      // Alternate which goes first, so drift on a shared machine hits both alike.
      const order: Array<'off' | 'on'> = round % 2 === 0 ? ['off', 'on'] : ['on', 'off'];
      for (const which of order) {
        const { pairsPerSecond, cpuMicrosPerPair } = await networkRound(clients[which], round, servers[which]);
        throughput[which].push(pairsPerSecond);
        cpu[which].push(cpuMicrosPerPair);
        if (which === 'on') await (await fetch(`http://127.0.0.1:${servers.on.httpPort}/metrics`)).text();
      }
    }
  } finally {
    await Promise.all([...clients.off, ...clients.on].map((c) => c.close()));
    for (const server of Object.values(servers)) server.child.kill('SIGTERM');
  }
  return { throughput, cpu };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

/** Prints both medians and the cost; `higherIsBetter` for throughput, false for CPU per pair. */
function report(title: string, { off, on }: { off: number[]; on: number[] }, unit: string, higherIsBetter = true): void {
  const cost = (higherIsBetter ? 1 - median(on) / median(off) : median(on) / median(off) - 1) * 100;
  const fmt = (xs: number[]) => xs.map((x) => (x >= 1000 ? `${(x / 1000).toFixed(1)}k` : x.toFixed(1))).join(', ');
  process.stdout.write(
    `${title}\n  metrics off: median ${Math.round(median(off)).toLocaleString('en-US')} ${unit} (rounds: ${fmt(off)})\n` +
      `  metrics on:  median ${Math.round(median(on)).toLocaleString('en-US')} ${unit} (rounds: ${fmt(on)})\n` +
      `  cost: ${cost.toFixed(1)}% ${cost <= 5 ? '(within the 5% goal)' : '(OVER the 5% goal)'}\n\n`,
  );
}

async function main(): Promise<void> {
  process.stdout.write(`metrics cost, ${new Date().toISOString()}, node ${process.version}, ${ROUNDS} rounds\n\n`);
  report(`in process (LocalBackend vs MeteredBackend, ${PAIRS.toLocaleString('en-US')} acquire+release pairs per round, no network)`, await inProcess(), 'pairs/s');
  const { throughput, cpu } = await endToEnd();
  report(`end to end (in-memory lockd, ${WORKERS} LockClient workers, ${ROUND_MS / 1000} s per round): throughput`, throughput, 'pairs/s');
  report(`end to end: lockd's CPU per acquire+release pair (/proc/PID/stat)`, cpu, 'us/pair', false);
}

main().catch((error) => {
  process.stderr.write(`${error instanceof Error ? error.stack : String(error)}\n`);
  process.exit(1);
});
