/**
 * `npm run bench:recovery-big [-- --leases N --key-bytes B --owner-bytes B --log-gib G]`: a restart
 * check with more state on disk than Node can hold in one Buffer (2 GiB). Not part of the test
 * suite: it writes ~3 GiB and takes minutes.
 *
 * 1. Writes a snapshot of N leases (default 1,000,000) with large keys and owners (900 and 200
 *    bytes), then a single log of renewals of those leases past G GiB (default 2.1), through the
 *    FileStore itself (no compaction while writing).
 * 2. Starts lockd on it and checks it restored all N leases and that sampled leases carry their
 *    last renewal; grants new locks (a write: the log is past --max-log, so a compaction of the
 *    whole state starts), kills lockd with SIGKILL mid-compaction.
 * 3. Starts lockd again and checks the same, plus the new locks.
 *
 * Prints the disk layout, each start's time to listening, and RSS.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { LockClient } from '../../src/client';
import { FileStore } from '../../src/store/file-store';
import { EMPTY_SNAPSHOT_SOURCE } from '../../src/store/store';
import { cpuMsOf, rssOf } from './targets';
import type { StoredLease } from '../../src/table/types';

const { values } = parseArgs({ options: { leases: { type: 'string' }, 'key-bytes': { type: 'string' }, 'owner-bytes': { type: 'string' }, 'log-gib': { type: 'string' }, dir: { type: 'string' } } });
const COUNT = Number(values.leases ?? 1_000_000);
const KEY_BYTES = Number(values['key-bytes'] ?? 900);
const OWNER_BYTES = Number(values['owner-bytes'] ?? 200);
const LOG_BYTES = Number(values['log-gib'] ?? 2.1) * 2 ** 30;
const SAMPLES = 1_000;
const root = path.resolve(__dirname, '../../..');
const GiB = (bytes: number) => `${(bytes / 2 ** 30).toFixed(2)} GiB`;

const keyOf = (i: number) => `big/${String(i).padStart(7, '0')}/`.padEnd(KEY_BYTES, 'k');
const digestOf = (i: number) => (i + 1).toString(16).padStart(32, '0');
/** Every lease's expiry after `round` renewals (the snapshot is round 0). */
const expiryAt = (base: number, i: number, round: number) => base + 3_600_000 + round * 1_000 + (i % 1_000);

function leaseOf(i: number, base: number): StoredLease {
  // 100 distinct owner labels, as many clients would send.
  return { key: keyOf(i), digest: digestOf(i), fence: i + 1, ttlMs: 3_600_000, expiresAtMs: expiryAt(base, i, 0), mode: 1, holdCount: 1, owner: `owner-${i % 100}-`.padEnd(OWNER_BYTES, 'o') };
}

const sync = (store: FileStore) => new Promise<void>((resolve, reject) => store.sync((error) => (error ? reject(error) : resolve())));

/** Writes the snapshot and the big log; returns how many renewal rounds the log holds per lease (a lease i < partial has one more). */
async function build(dir: string, base: number): Promise<{ rounds: number; partial: number }> {
  // The snapshot: a store whose first write is past compactAfterBytes compacts at once, from a
  // source that generates the leases (no table needed).
  const snapshotter = new FileStore({ dataDir: dir, fsync: 'off', compactAfterBytes: 1 });
  await snapshotter.open({ durableLeases: function* () {
    for (let i = 0; i < COUNT; i++) yield leaseOf(i, base);
  }, reservedFenceCeiling: COUNT + 1 });
  snapshotter.append({ kind: 'fence-reserve', ceiling: COUNT + 1 });
  await sync(snapshotter);
  await snapshotter.compactionSettled();
  await snapshotter.close();
  console.log(`snapshot of ${COUNT.toLocaleString('en-US')} leases: ${GiB(fs.statSync(path.join(dir, 'snapshot')).size)}`);
  // The log: renewals of every lease, round after round, until it passes LOG_BYTES.
  const logger = new FileStore({ dataDir: dir, fsync: 'off', compactAfterBytes: Infinity });
  await logger.open(EMPTY_SNAPSHOT_SOURCE);
  for (let round = 1; ; round++) {
    for (let i = 0; i < COUNT; i++) {
      logger.append({ kind: 'update', key: keyOf(i), digest: digestOf(i), holdCount: 1, ttlMs: 3_600_000, expiresAtMs: expiryAt(base, i, round) });
      if (i % 10_000 === 9_999) {
        await sync(logger);
        if (logger.stats().bytes > LOG_BYTES) {
          await logger.close();
          return { rounds: round - 1, partial: i + 1 };
        }
      }
    }
    await sync(logger);
  }
}

interface Started {
  child: ChildProcess;
  port: number;
  ms: number;
  /** CPU time lockd used until listening. */
  cpuMs: number;
  restored: number;
  output: () => string;
}

