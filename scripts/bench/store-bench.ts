/**
 * The durable store on its own, without sockets: a measurement, not a test.
 *
 *   npm run build && node dist/scripts/bench/store-bench.js [--clients 64] [--seconds 3] [--leases 1000000]
 *
 * 1. Durable acquire/release pairs per second for each --fsync mode: `clients` concurrent loops,
 *    each appending a release of its previous lease and a grant, then waiting for sync (as lockd
 *    does: a grant is answered once durable, a release rides along). Also batches (writes) per
 *    second and changes per batch: the group commit at work.
 * 2. Recovery: `leases` live leases on disk, once as a log only (the slowest start) and once
 *    compacted into a snapshot; time to open and disk bytes per lease.
 *
 * With the `lmdb` package resolvable (`npm install --no-save lmdb`), the same two measurements
 * run against LMDB too, for the storage decision recorded in src/store/DESIGN.md.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import type { StoreFsyncPolicy as FsyncPolicy } from '../../src/store/file-store';
import { FileStore } from '../../src/store/file-store';
import { EMPTY_SNAPSHOT_SOURCE } from '../../src/store/store';
import type { StoredLease } from '../../src/table/types';

const { values } = parseArgs({ options: { clients: { type: 'string' }, seconds: { type: 'string' }, leases: { type: 'string' } } });
const CLIENTS = Number(values.clients ?? 64);
const SECONDS = Number(values.seconds ?? 3);
const LEASES = Number(values.leases ?? 1_000_000);

interface Row {
  store: string;
  mode: string;
  pairsPerSec: number;
  batchesPerSec?: number;
  changesPerBatch?: number;
}

const lease = (i: number, expiresAtMs: number): StoredLease => ({
  key: `jobs/lease-${String(i).padStart(7, '0')}`,
  digest: (i * 2654435761).toString(16).padStart(32, '0').slice(-32),
  fence: i + 1,
  ttlMs: 30_000,
  expiresAtMs,
  mode: 1,
  holdCount: 1,
  owner: `worker-${i % 100}`,
});

function tempDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'lockd-store-bench-'));
}

function diskBytes(dir: string): number {
  // Allocated blocks, not apparent size: LMDB's map file is sparse.
  return fs.readdirSync(dir).reduce((sum, name) => sum + fs.statSync(path.join(dir, name)).blocks * 512, 0);
}

/** Runs `clients` loops of (release previous, grant next, await durable) for SECONDS. */
async function runPairs(pair: (client: number, round: number) => Promise<void>): Promise<number> {
  let pairs = 0;
  const deadline = performance.now() + SECONDS * 1000;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: CLIENTS }, async (_, client) => {
      for (let round = 0; performance.now() < deadline; round++) {
        await pair(client, round);
        pairs++;
      }
    }),
  );
  return pairs / ((performance.now() - started) / 1000);
}

