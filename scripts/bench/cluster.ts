/**
 * Cluster mode against etcd's own locks, on the same 3-member etcd (issue 13's numbers):
 *   - uncontended, C workers each on a key of its own: lockd with each worker connected to its
 *     key's owner ("owner-routed", what a cluster-aware client does) and to any node ("via any
 *     node", ~2/3 of calls forwarded), against etcd3's Lock (lease grant + txn + revoke per pair);
 *   - contended, one key, C workers: lockd (acquire with a wait, FIFO) against etcd3's Election
 *     (etcd's concurrency.Mutex algorithm: FIFO by revision), with each worker's share of grants;
 *   - failover: kill -9 of a key's owner, time until the first grant of that key through another
 *     node (target: node TTL + 2 s);
 *   - SIGSTOP of the etcd leader: time to the first call answered, and whether partitions moved;
 *   - etcd's database size after the run.
 * Rounds are interleaved (lockd, etcd, lockd, etcd...) after an unmeasured warm-up of each
 * uncontended workload (a fresh cluster's first seconds ran ~40% slower for both sides: JIT,
 * etcd's first WAL and DB pages); the table shows medians, and each ratio is the median of the
 * rounds' own ratios (a round's two runs share the machine's load of the moment).
 *
 *   npm run bench:cluster -- [--seconds 4] [--rounds 2] [--warmup-seconds 3] [--concurrency 64] [--node-ttl 5s] [--partitions 64] [--soak-seconds 0]
 *   (--rounds 0: the failover and the DB size only; --soak-seconds 600: ten minutes of full
 *   owner-routed load before the failover, every etcd member's DB size sampled each 10 s)
 *
 * Starts its own etcd members (/usr/bin/etcd, ETCD_BIN overrides) and lockd nodes on free
 * loopback ports with a temporary data dir, and stops them all (by pid) at the end.
 */
import { ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { Etcd3, type IStatusResponse } from 'etcd3';
import { ThriftConnection } from '../../src/client/thrift-connection';
import { partitionOf } from '../../src/cluster/partitions';
import { CALL_WRITERS, type CallArgs, type CallWriter, type MethodName, type ResultOf } from '../../src/protocol/lock-service/client';
import type { WireClusterInfo } from '../../src/protocol/lock-service/structs';
import { commandLine, writeSection } from './results-file';
import { median } from './stats';
import { freePort, ROOT } from './targets';

const ETCD_BIN = process.env.ETCD_BIN ?? '/usr/bin/etcd';
const LOCKD_MAIN = path.join(ROOT, 'dist/src/server/main.js');

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '4' },
    rounds: { type: 'string', default: '2' },
    'warmup-seconds': { type: 'string', default: '3' },
    concurrency: { type: 'string', default: '64' },
    'node-ttl': { type: 'string', default: '5s' },
    partitions: { type: 'string', default: '64' },
    'soak-seconds': { type: 'string', default: '0' },
  },
});
/** Seconds of full owner-routed load after the rounds, with etcd's DB size sampled (issue 13: 10 minutes under 256 MiB). */
const SOAK_SECONDS = Number(values['soak-seconds']);
const SECONDS = Number(values.seconds);
const WARMUP_SECONDS = Number(values['warmup-seconds']);
const LOG_DIR = process.env.BENCH_LOG_DIR;
/** BENCH_NODE_ARGS='--cpu-prof --cpu-prof-dir=DIR': Node flags for every lockd node (profiles are written when a node stops). */
const NODE_ARGS = (process.env.BENCH_NODE_ARGS ?? '').split(' ').filter((arg) => arg !== '');
const ROUNDS = Number(values.rounds);
const C = Number(values.concurrency);
const NODE_TTL = values['node-ttl']!;
const PARTITIONS = Number(values.partitions);

const children = new Set<ChildProcess>();
function killAll(): void {
  for (const child of children) if (child.pid !== undefined && child.exitCode === null && child.signalCode === null) tryKill(child.pid, 'SIGKILL');
}
process.on('exit', killAll);
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => process.exit(130));