async function startLockd(dir: string): Promise<Started> {
  const started = performance.now();
  const child = spawn(process.execPath, [path.join(root, 'dist/src/server/main.js'), '--host', '127.0.0.1', '--port', '0', '--data-dir', dir, '--log-level', 'info'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const port = await new Promise<number>((resolve, reject) => {
    const check = () => {
      const match = /lockd listening on \S+:(\d+)/.exec(output);
      if (match) resolve(Number(match[1]));
    };
    child.stdout!.on('data', check);
    child.once('exit', (code) => reject(new Error(`lockd exited with ${code}:\n${output.slice(-2_000)}`)));
  });
  const ms = performance.now() - started;
  const cpuMs = cpuMsOf(child.pid!);
  const restored = Number(/restoredLeases"?:\s*(\d+)/.exec(output)?.[1] ?? -1);
  return { child, port, ms, cpuMs, restored, output: () => output };
}

const rssMiB = (pid: number) => Math.round(rssOf(pid) / 2 ** 20);

/** Checks the restored count and SAMPLES leases' fence and last renewal; returns problems found. */
async function verify(lockd: Started, base: number, built: { rounds: number; partial: number }, extra: Map<string, number>): Promise<string[]> {
  const problems: string[] = [];
  if (lockd.restored !== COUNT + extra.size) problems.push(`restored ${lockd.restored} leases, expected ${COUNT + extra.size}`);
  const client = new LockClient({ host: '127.0.0.1', port: lockd.port });
  try {
    for (let s = 0; s < SAMPLES; s++) {
      const i = Math.floor((s * COUNT) / SAMPLES) + (s % 7);
      const info = await client.inspect(keyOf(i));
      const round = built.rounds + (i < built.partial ? 1 : 0);
      const holder = info.holders[0];
      if (info.holders.length !== 1 || holder.fence !== i + 1 || holder.expiresAt !== expiryAt(base, i, round)) {
        problems.push(`lease ${i}: ${JSON.stringify(info.holders)}, expected fence ${i + 1} expiring at ${expiryAt(base, i, round)}`);
      }
    }
    for (const [key, fence] of extra) {
      const info = await client.inspect(key);
      if (info.holders[0]?.fence !== fence) problems.push(`${key}: ${JSON.stringify(info.holders)}, expected fence ${fence}`);
    }
  } finally {
    await client.close();
  }
  return problems;
}

function layout(dir: string): string {
  const files = fs.readdirSync(dir).filter((name) => name !== 'LOCK').sort();
  const total = files.reduce((sum, name) => sum + fs.statSync(path.join(dir, name)).size, 0);
  return `${files.map((name) => `${name} ${GiB(fs.statSync(path.join(dir, name)).size)}`).join(', ')}; total ${GiB(total)}`;
}

async function main(): Promise<void> {
  const dir = values.dir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'lockd-recovery-big-'));
  const children: ChildProcess[] = [];
  try {
    const base = Date.now();
    const buildStarted = performance.now();
    const built = await build(dir, base);
    console.log(`built in ${Math.round((performance.now() - buildStarted) / 1000)} s: ${layout(dir)}`);
    console.log(`log: ${built.rounds} full renewal rounds plus ${built.partial.toLocaleString('en-US')} leases of one more`);

    const first = await startLockd(dir);
    children.push(first.child);
    console.log(`start 1 (snapshot + log): listening after ${(first.ms / 1000).toFixed(1)} s (CPU ${(first.cpuMs / 1000).toFixed(1)} s), restored ${first.restored.toLocaleString('en-US')} leases, RSS ${rssMiB(first.child.pid!)} MiB`);
    const extra = new Map<string, number>();
    const problems1 = await verify(first, base, built, extra);
    // New grants are writes: the log is past the cap, so lockd starts compacting the whole state;
    // kill it with SIGKILL while it does (the acknowledged grants must survive).
    const client = new LockClient({ host: '127.0.0.1', port: first.port });
    // The kill below drops this connection on purpose.
    client.on('disconnect', () => {});
    for (let n = 0; n < 20; n++) {
      const lease = await client.acquire(`after-crash-${n}`, { ttlMs: 3_600_000 });
      extra.set(`after-crash-${n}`, lease.fence);
    }
    await new Promise((resolve) => setTimeout(resolve, 2_000));
    const compacting = fs.existsSync(path.join(dir, 'snapshot.tmp'));
    first.child.kill('SIGKILL');
    await new Promise((resolve) => first.child.once('exit', resolve));
    await client.close().catch(() => {});
    console.log(`kill -9 ${compacting ? 'during' : 'after'} compaction: ${layout(dir)}`);

    const second = await startLockd(dir);
    children.push(second.child);
    console.log(`start 2 (after kill -9): listening after ${(second.ms / 1000).toFixed(1)} s (CPU ${(second.cpuMs / 1000).toFixed(1)} s), restored ${second.restored.toLocaleString('en-US')} leases, RSS ${rssMiB(second.child.pid!)} MiB`);
    const problems2 = await verify(second, base, built, extra);
    console.log(second.output().split('\n').find((line) => line.includes('store opened')) ?? '');
    second.child.kill('SIGTERM');
    await new Promise((resolve) => second.child.once('exit', resolve));
    const problems = [...problems1.map((p) => `start 1: ${p}`), ...problems2.map((p) => `start 2: ${p}`)];
    if (problems.length > 0) {
      console.log(`FAILED: ${problems.length} problems\n${problems.slice(0, 20).join('\n')}`);
      process.exitCode = 1;
    } else {
      console.log(`OK: both starts restored all ${COUNT.toLocaleString('en-US')} leases (+${extra.size} granted before the kill); ${SAMPLES} sampled leases carry their last renewal`);
    }
  } finally {
    for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    if (values.dir === undefined) fs.rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