async function fileStorePairs(fsync: FsyncPolicy): Promise<Row> {
  const dir = tempDir();
  try {
    const store = new FileStore({ dataDir: dir, fsync, forceRecovery: false, compactAfterBytes: Infinity });
    await store.open(EMPTY_SNAPSHOT_SOURCE);
    const expires = Date.now() + 3_600_000;
    const pairsPerSec = await runPairs((client, round) => {
      const previous = lease(client * 1_000_000 + round - 1, expires);
      if (round > 0) store.append({ kind: 'free', key: previous.key, digest: previous.digest, reason: 'released' });
      store.append({ kind: 'grant', lease: lease(client * 1_000_000 + round, expires) });
      return new Promise<void>((resolve, reject) => store.sync((error) => (error ? reject(error) : resolve())));
    });
    const { batches } = store.stats();
    await store.close();
    const batchesPerSec = (batches / SECONDS);
    return { store: 'log (FileStore)', mode: fsync, pairsPerSec, batchesPerSec, changesPerBatch: (2 * pairsPerSec) / batchesPerSec };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

async function fileStoreRecovery(): Promise<string[]> {
  const dir = tempDir();
  try {
    const expires = Date.now() + 3_600_000;
    const writer = new FileStore({ dataDir: dir, fsync: 'off', forceRecovery: false, compactAfterBytes: Infinity });
    await writer.open(EMPTY_SNAPSHOT_SOURCE);
    for (let i = 0; i < LEASES; i++) {
      writer.append({ kind: 'grant', lease: lease(i, expires) });
      if (i % 100_000 === 99_999) await new Promise((resolve) => writer.sync(resolve));
    }
    await writer.close();
    const logBytes = diskBytes(dir);
    let started = performance.now();
    let recoveredLeases: StoredLease[] = [];
    const reader = new FileStore({ dataDir: dir, fsync: 'batch', forceRecovery: false, compactAfterBytes: 1 });
    const recovered = await reader.open({ durableLeases: () => recoveredLeases, reservedFenceCeiling: 0 });
    recoveredLeases = [...recovered.leases];
    const logMs = performance.now() - started;
    if (recoveredLeases.length !== LEASES) throw new Error(`recovered ${recoveredLeases.length} leases, wrote ${LEASES}`);
    // Any write now passes compactAfterBytes: the store snapshots the recovered leases.
    reader.append({ kind: 'fence-reserve', ceiling: LEASES + 1 });
    await new Promise((resolve) => reader.sync(resolve));
    await reader.close();
    const snapshotBytes = diskBytes(dir);
    started = performance.now();
    const again = new FileStore({ dataDir: dir, fsync: 'batch', forceRecovery: false });
    const fromSnapshot = await again.open(EMPTY_SNAPSHOT_SOURCE);
    const snapshotMs = performance.now() - started;
    await again.close();
    const snapshotLeases = [...fromSnapshot.leases].length;
    if (snapshotLeases !== LEASES) throw new Error(`snapshot recovered ${snapshotLeases} leases`);
    return [
      `| log (FileStore), log only | ${LEASES.toLocaleString('en-US')} | ${Math.round(logMs)} ms | ${Math.round(logBytes / LEASES)} |`,
      `| log (FileStore), snapshot | ${LEASES.toLocaleString('en-US')} | ${Math.round(snapshotMs)} ms | ${Math.round(snapshotBytes / LEASES)} |`,
    ];
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** The few lmdb-js calls used here. */
interface LmdbDb {
  put(key: string, value: unknown): Promise<boolean>;
  remove(key: string): Promise<boolean>;
  getRange(options: object): Iterable<{ key: string; value: Record<string, unknown> }>;
  transactionSync(action: () => void): void;
  putSync(key: string, value: unknown): boolean;
  readonly flushed: Promise<boolean>;
  close(): Promise<void>;
}
type LmdbOpen = (options: { path: string; noSync?: boolean; overlappingSync?: boolean; compression?: boolean }) => LmdbDb;

function loadLmdb(): LmdbOpen | undefined {
  try {
    // Not a dependency of lockd: only compared here when installed by hand.
    return (require('lmdb') as { open: LmdbOpen }).open;
  } catch {
    return undefined;
  }
}

const lmdbKey = (l: StoredLease) => `${l.key}\u0000${l.digest}`;
const lmdbValue = (l: StoredLease) => ({ f: l.fence, m: l.mode, o: l.owner, h: l.holdCount, t: l.ttlMs, e: l.expiresAtMs });

async function lmdbPairs(open: LmdbOpen, mode: 'batch' | 'off'): Promise<Row> {
  const dir = tempDir();
  try {
    // overlappingSync off: a put's promise resolves once its transaction is synced, which is
    // what acknowledging a grant needs (with it on, one would also await db.flushed).
    const db = open({ path: dir, noSync: mode === 'off', overlappingSync: false, compression: false });
    const expires = Date.now() + 3_600_000;
    const pairsPerSec = await runPairs(async (client, round) => {
      if (round > 0) void db.remove(lmdbKey(lease(client * 1_000_000 + round - 1, expires)));
      const next = lease(client * 1_000_000 + round, expires);
      await db.put(lmdbKey(next), lmdbValue(next));
    });
    await db.close();
    return { store: 'lmdb', mode, pairsPerSec };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

async function lmdbRecovery(open: LmdbOpen): Promise<string> {
  const dir = tempDir();
  try {
    const expires = Date.now() + 3_600_000;
    const db = open({ path: dir, compression: false });
    for (let from = 0; from < LEASES; from += 100_000) {
      db.transactionSync(() => {
        for (let i = from; i < Math.min(LEASES, from + 100_000); i++) db.putSync(lmdbKey(lease(i, expires)), lmdbValue(lease(i, expires)));
      });
    }
    await db.flushed;
    await db.close();
    const bytes = diskBytes(dir);
    const started = performance.now();
    const reader = open({ path: dir, compression: false });
    const leases: StoredLease[] = [];
    for (const { key, value } of reader.getRange({})) {
      const split = key.indexOf('\u0000');
      leases.push({ key: key.slice(0, split), digest: key.slice(split + 1), fence: value.f as number, mode: value.m as 1 | 2, owner: value.o as string, holdCount: value.h as number, ttlMs: value.t as number, expiresAtMs: value.e as number });
    }
    const ms = performance.now() - started;
    await reader.close();
    if (leases.length !== LEASES) throw new Error(`lmdb recovered ${leases.length}`);
    return `| lmdb | ${LEASES.toLocaleString('en-US')} | ${Math.round(ms)} ms | ${Math.round(bytes / LEASES)} |`;
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const lmdb = loadLmdb();
  console.log(`store benchmark: ${CLIENTS} concurrent clients, ${SECONDS} s per row, tmpdir ${os.tmpdir()}${lmdb ? '' : ' (lmdb not installed: log only)'}\n`);
  const rows: Row[] = [];
  for (const mode of ['always', 'batch', 'off'] as const) rows.push(await fileStorePairs(mode));
  if (lmdb) for (const mode of ['batch', 'off'] as const) rows.push(await lmdbPairs(lmdb, mode));
  const n = (x: number | undefined, digits = 0) => (x === undefined ? '' : x.toLocaleString('en-US', { maximumFractionDigits: digits }));
  console.log('| store | --fsync | durable acquire/release pairs/s | batches/s | changes per batch |');
  console.log('|---|---|---:|---:|---:|');
  for (const row of rows) console.log(`| ${row.store} | ${row.mode} | ${n(row.pairsPerSec)} | ${n(row.batchesPerSec)} | ${n(row.changesPerBatch, 1)} |`);
  console.log('\n| store | live leases | open (recover) | disk bytes per lease |');
  console.log('|---|---:|---:|---:|');
  for (const line of await fileStoreRecovery()) console.log(line);
  if (lmdb) console.log(await lmdbRecovery(lmdb));
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
