/**
 * `npm run bench [-- --quick]`: starts every target, runs every workload at each concurrency,
 * measures memory per held lease and idle connections, prints one markdown report with ratios
 * against the baselines measured in the same run, and writes it with raw JSON lines under
 * bench/results/<time>/ (and bench/RESULTS.md for a full run).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { LockServiceStub } from '../../src/client/service-stub';
import { ThriftConnection } from '../../src/client/thrift-connection';
import { redisAvailable, rssOf, startLockdVariant, startNoopThrift, startRawTcp, startRedis, Target } from './targets';
import { runWorkload, WorkloadName, WorkloadResult } from './workloads';

const root = path.resolve(__dirname, '../../..');
const { values } = parseArgs({
  options: {
    quick: { type: 'boolean' },
    'warmup-ms': { type: 'string' },
    'duration-ms': { type: 'string' },
    only: { type: 'string' },
    c: { type: 'string' },
    'no-memory': { type: 'boolean' },
    'no-connections': { type: 'boolean' },
    'no-durable': { type: 'boolean' },
  },
});
const quick = values.quick === true;
const warmupMs = Number(values['warmup-ms'] ?? (quick ? 200 : 1_000));
const windowMs = Number(values['duration-ms'] ?? (quick ? 1_000 : 5_000));
const concurrencies = (values.c ?? (quick ? '1,16' : '1,16,64')).split(',').map(Number);
const workloads = (values.only ?? 'uncontended,contended,mixed').split(',') as WorkloadName[];
const leaseCount = quick ? 100_000 : 1_000_000;
const idleConnections = quick ? 1_000 : 10_000;

const lines: string[] = [];
const raw: unknown[] = [];
const say = (line = '') => {
  lines.push(line);
  console.log(line);
};
const fmt = (n: number | undefined, digits = 2) => (n === undefined || Number.isNaN(n) ? '' : n.toFixed(digits));
const int = (n: number) => n.toLocaleString('en-US');

async function withTarget<T>(start: () => Promise<Target>, use: (target: Target) => Promise<T>): Promise<T> {
  const target = await start();
  try {
    return await use(target);
  } finally {
    await target.stop();
  }
}

async function measureThroughput(): Promise<WorkloadResult[]> {
  const starters: Array<[string, () => Promise<Target>, WorkloadName[]]> = [
    ['raw', startRawTcp, ['uncontended']],
    ['noop', startNoopThrift, ['uncontended']],
    ['lockd', () => startLockdVariant('memory'), workloads],
  ];
  if (redisAvailable()) starters.push(['redis', startRedis, workloads]);
  else say('> redis-server is not installed: the Redis rows are skipped (apt-get install redis-server).');
  if (!values['no-durable']) {
    for (const fsync of ['batch', 'always', 'off'] as const) starters.push([`durable-${fsync}`, () => startLockdVariant(fsync), ['uncontended']]);
  }
  const results: WorkloadResult[] = [];
  for (const [, start, kinds] of starters) {
    await withTarget(start, async (target) => {
      for (const workload of kinds.filter((k) => workloads.includes(k))) {
        for (const c of concurrencies) {
          const result = await runWorkload(target, workload, c, warmupMs, windowMs);
          results.push(result);
          raw.push({ kind: 'workload', ...result });
          process.stderr.write(`  ${target.name} ${workload} C=${c}: ${int(result.pairsPerSecond)} pairs/s\n`);
        }
      }
    });
  }
  return results;
}

async function measureMemory(): Promise<Array<{ target: string; bytesPerLease: number }>> {
  const rows: Array<{ target: string; bytesPerLease: number }> = [];
  await withTarget(() => startLockdVariant('memory'), async (target) => {
    const stubs = await Promise.all(
      Array.from({ length: 16 }, async () =>
        new LockServiceStub(await ThriftConnection.connect({ host: '127.0.0.1', port: target.port, transport: 'buffered', protocol: 'binary', connectTimeoutMs: 5_000, maxMessageBytes: 1 << 20 }), 60_000),
      ),
    );
    // Warm up first (acquire + release, nothing held), so the runtime's own growth under load
    // (young generation, code) is in `before` and the difference is what held leases cost.
    await Promise.all(
      stubs.map(async (stub, i) => {
        for (let round = 0; round < 200; round++) {
          const batch = [];
          for (let j = 0; j < 64; j++) batch.push(stub.acquire({ lockKey: `warm-${i}-${j}`, ttlMs: 60_000 }).reply);
          const leases = await Promise.all(batch);
          await Promise.all(leases.map((r, j) => stub.release(`warm-${i}-${j}`, r.lease!.token)));
        }
      }),
    );
    const before = rssOf(target.pid);
    let next = 0;
    await Promise.all(
      stubs.map(async (stub) => {
        while (next < leaseCount) {
          const batch = [];
          for (let i = 0; i < 256 && next < leaseCount; i++) batch.push(stub.acquire({ lockKey: `lease-${String(next++).padStart(7, '0')}`, ttlMs: 3_600_000, owner: 'bench' }).reply);
          await Promise.all(batch);
        }
      }),
    );
    await new Promise((resolve) => setTimeout(resolve, 2_000));
    rows.push({ target: 'lockd (in-memory)', bytesPerLease: (rssOf(target.pid) - before) / leaseCount });
    for (const stub of stubs) stub.connection.close();
  });
  if (redisAvailable()) {
    await withTarget(startRedis, async (target) => {
      // eslint-disable-next-line @typescript-eslint/no-var-requires
      const Redis = require('ioredis');
      const redis = new Redis({ port: target.port, host: '127.0.0.1' });
      redis.on('error', () => {});
      for (let round = 0; round < 20; round++) {
        const warm = redis.pipeline();
        for (let i = 0; i < 10_000; i++) warm.set(`warm-${i}`, 'x', 'PX', 60_000);
        for (let i = 0; i < 10_000; i++) warm.del(`warm-${i}`);
        await warm.exec();
      }
      const before = rssOf(target.pid);
      for (let start = 0; start < leaseCount; start += 10_000) {
        const pipeline = redis.pipeline();
        for (let i = start; i < Math.min(leaseCount, start + 10_000); i++) pipeline.set(`lease-${String(i).padStart(7, '0')}`, `${'0'.repeat(24)}${String(i).padStart(8, '0')}`, 'PX', 3_600_000, 'NX');
        await pipeline.exec();
      }
      rows.push({ target: 'Redis 7', bytesPerLease: (rssOf(target.pid) - before) / leaseCount });
      redis.disconnect();
    });
  }
  for (const row of rows) raw.push({ kind: 'memory', leases: leaseCount, ...row });
  return rows;
}

async function measureConnections(): Promise<{ opened: number; rssPerConnection: number; pingMs: number; note: string }> {
  return withTarget(() => startLockdVariant('memory'), async (target) => {
    const before = rssOf(target.pid);
    const stubs: LockServiceStub[] = [];
    let note = '';
    try {
      for (let i = 0; i < idleConnections; i++) {
        const connection = await ThriftConnection.connect({ host: '127.0.0.1', port: target.port, transport: 'buffered', protocol: 'binary', connectTimeoutMs: 5_000, maxMessageBytes: 1 << 20 });
        const stub = new LockServiceStub(connection, 60_000);
        stubs.push(stub);
        await stub.acquire({ lockKey: `idle-${i}`, ttlMs: 3_600_000 }).reply;
      }
    } catch (error) {
      note = `stopped at ${stubs.length} connections: ${(error as Error).message}`;
    }
    const pingStart = performance.now();
    await stubs[0]?.ping();
    const pingMs = performance.now() - pingStart;
    const rssPerConnection = (rssOf(target.pid) - before) / Math.max(1, stubs.length);
    for (const stub of stubs) stub.connection.close();
    const result = { opened: stubs.length, rssPerConnection, pingMs, note };
    raw.push({ kind: 'connections', ...result });
    return result;
  });
}

function report(results: WorkloadResult[], memory: Array<{ target: string; bytesPerLease: number }> | undefined, connections: Awaited<ReturnType<typeof measureConnections>> | undefined): void {
  const find = (target: string, workload: WorkloadName, c: number) => results.find((r) => r.target.startsWith(target) && r.workload === workload && r.concurrency === c);
  say(`# lockd benchmark`);
  say();
  say(`${new Date().toISOString()} · ${os.cpus().length} × ${os.cpus()[0]?.model ?? 'cpu'} · ${Math.round(os.totalmem() / 2 ** 30)} GiB · Node ${process.version}${quick ? ' · QUICK (smoke) run' : ''}`);
  say(`Window ${windowMs} ms after ${warmupMs} ms warm-up; one pair = acquire + release; each worker on its own connection. Server and load share the machine: read ratios, not absolutes.`);
  for (const workload of workloads) {
    const rows = results.filter((r) => r.workload === workload);
    if (rows.length === 0) continue;
    say();
    say(`## ${workload}`);
    say();
    const contended = workload === 'contended';
    say(`| target | C | pairs/s | p50 ms | p99 ms | max ms |${contended ? ' hand-off p50 / p99 ms | max share | same worker again |' : ''}`);
    say(`|---|---:|---:|---:|---:|---:|${contended ? '---:|---:|---:|' : ''}`);
    for (const r of rows) {
      const extra = contended ? ` ${fmt(r.handoffP50Ms)} / ${fmt(r.handoffP99Ms)} | ${fmt((r.maxShare ?? NaN) * 100, 1)}% | ${fmt((r.sameWorkerAgain ?? NaN) * 100, 1)}% |` : '';
      say(`| ${r.target} | ${r.concurrency} | ${int(r.pairsPerSecond)} | ${fmt(r.p50Ms)} | ${fmt(r.p99Ms)} | ${fmt(r.maxMs)} |${extra}`);
    }
  }
  say();
  say('## Ratios (uncontended pairs/s, same run)');
  say();
  say('| C | lockd / Redis | lockd / raw TCP floor | lockd / no-op Thrift | durable batch / in-memory |');
  say('|---:|---:|---:|---:|---:|');
  for (const c of concurrencies) {
    const lockd = find('lockd (in-memory)', 'uncontended', c)?.pairsPerSecond ?? NaN;
    const ratio = (other?: WorkloadResult) => (other ? fmt(lockd / other.pairsPerSecond) : 'n/a');
    const batch = find('lockd (durable, fsync batch)', 'uncontended', c);
    say(`| ${c} | ${ratio(find('Redis', 'uncontended', c))} | ${ratio(find('raw TCP', 'uncontended', c))} | ${ratio(find('no-op Thrift', 'uncontended', c))} | ${batch ? fmt(batch.pairsPerSecond / lockd) : 'n/a'} |`);
  }
  if (memory) {
    say();
    say(`## Memory: RSS per held lease, ${int(leaseCount)} leases`);
    say();
    say('| target | bytes per lease |');
    say('|---|---:|');
    for (const row of memory) say(`| ${row.target} | ${Math.round(row.bytesPerLease)} |`);
  }
  if (connections) {
    say();
    say(`## ${int(idleConnections)} idle connections, each holding a lease`);
    say();
    say(`Opened ${int(connections.opened)} (fd limit ${fdLimit()}); lockd RSS per connection ${Math.round(connections.rssPerConnection)} bytes; a ping afterwards took ${fmt(connections.pingMs)} ms. ${connections.note}`);
  }
  say();
  say('## Targets (issue 6)');
  say();
  const top = Math.max(...concurrencies);
  const lockdTop = find('lockd (in-memory)', 'uncontended', top);
  const check = (label: string, ok: boolean | undefined) => say(`- ${ok === undefined ? '·' : ok ? 'PASS' : 'MISS'} ${label}`);
  const redisTop = find('Redis', 'uncontended', top);
  const rawTop = find('raw TCP', 'uncontended', top);
  check(`uncontended C=${top} >= 1.0x Redis`, lockdTop && redisTop ? lockdTop.pairsPerSecond >= redisTop.pairsPerSecond : undefined);
  check(`uncontended C=${top} >= 0.5x raw TCP floor`, lockdTop && rawTop ? lockdTop.pairsPerSecond >= 0.5 * rawTop.pairsPerSecond : undefined);
  const hot = find('lockd (in-memory)', 'contended', top);
  check(`contended C=${top}: hand-off p99 <= 1 ms`, hot ? (hot.handoffP99Ms ?? Infinity) <= 1 : undefined);
  check(`contended C=${top}: no worker above 2/C of the grants`, hot ? (hot.maxShare ?? 1) <= 2 / top : undefined);
  check(`contended C=${top}: >= 0.5x lockd uncontended`, hot && lockdTop ? hot.pairsPerSecond >= 0.5 * lockdTop.pairsPerSecond : undefined);
  const lockdMemory = memory?.find((m) => m.target.startsWith('lockd'));
  check(`<= 150 bytes RSS per held lease at ${int(leaseCount)}`, lockdMemory ? lockdMemory.bytesPerLease <= 150 : undefined);
  check(`${int(idleConnections)} open connections`, connections ? connections.opened === idleConnections : undefined);
  const batchTop = find('lockd (durable, fsync batch)', 'uncontended', top);
  check(`durable (fsync batch) >= 0.7x in-memory at C=${top}`, batchTop && lockdTop ? batchTop.pairsPerSecond >= 0.7 * lockdTop.pairsPerSecond : undefined);
}

function fdLimit(): string {
  try {
    return /Max open files\s+(\d+)/.exec(fs.readFileSync('/proc/self/limits', 'utf8'))?.[1] ?? 'unknown';
  } catch {
    return 'unknown';
  }
}

async function main(): Promise<void> {
  const results = await measureThroughput();
  const memory = values['no-memory'] ? undefined : await measureMemory();
  const connections = values['no-connections'] ? undefined : await measureConnections();
  report(results, memory, connections);
  const dir = path.join(root, 'bench/results', new Date().toISOString().replace(/[:.]/g, '-'));
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'results.md'), `${lines.join('\n')}\n`);
  fs.writeFileSync(path.join(dir, 'raw.jsonl'), raw.map((r) => JSON.stringify(r)).join('\n') + '\n');
  if (!quick && !values.only && !values.c) fs.writeFileSync(path.join(root, 'bench/RESULTS.md'), `${lines.join('\n')}\n`);
  process.stderr.write(`written to ${path.relative(root, dir)}\n`);
}

main().then(
  () => process.exit(0),
  (error) => {
    console.error(error);
    process.exit(1);
  },
);