function tryKill(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal);
  } catch {
    // already gone
  }
}

/** SIGTERM by pid, SIGKILL after 5 s. */
async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  tryKill(child.pid!, 'SIGTERM');
  const timer = setTimeout(() => tryKill(child.pid!, 'SIGKILL'), 5_000);
  await exited;
  clearTimeout(timer);
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Three etcd members on loopback (the README's recipe with free ports); resolves once all are healthy. */
async function startEtcd(dir: string): Promise<{ endpoints: string[]; procs: ChildProcess[] }> {
  const ports: number[] = [];
  while (ports.length < 6) {
    const port = await freePort();
    if (!ports.includes(port)) ports.push(port);
  }
  const cluster = [0, 1, 2].map((i) => `e${i + 1}=http://127.0.0.1:${ports[2 * i + 1]}`).join(',');
  const endpoints: string[] = [];
  const procs: ChildProcess[] = [];
  for (let i = 0; i < 3; i++) {
    const client = `http://127.0.0.1:${ports[2 * i]}`;
    const peer = `http://127.0.0.1:${ports[2 * i + 1]}`;
    const log = fs.openSync(path.join(dir, `e${i + 1}.log`), 'a');
    const child = spawn(ETCD_BIN, [
      '--name', `e${i + 1}`, '--data-dir', path.join(dir, `e${i + 1}`),
      '--listen-client-urls', client, '--advertise-client-urls', client,
      '--listen-peer-urls', peer, '--initial-advertise-peer-urls', peer,
      '--initial-cluster', cluster, '--initial-cluster-token', `lockd-bench-${process.pid}`, '--initial-cluster-state', 'new',
      '--logger', 'zap', '--log-outputs', 'stderr',
    ], { stdio: ['ignore', log, log] });
    children.add(child);
    endpoints.push(client);
    procs.push(child);
  }
  for (const endpoint of endpoints) {
    const deadline = Date.now() + 30_000;
    for (;;) {
      const health = await fetch(`${endpoint}/health`, { signal: AbortSignal.timeout(1000) }).then((r) => r.json() as Promise<{ health?: string }>).catch(() => undefined);
      if (health?.health === 'true') break;
      if (Date.now() > deadline) throw new Error(`etcd ${endpoint} not healthy within 30 s (logs in ${dir})`);
      await sleep(50);
    }
  }
  return { endpoints, procs };
}

interface Node {
  nodeId: string;
  port: number;
  child: ChildProcess;
}

/** A lockd cluster node; resolves at its ready line. */
async function startNode(endpoints: string[], nodeId: string): Promise<Node> {
  const port = await freePort();
  const child = spawn(process.execPath, [...NODE_ARGS, LOCKD_MAIN, '--host', '127.0.0.1', '--port', String(port), '--etcd', endpoints.join(','), '--cluster', 'bench', '--node-id', nodeId, '--advertise', `127.0.0.1:${port}`, '--partitions', String(PARTITIONS), '--node-ttl', NODE_TTL, '--log-level', LOG_DIR === undefined ? 'warn' : (process.env.BENCH_LOG_LEVEL ?? 'info')], { stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  // BENCH_LOG_DIR=dir keeps each node's log (at info, or BENCH_LOG_LEVEL) in dir/NODE.log, to see where a failover's time goes.
  if (LOG_DIR !== undefined) child.stderr!.pipe(fs.createWriteStream(path.join(LOG_DIR, `${nodeId}.log`)));
  let output = '';
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${nodeId} not ready within 60 s: ${output}`)), 60_000);
    child.stdout!.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      if (/lockd listening on /.test(output)) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.once('exit', (code) => reject(new Error(`${nodeId} exited (${code}): ${output}`)));
  });
  child.stdout!.resume();
  return { nodeId, port, child };
}

function connect(port: number): Promise<ThriftConnection> {
  return ThriftConnection.connect({ host: '127.0.0.1', port, transport: 'buffered', protocol: 'binary', connectTimeoutMs: 5_000, maxMessageBytes: 1 << 20 });
}

function call<M extends MethodName>(connection: ThriftConnection, method: M, args: CallArgs[M], timeoutMs = 30_000): Promise<ResultOf<M>> {
  return connection.call(method, CALL_WRITERS[method] as CallWriter<CallArgs[M]>, args, timeoutMs).reply as Promise<ResultOf<M>>;
}

/** Runs `pair` in C loops for SECONDS; pairs per second of the time until the last loop ended. */
async function runFor(pair: (worker: number, i: number) => Promise<void>, seconds = SECONDS): Promise<number> {
  const start = Date.now();
  const end = start + seconds * 1000;
  let pairs = 0;
  await Promise.all(
    Array.from({ length: C }, async (_, worker) => {
      for (let i = 0; Date.now() < end; i++) {
        await pair(worker, i);
        pairs++;
      }
    }),
  );
  return pairs / ((Date.now() - start) / 1000);
}

const mib = (bytes: number) => `${(bytes / 1048576).toFixed(1)} MiB`;

/** Each etcd member's database size, in bytes. */
async function dbSizesOf(endpoints: string[]): Promise<number[]> {
  return (await memberStatuses(endpoints)).map((status) => Number(status.dbSize));
}

/** Each etcd member's own status (asked of that member alone). */
function memberStatuses(endpoints: string[]): Promise<IStatusResponse[]> {
  return Promise.all(
    endpoints.map(async (endpoint) => {
      const one = new Etcd3({ hosts: [endpoint] });
      try {
        return await one.maintenance.status();
      } finally {
        one.close();
      }
    }),
  );
}

/** Full load for SOAK_SECONDS, sampling every member's DB size each 10 s: the largest size seen. */
async function soakRun(endpoints: string[], pair: (worker: number, i: number) => Promise<void>): Promise<{ pairs: number; maxDbBytes: number; samples: number }> {
  const end = Date.now() + SOAK_SECONDS * 1000;
  let pairs = 0;
  let maxDbBytes = 0;
  let samples = 0;
  const sampler = (async () => {
    while (Date.now() < end) {
      await sleep(Math.min(10_000, Math.max(0, end - Date.now())));
      const sizes = await dbSizesOf(endpoints);
      samples++;
      maxDbBytes = Math.max(maxDbBytes, ...sizes);
      process.stderr.write(`soak: ${Math.round((SOAK_SECONDS * 1000 - (end - Date.now())) / 1000)} s, ${pairs} pairs, etcd DB ${sizes.map(mib).join(', ')}\n`);
    }
  })();
  await Promise.all(
    Array.from({ length: C }, async (_, worker) => {
      for (let i = 0; Date.now() < end; i++) {
        await pair(worker, i);
        pairs++;
      }
    }),
  );
  await sampler;
  return { pairs, maxDbBytes, samples };
}

/** One key per partition (the first `probe/N` names that fall in it). */
function keyPerPartition(): string[] {
  const keys = new Array<string>(PARTITIONS);
  let found = 0;
  for (let i = 0; found < PARTITIONS; i++) {
    const p = partitionOf(`probe/${i}`, PARTITIONS);
    if (keys[p] === undefined) {
      keys[p] = `probe/${i}`;
      found++;
    }
  }
  return keys;
}

/** Each partition's partition-local fence counter now (acquire + release of its probe key through node 0). */
async function fenceCounters(conn: ThriftConnection, keys: string[]): Promise<number[]> {
  return Promise.all(
    keys.map(async (key) => {
      const granted = await call(conn, 'acquire', { lockKey: key, ttlMs: 10_000, waitMs: 30_000 }, 60_000);
      if (!granted.acquired) throw new Error(`probe ${key} not granted`);
      await call(conn, 'release', { key, token: granted.lease!.token });
      return Math.floor(granted.lease!.fence / PARTITIONS);
    }),
  );
}

/**
 * SIGSTOP of the etcd leader (issue 13: a leader change alone moves no partition, and calls
 * resume within 5 s): the time from the pause to the first answer of a grant sent after it, and
 * how many partitions moved: a partition claimed again (by any node) continues its fences a whole
 * block (2^24) above the last, so the fence counters before and after tell, as the owner map does.
 */
async function pauseEtcdLeader(etcd: { endpoints: string[]; procs: ChildProcess[] }, nodes: Node[]): Promise<{ resumedMs: number; moved: number }> {
  const conn = await connect(nodes[0].port);
  try {
    const keys = keyPerPartition();
    const before = await fenceCounters(conn, keys);
    const ownersBefore = (await call(conn, 'clusterInfo', undefined)).owners;
    const statuses = await memberStatuses(etcd.endpoints);
    const leader = statuses.findIndex((status) => status.leader === status.header.member_id);
    if (leader < 0) throw new Error('no etcd leader found');
    const pid = etcd.procs[leader].pid!;
    tryKill(pid, 'SIGSTOP');
    const pausedAt = Date.now();
    let resumedMs = NaN;
    try {
      // A fresh key each attempt: the first grant answered after the pause.
      for (let i = 0; Number.isNaN(resumedMs) && Date.now() - pausedAt < 60_000; i++) {
        const granted = await call(conn, 'acquire', { lockKey: `leader-pause/${i}`, ttlMs: 10_000 }, 30_000).catch(() => undefined);
        if (granted?.acquired) {
          resumedMs = Date.now() - pausedAt;
          await call(conn, 'release', { key: `leader-pause/${i}`, token: granted.lease!.token }).catch(() => undefined);
        }
      }
    } finally {
      tryKill(pid, 'SIGCONT');
    }
    // Time for a node whose session did end to be noticed and its partitions claimed again.
    await sleep(3_000);
    const after = await fenceCounters(conn, keys);
    const ownersAfter = (await call(conn, 'clusterInfo', undefined)).owners;
    let moved = 0;
    for (let p = 0; p < PARTITIONS; p++) if (after[p] - before[p] >= 2 ** 24 || ownersAfter[p] !== ownersBefore[p]) moved++;
    return { resumedMs, moved };
  } finally {
    conn.close();
  }
}

/** Top worker's share of grants (FIFO: about 1/C; the issue's bound is 2/C). */
function topShare(counts: number[]): number {
  const total = counts.reduce((a, b) => a + b, 0);
  return total === 0 ? 0 : Math.max(...counts) / total;
}

async function main(): Promise<void> {
  if (!fs.existsSync(LOCKD_MAIN)) throw new Error(`${LOCKD_MAIN} is missing: npm run build`);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lockd-bench-cluster-'));
  try {
    const etcd = await startEtcd(dir);
    const nodes: Node[] = [];
    for (let i = 0; i < 3; i++) nodes.push(await startNode(etcd.endpoints, `n${i}`));
    const probe = await connect(nodes[0].port);
    let info: WireClusterInfo;
    for (let tries = 0; ; tries++) {
      info = await call(probe, 'clusterInfo', undefined);
      const owning = info.members.filter((m) => m.partitions.length > 0).length;
      if (owning === 3 && info.owners.every((o) => o !== '')) break;
      if (tries > 1200) throw new Error(`partitions not spread: ${JSON.stringify(info)}`);
      await sleep(100);
    }
    probe.close();
    const ownerOf = (key: string) => nodes.findIndex((n) => n.nodeId === info.owners[partitionOf(key, PARTITIONS)]);
    // One connection per worker: to its key's owner (owner-routed) and to node w mod 3 (any node).
    const ownKeys = Array.from({ length: C }, (_, w) => `u/${w}`);
    const ownerConns = await Promise.all(ownKeys.map((key) => connect(nodes[ownerOf(key)].port)));
    const anyConns = await Promise.all(ownKeys.map((_, w) => connect(nodes[w % 3].port)));
    const etcdClient = new Etcd3({ hosts: etcd.endpoints });

    const lockdPair = (conns: ThriftConnection[]) => async (w: number) => {
      const result = await call(conns[w], 'acquire', { lockKey: ownKeys[w], ttlMs: 30_000 });
      if (!result.acquired) throw new Error(`not granted: ${ownKeys[w]}`);
      await call(conns[w], 'release', { key: ownKeys[w], token: result.lease!.token });
    };
    const etcdPair = async (w: number) => {
      const lock = etcdClient.lock(`lockd-bench-etcd/u/${w}`).ttl(30);
      await lock.acquire();
      await lock.release();
    };
    const contendedKey = 'contended';
    const lockdContended = (counts: number[]) => async (w: number) => {
      const result = await call(anyConns[w], 'acquire', { lockKey: contendedKey, ttlMs: 30_000, waitMs: 60_000 }, 90_000);
      if (!result.acquired) throw new Error('contended: not granted');
      counts[w]++;
      await call(anyConns[w], 'release', { key: contendedKey, token: result.lease!.token });
    };
    const etcdContended = (counts: number[]) => async (w: number) => {
      const campaign = etcdClient.election('lockd-bench-etcd/contended', 30).campaign(`w${w}`);
      await campaign.wait();
      counts[w]++;
      await campaign.resign();
    };

    if (ROUNDS > 0 && WARMUP_SECONDS > 0) for (const pair of [lockdPair(ownerConns), etcdPair, lockdPair(anyConns)]) await runFor(pair, WARMUP_SECONDS);
    const results: Record<string, number[]> = { owner: [], any: [], etcdLock: [], lockdContended: [], etcdContended: [], lockdTop: [], etcdTop: [] };
    for (let round = 0; round < ROUNDS; round++) {
      results.owner.push(await runFor(lockdPair(ownerConns)));
      results.etcdLock.push(await runFor(etcdPair));
      results.any.push(await runFor(lockdPair(anyConns)));
      const lc = new Array<number>(C).fill(0);
      results.lockdContended.push(await runFor(lockdContended(lc)));
      results.lockdTop.push(topShare(lc));
      const ec = new Array<number>(C).fill(0);
      results.etcdContended.push(await runFor(etcdContended(ec)));
      results.etcdTop.push(topShare(ec));
      process.stderr.write(`round ${round + 1}/${ROUNDS}: owner-routed ${Math.round(results.owner[round])}, any node ${Math.round(results.any[round])}, etcd3 Lock ${Math.round(results.etcdLock[round])}, contended lockd ${Math.round(results.lockdContended[round])} / etcd3 Election ${Math.round(results.etcdContended[round])} pairs/s\n`);
    }
    const soak = SOAK_SECONDS > 0 ? await soakRun(etcd.endpoints, lockdPair(ownerConns)) : undefined;
    for (const c of [...ownerConns, ...anyConns]) c.close();

    const leaderChange = await pauseEtcdLeader(etcd, nodes);

    // Failover: kill -9 the owner of a key; time to the first grant of it through another node.
    const failKey = 'failover/key';
    const victim = ownerOf(failKey);
    const other = nodes[(victim + 1) % 3];
    const warmConn = await connect(other.port);
    const warm = await call(warmConn, 'acquire', { lockKey: failKey, ttlMs: 1_000 });
    await call(warmConn, 'release', { key: failKey, token: warm.lease!.token });
    warmConn.close();
    const killedAt = Date.now();
    process.stderr.write(`failover: kill -9 ${nodes[victim].nodeId} (owner of ${failKey}, partition ${partitionOf(failKey, PARTITIONS)}) at ${new Date(killedAt).toISOString()}\n`);
    nodes[victim].child.kill('SIGKILL');
    let failoverMs = NaN;
    const failoverErrors: string[] = [];
    while (Number.isNaN(failoverMs) && Date.now() - killedAt < 60_000) {
      // A fresh connection per attempt: the node closes a client connection whose peer link to
      // the dead owner broke.
      const viaOther = await connect(other.port);
      try {
        const result = await call(viaOther, 'acquire', { lockKey: failKey, ttlMs: 5_000, waitMs: 30_000 }, 60_000);
        if (result.acquired) failoverMs = Date.now() - killedAt;
      } catch (error) {
        failoverErrors.push(`${String(error)} after ${Date.now() - killedAt} ms`);
        await sleep(20);
      } finally {
        viaOther.close();
      }
    }
    if (failoverErrors.length > 0) process.stderr.write(`failover: ${failoverErrors.length} failed attempts first:\n  ${failoverErrors.slice(0, 5).join('\n  ')}\n`);

    const dbSizes = await dbSizesOf(etcd.endpoints);
    etcdClient.close();

    const f = (n: number) => Math.round(n).toLocaleString('en-US');
    // Each round's lockd and etcd runs were back to back, under the same load from outside: the
    // ratio is the median of the rounds' own ratios, not a ratio of medians from different rounds.
    const ratio = (lockd: number[], etcd: number[]) => `${median(lockd.map((x, i) => x / etcd[i])).toFixed(1)}x`;
    const pct = (x: number) => `${(x * 100).toFixed(1)}%`;
    const m = Object.fromEntries(Object.entries(results).map(([k, v]) => [k, median(v)])) as Record<keyof typeof results, number>;
    const throughput = ROUNDS === 0 ? [] : [
      `| uncontended pairs/s, owner-routed | ${f(m.owner)} | ${f(m.etcdLock)} (etcd3 Lock) | ${ratio(results.owner, results.etcdLock)} |`,
      `| uncontended pairs/s, via any node | ${f(m.any)} | ${f(m.etcdLock)} (etcd3 Lock) | ${ratio(results.any, results.etcdLock)} |`,
      `| contended (one key) pairs/s | ${f(m.lockdContended)} | ${f(m.etcdContended)} (etcd3 Election) | ${ratio(results.lockdContended, results.etcdContended)} |`,
      `| contended: top worker's share of grants (FIFO ≈ ${pct(1 / C)}, bound ${pct(2 / C)}) | ${pct(m.lockdTop)} | ${pct(m.etcdTop)} | |`,
    ];
    const lines = [
      `lockd cluster mode: 3 etcd members, 3 lockd nodes (--partitions ${PARTITIONS}, --node-ttl ${NODE_TTL}), C=${C}, ${SECONDS} s per run after ${WARMUP_SECONDS} s of warm-up, ${ROUNDS} interleaved rounds (medians; ratios: the median of each round's own), load ${os.loadavg()[0].toFixed(1)} at the end`,
      '',
      '| measurement | lockd cluster | etcd (same etcd) | ratio |',
      '|---|---|---|---|',
      ...throughput,
      `| failover: kill -9 of the owner → first grant via another node | ${Number.isNaN(failoverMs) ? 'none' : `${(failoverMs / 1000).toFixed(2)} s`} (target node TTL + 2 s = ${NODE_TTL} + 2 s) | | |`,
      `| etcd leader paused (SIGSTOP) → first call answered | ${(leaderChange.resumedMs / 1000).toFixed(2)} s (target 5 s); partitions that changed owner or were claimed again: ${leaderChange.moved} of ${PARTITIONS} (target 0) | | |`,
      `| etcd DB size after the run (per member) | ${dbSizes.map(mib).join(', ')} | | |`,
      ...(soak === undefined ? [] : [
        `| soak: ${SOAK_SECONDS} s of owner-routed load, ${f(soak.pairs / SOAK_SECONDS)} pairs/s | largest etcd DB seen: ${mib(soak.maxDbBytes)} (${soak.samples} samples of every member; target < 256 MiB) | | |`,
      ]),
    ];
    process.stdout.write(`${lines.join('\n')}\n`);
    writeSection('cluster', [`## cluster mode (${commandLine('bench:cluster')})`, '', `${new Date().toISOString()}`, '', ...lines].join('\n'));
    await Promise.all(nodes.map((n) => stop(n.child)));
    await Promise.all(etcd.procs.map(stop));
  } finally {
    killAll();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((error) => {
  console.error(error);
  killAll();
  process.exit(1);
});
