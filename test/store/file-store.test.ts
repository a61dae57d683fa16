/** FileStore on real files: round trips, crash debris, corruption, compaction, disk full. */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { StoreError } from '../../src/errors';
import { FileStore, FileStoreOptions } from '../../src/store/file-store';
import { bufferSource, readRecords } from '../../src/store/record-reader';
import { EMPTY_SNAPSHOT_SOURCE } from '../../src/store/store';
import type { StoredLease, TableChange } from '../../src/table/types';

/** The test's own temp dir, removed after it; `dir` (the data dir) may be moved inside it. */
let root: string;
let dir: string;
const stores: FileStore[] = [];

beforeEach(() => {
  root = dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lockd-store-'));
});
afterEach(async () => {
  for (const store of stores.splice(0)) await store.close().catch(() => {});
  fs.rmSync(root, { recursive: true, force: true });
});

const lease = (key: string, n: number, extra: Partial<StoredLease> = {}): StoredLease => ({
  key,
  digest: n.toString(16).padStart(32, '0'),
  fence: n,
  ttlMs: 30_000,
  expiresAtMs: 1_900_000_000_000 + n,
  mode: 1,
  holdCount: 1,
  owner: `owner-${n}`,
  ...extra,
});

/** A store on `dir`, closed after the test. */
function openStore(options: Partial<FileStoreOptions> = {}): FileStore {
  const store = new FileStore({ dataDir: dir, ...options });
  stores.push(store);
  return store;
}

const EMPTY = EMPTY_SNAPSHOT_SOURCE;

function sync(store: FileStore): Promise<Error | null> {
  return new Promise((resolve) => store.sync(resolve));
}

async function writeAndClose(changes: TableChange[]): Promise<void> {
  const store = openStore();
  await store.open(EMPTY);
  for (const change of changes) store.append(change);
  expect(await sync(store)).toBeNull();
  await store.close();
  stores.pop();
}

const logFile = () => path.join(dir, fs.readdirSync(dir).filter((n) => n.endsWith('.log')).sort().pop()!);

test('every change kind survives a reopen', async () => {
  await writeAndClose([
    { kind: 'fence-reserve', ceiling: 100 },
    { kind: 'grant', lease: lease('a', 1) },
    { kind: 'grant', lease: lease('b', 2, { mode: 2, owner: undefined }) },
    { kind: 'grant', lease: lease('b', 3, { mode: 2 }) },
    { kind: 'update', key: 'a', digest: lease('a', 1).digest, holdCount: 3, ttlMs: 5_000, expiresAtMs: 1_950_000_000_000 },
    { kind: 'free', key: 'b', digest: lease('b', 2).digest, reason: 'released' },
    { kind: 'grant', lease: lease('ключ/✓', 4) },
  ]);
  const state = await openStore().open(EMPTY);
  expect(state.fenceCeiling).toBe(100);
  expect([...state.leases].sort((x, y) => x.fence - y.fence)).toEqual([
    { ...lease('a', 1), holdCount: 3, ttlMs: 5_000, expiresAtMs: 1_950_000_000_000 },
    lease('b', 3, { mode: 2 }),
    lease('ключ/✓', 4),
  ]);
});

test('the directory is 0700 and its files 0600', async () => {
  dir = path.join(dir, 'nested');
  await writeAndClose([{ kind: 'grant', lease: lease('a', 1) }]);
  expect(fs.statSync(dir).mode & 0o777).toBe(0o700);
  for (const name of fs.readdirSync(dir)) expect(fs.statSync(path.join(dir, name)).mode & 0o777).toBe(0o600);
});

/** Where the records of a log end (the file goes on with preallocated zeros). */
function dataEnd(file: string): number {
  return readRecords(bufferSource(fs.readFileSync(file)), 0, () => {}).goodEnd;
}

/** Writes `changes` as one synced batch and returns the log's bytes as a crash would leave them (no close mark). */
async function writeAndCrashImage(changes: TableChange[]): Promise<Buffer> {
  const store = openStore();
  await store.open(EMPTY);
  for (const change of changes) store.append(change);
  expect(await sync(store)).toBeNull();
  const image = fs.readFileSync(logFile());
  await store.close();
  stores.pop();
  return image.subarray(0, readRecords(bufferSource(image), 0, () => {}).goodEnd);
}

test('a log cut anywhere inside its last write loses only that write', async () => {
  await writeAndClose([{ kind: 'grant', lease: lease('keep', 1) }]);
  const keptEnd = dataEnd(logFile());
  const crashed = await writeAndCrashImage([{ kind: 'grant', lease: lease('torn', 2) }, { kind: 'grant', lease: lease('torn2', 3) }]);
  expect(crashed.length).toBeGreaterThan(keptEnd + 100);
  // Every cut keeps exactly the records wholly before it (a prefix of the changes, in order) and
  // says it dropped a torn tail unless the cut falls on a record boundary.
  let kept = 1;
  let clean = 0;
  for (let cut = keptEnd; cut < crashed.length; cut++) {
    fs.writeFileSync(logFile(), crashed.subarray(0, cut));
    const state = await openStore().open(EMPTY);
    const keys = [...state.leases].map((l) => l.key).sort();
    if (keys.length < kept || keys.length > 2 || keys.join() !== ['keep', 'torn', 'torn2'].slice(0, keys.length).join()) {
      throw new Error(`cut at ${cut} (kept end ${keptEnd}, crash image ${crashed.length}) recovered ${keys}`);
    }
    kept = keys.length;
    if (!/dropped the torn tail/.test(state.summary)) clean++;
    await stores.pop()!.close();
  }
  // The clean cuts: before the write, after its BATCH record, after its first grant.
  expect(clean).toBe(3);
  expect(kept).toBe(2);
  fs.writeFileSync(logFile(), crashed);
  expect([...(await openStore().open(EMPTY)).leases].map((l) => l.key).sort()).toEqual(['keep', 'torn', 'torn2']);
});

test('a last write with a hole (a power loss kept some of its pages) is a torn tail, not corruption', async () => {
  await writeAndClose([{ kind: 'grant', lease: lease('keep', 1) }]);
  const keptEnd = dataEnd(logFile());
  const crashed = await writeAndCrashImage(Array.from({ length: 10 }, (_, i) => ({ kind: 'grant' as const, lease: lease(`lost-${i}`, 10 + i) })));
  // Zeros where the batch's middle should be; its later records are intact.
  crashed.fill(0, keptEnd + 100, keptEnd + 300);
  fs.writeFileSync(logFile(), crashed);
  const state = await openStore().open(EMPTY);
  // The records before the hole are a prefix of the change sequence, so they are kept.
  expect([...state.leases].map((l) => l.key)).toEqual(['keep', 'lost-0']);
  expect(state.summary).toMatch(/dropped the torn tail/);
});

test('zeros after the last record (preallocated space, or a size that grew before its data) end the log cleanly', async () => {
  await writeAndClose([{ kind: 'grant', lease: lease('keep', 1) }]);
  fs.appendFileSync(logFile(), Buffer.alloc(4096));
  expect([...(await openStore().open(EMPTY)).leases]).toHaveLength(1);
});

test('corruption in the middle refuses to start, naming file and offset; --force-recovery keeps what came before', async () => {
  await writeAndClose([{ kind: 'grant', lease: lease('first', 1) }]);
  const firstEnd = dataEnd(logFile());
  await writeAndClose([{ kind: 'grant', lease: lease('second', 2) }, { kind: 'grant', lease: lease('third', 3) }]);
  const bytes = fs.readFileSync(logFile());
  bytes[firstEnd + 12] ^= 0xff;
  fs.writeFileSync(logFile(), bytes);
  const refused = openStore().open(EMPTY);
  await expect(refused).rejects.toBeInstanceOf(StoreError);
  await expect(refused).rejects.toThrow(new RegExp(`wal-000000000001\\.log at byte ${firstEnd} \\(checksum mismatch\\).*--force-recovery`));
  stores.pop();
  // A refusal leaves no LOCK behind.
  expect(fs.existsSync(path.join(dir, 'LOCK'))).toBe(false);
  const forced = await openStore({ forceRecovery: true }).open(EMPTY);
  expect([...forced.leases].map((l) => l.key)).toEqual(['first']);
  expect(forced.summary).toMatch(/FORCED RECOVERY/);
});

test('a bad record followed by a later write is corruption even when that write ended in a crash', async () => {
  await writeAndClose([{ kind: 'grant', lease: lease('first', 1) }]);
  const firstEnd = dataEnd(logFile());
  await writeAndClose([{ kind: 'grant', lease: lease('second', 2) }]);
  const crashed = await writeAndCrashImage([{ kind: 'grant', lease: lease('third', 3) }]);
  // Flip one byte in the lease record of the second (acknowledged) write.
  crashed[firstEnd + 30] ^= 0x01;
  fs.writeFileSync(logFile(), crashed);
  await expect(openStore().open(EMPTY)).rejects.toThrow(/corrupt in the middle: .*wal-000000000001\.log at byte \d+ \(checksum mismatch\)/);
});

test('a second lockd on the same directory is refused while the first lives', async () => {
  const store = openStore();
  await store.open(EMPTY);
  // A live process other than this one holds the lock: write its pid as the owner.
  fs.writeFileSync(path.join(dir, 'LOCK'), `${process.ppid}\n`);
  const second = new FileStore({ dataDir: dir });
  await expect(second.open(EMPTY)).rejects.toThrow(new RegExp(`in use by another lockd \\(pid ${process.ppid}\\)`));
  // A dead owner's lock is stale and taken over.
  const dead = Number(execFileSync(process.execPath, ['-e', 'console.log(process.pid)']).toString());
  fs.writeFileSync(path.join(dir, 'LOCK'), `${dead}\n`);
  const third = new FileStore({ dataDir: dir });
  await expect(third.open(EMPTY)).resolves.toBeDefined();
  await third.close();
});

test('compaction keeps the log bounded under steady grant/free and keeps every live lease and the fence ceiling', async () => {
  const live = new Map<string, StoredLease>();
  let ceiling = 0;
  const store = openStore({ compactAfterBytes: 8 * 1024 });
  await store.open({ durableLeases: () => [...live.values()], get reservedFenceCeiling() { return ceiling; } });
  const apply = (change: TableChange) => {
    if (change.kind === 'grant') live.set(change.lease.key, change.lease);
    if (change.kind === 'free') live.delete(change.key);
    if (change.kind === 'fence-reserve') ceiling = change.ceiling;
    store.append(change);
  };
  apply({ kind: 'fence-reserve', ceiling: 1_000_000 });
  for (let i = 1; i <= 20; i++) apply({ kind: 'grant', lease: lease(`held-${i}`, i) });
  let largest = 0;
  let largestDisk = 0;
  // 3,000 rounds write ~500 KB of records: without compaction the bound below would not hold.
  for (let round = 0; round < 3_000; round++) {
    const churn = lease('churn', 100 + round);
    apply({ kind: 'grant', lease: churn });
    apply({ kind: 'free', key: 'churn', digest: churn.digest, reason: 'released' });
    if (round % 50 === 0) {
      expect(await sync(store)).toBeNull();
      // Measure once a compaction this write started is over: how much the test writes while one
      // runs depends only on how busy the machine is.
      await store.compactionSettled();
      // Records on disk (the logs' zeros written ahead of need are counted apart, below).
      const records = fs.readdirSync(dir).reduce((sum, name) => sum + (name.endsWith('.log') ? dataEnd(path.join(dir, name)) : fs.statSync(path.join(dir, name)).size), 0);
      largest = Math.max(largest, records);
      const disk = fs.readdirSync(dir).reduce((sum, name) => sum + fs.statSync(path.join(dir, name)).size, 0);
      largestDisk = Math.max(largestDisk, disk);
    }
  }
  expect(await sync(store)).toBeNull();
  await store.close();
  stores.pop();
  expect(fs.existsSync(path.join(dir, 'snapshot'))).toBe(true);
  expect(largest).toBeLessThan(64 * 1024);
  // At most two logs (the one being retired and the new one), each preallocated to 1 MiB.
  expect(largestDisk).toBeLessThan(2 * 1024 * 1024 + 64 * 1024);
  const state = await openStore().open(EMPTY);
  expect(state.fenceCeiling).toBe(1_000_000);
  expect([...state.leases].map((l) => l.key).sort()).toEqual([...live.keys()].sort());
});

test('a full disk fails sync with the error, keeps the store usable, and recovers when space returns', async () => {
  if (process.getuid?.() !== 0) throw new Error('this test mounts a 1 MiB tmpfs and needs root (CI runs as root)');
  const mountPoint = fs.mkdtempSync(path.join(os.tmpdir(), 'lockd-full-'));
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', mountPoint]);
  try {
    dir = path.join(mountPoint, 'data');
    const store = openStore();
    await store.open(EMPTY);
    store.append({ kind: 'grant', lease: lease('before', 1) });
    expect(await sync(store)).toBeNull();
    const filler = path.join(mountPoint, 'filler');
    try {
      fs.writeFileSync(filler, Buffer.alloc(2 * 1024 * 1024));
    } catch {
      // ENOSPC once the tmpfs is full: exactly what we want.
    }
    store.append({ kind: 'grant', lease: lease('during', 2, { owner: 'x'.repeat(200) }) });
    for (let i = 0; i < 50; i++) store.append({ kind: 'grant', lease: lease(`bulk-${i}`, 10 + i, { owner: 'y'.repeat(200) }) });
    const failure = await sync(store);
    expect(failure).not.toBeNull();
    expect((failure as NodeJS.ErrnoException).code).toBe('ENOSPC');
    fs.rmSync(filler);
    expect(await sync(store)).toBeNull();
    await store.close();
    stores.pop();
    const state = await openStore().open(EMPTY);
    expect([...state.leases].map((l) => l.key)).toEqual(expect.arrayContaining(['before', 'during', 'bulk-49']));
    await stores.pop()!.close();
  } finally {
    for (const store of stores.splice(0)) await store.close().catch(() => {});
    execFileSync('umount', [mountPoint]);
    fs.rmSync(mountPoint, { recursive: true, force: true });
  }
});

test('changes made while a snapshot is being written (over several event-loop turns) all survive a reopen', async () => {
  const live = new Map<string, StoredLease>();
  const store = openStore({ compactAfterBytes: 64 * 1024 });
  await store.open({ durableLeases: () => live.values(), reservedFenceCeiling: 0 });
  const apply = (change: TableChange) => {
    if (change.kind === 'grant') live.set(change.lease.key, change.lease);
    if (change.kind === 'free') live.delete(change.key);
    if (change.kind === 'update') live.set(change.key, { ...live.get(change.key)!, holdCount: change.holdCount, ttlMs: change.ttlMs, expiresAtMs: change.expiresAtMs });
    store.append(change);
  };
  for (let i = 0; i < 60_000; i++) apply({ kind: 'grant', lease: lease(`k${i}`, i + 1) });
  expect(await sync(store)).toBeNull();
  // The sync above pushed the log past the threshold: a snapshot of 60,000 leases is now being
  // encoded a chunk per turn. Change leases at both ends of the slot order meanwhile.
  for (let round = 0; round < 20; round++) {
    apply({ kind: 'free', key: `k${round}`, digest: lease(`k${round}`, round + 1).digest, reason: 'released' });
    apply({ kind: 'free', key: `k${59_999 - round}`, digest: lease(`k${59_999 - round}`, 60_000 - round).digest, reason: 'released' });
    apply({ kind: 'grant', lease: lease(`new${round}`, 100_000 + round) });
    const target = `k${30_000 + round}`;
    apply({ kind: 'update', key: target, digest: lease(target, 30_001 + round).digest, holdCount: 5, ttlMs: 1_234, expiresAtMs: 1_999_999_999_999 });
    expect(await sync(store)).toBeNull();
  }
  await store.close();
  stores.pop();
  expect(fs.existsSync(path.join(dir, 'snapshot'))).toBe(true);
  const state = await openStore().open(EMPTY);
  const recovered = new Map([...state.leases].map((l) => [l.key, l]));
  expect(recovered.size).toBe(live.size);
  for (const [key, value] of live) expect(recovered.get(key)).toEqual(value);
});

test('writeBehind writes queued changes with no one waiting for them', async () => {
  const store = openStore();
  await store.open(EMPTY);
  store.append({ kind: 'grant', lease: lease('kept', 1) });
  expect(await sync(store)).toBeNull();
  const before = store.stats();
  store.append({ kind: 'free', key: 'kept', digest: lease('kept', 1).digest, reason: 'released' });
  store.writeBehind();
  store.writeBehind(); // a second call in the same turn schedules nothing more
  for (let turn = 0; turn < 1_000 && store.stats().batches === before.batches; turn++) await new Promise((resolve) => setTimeout(resolve, 5));
  expect(store.stats().batches).toBe(before.batches + 1);
  expect(store.stats().bytes).toBeGreaterThan(before.bytes);
  // Written, not just queued: a crash now (no close) still finds the release.
  const copy = `${dir}-copy`;
  fs.cpSync(dir, copy, { recursive: true });
  fs.rmSync(path.join(copy, 'LOCK'));
  const recovered = new FileStore({ dataDir: copy });
  const state = await recovered.open(EMPTY);
  await recovered.close();
  expect([...state.leases]).toEqual([]);
  fs.rmSync(copy, { recursive: true, force: true });
});

test('batches are written inline until one inline write is slow, then on the thread pool; always stays on the pool', async () => {
  const grantAndSync = async (store: FileStore, n: number) => {
    store.append({ kind: 'grant', lease: lease(`k-${n}`, n) });
    expect(await sync(store)).toBeNull();
  };
  // No write counts as slow (how long a synced write takes on a busy machine is not this test's
  // business): every batch is written inline.
  const fast = openStore({ inlineSlowMs: Infinity });
  await fast.open(EMPTY);
  for (let n = 1; n <= 3; n++) await grantAndSync(fast, n);
  expect(fast.stats()).toMatchObject({ inlineWrites: 3, threadedWrites: 0 });
  await fast.close();
  stores.pop();

  // Every inline write counts as slow here: the first one moves the next ones to the pool, for good.
  const slow = openStore({ inlineSlowMs: -1, inlineBackoffMs: Infinity });
  await slow.open(EMPTY);
  for (let n = 4; n <= 6; n++) await grantAndSync(slow, n);
  expect(slow.stats()).toMatchObject({ inlineWrites: 1, threadedWrites: 2 });
  await slow.close();
  stores.pop();

  const always = openStore({ fsync: 'always' });
  await always.open(EMPTY);
  for (let n = 7; n <= 8; n++) await grantAndSync(always, n);
  expect(always.stats()).toMatchObject({ inlineWrites: 0, threadedWrites: 2 });
  await always.close();
  stores.pop();
  // Whichever way they were written, every batch is there.
  const state = await openStore().open(EMPTY);
  expect([...state.leases].map((l) => l.key).sort()).toEqual(['k-1', 'k-2', 'k-3', 'k-4', 'k-5', 'k-6', 'k-7', 'k-8']);
});

test('a LOCK left by a crashed lockd whose pid now belongs to another process is taken over', async () => {
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  // The parent of this process is alive, but its start time is not the one recorded.
  fs.writeFileSync(path.join(dir, 'LOCK'), `${process.ppid} 1\n`);
  const state = await openStore().open(EMPTY);
  expect([...state.leases]).toEqual([]);
  expect(fs.readFileSync(path.join(dir, 'LOCK'), 'utf8')).toMatch(new RegExp(`^${process.pid} \\d+\\n$`));
});

test('close removes the LOCK', async () => {
  const store = openStore();
  await store.open(EMPTY);
  expect(fs.existsSync(path.join(dir, 'LOCK'))).toBe(true);
  await store.close();
  expect(fs.existsSync(path.join(dir, 'LOCK'))).toBe(false);
});

describe('recovery reads files a chunk at a time', () => {
  const changes: TableChange[] = [
    { kind: 'fence-reserve', ceiling: 500 },
    ...Array.from({ length: 40 }, (_, i) => ({ kind: 'grant' as const, lease: lease(`key-${i}-${'k'.repeat(i * 7)}`, i + 1, { owner: `o-${'x'.repeat(i * 11)}` }) })),
    { kind: 'free', key: 'key-3-' + 'k'.repeat(21), digest: lease('x', 4).digest, reason: 'released' },
  ];

  test('every chunk size (so every record boundary falls inside a chunk and across two) decodes the same records', async () => {
    await writeAndClose(changes);
    const bytes = fs.readFileSync(logFile());
    const whole: TableChange[] = [];
    const expected = readRecords(bufferSource(bytes), 0, (change) => whole.push(change), bytes.length);
    expect(expected.reads).toBe(1);
    expect(whole.filter((c) => c.kind === 'grant')).toHaveLength(40);
    for (let chunk = 26; chunk <= 700; chunk += 3) {
      const seen: TableChange[] = [];
      const result = readRecords(bufferSource(bytes), 0, (change) => seen.push(change), chunk);
      expect(result.goodEnd).toBe(expected.goodEnd);
      expect(result.zeroTail).toBe(true);
      expect(result.reads).toBeGreaterThanOrEqual(Math.floor(expected.goodEnd / chunk));
      expect(seen).toEqual(whole);
    }
  });

  test('a record larger than a chunk is read whole', async () => {
    const big = lease('big-'.padEnd(5_000, 'b'), 7, { owner: 'o'.repeat(20_000) });
    await writeAndClose([{ kind: 'grant', lease: big }]);
    const state = await openStore({ readChunkBytes: 1_024 }).open(EMPTY);
    expect([...state.leases]).toEqual([big]);
  });

  test('a torn tail inside the last chunk is dropped and a BATCH record split across chunks still proves corruption', async () => {
    await writeAndClose(changes);
    const keptEnd = dataEnd(logFile());
    const crashed = await writeAndCrashImage([{ kind: 'grant', lease: lease('torn', 900) }, { kind: 'grant', lease: lease('torn2', 901) }]);
    // Cut inside the second grant of the last write: reading 64 bytes at a time, the tear is in the last chunk.
    const cut = crashed.length - 20;
    fs.writeFileSync(logFile(), crashed.subarray(0, cut));
    const torn = await openStore({ readChunkBytes: 64 }).open(EMPTY);
    expect(torn.summary).toMatch(/dropped the torn tail/);
    expect([...torn.leases].map((l) => l.key)).toContain('torn');
    expect([...torn.leases].map((l) => l.key)).not.toContain('torn2');
    expect([...torn.leases]).toHaveLength(40); // 40 grants, one freed, plus "torn"
    await stores.pop()!.close();

    // Now damage a record of the first (acknowledged) write: the BATCH record of the last write
    // follows it, wherever chunks split it, so this is corruption at every chunk size.
    for (let chunk = 26; chunk <= 200; chunk += 7) {
      const image = Buffer.from(crashed);
      image[40] ^= 0xff;
      fs.writeFileSync(logFile(), image);
      const refused = openStore({ readChunkBytes: chunk }).open(EMPTY);
      await expect(refused).rejects.toThrow(/corrupt in the middle/);
      stores.pop();
    }
    expect(keptEnd).toBeGreaterThan(64);
  });
});

test('the log is compacted past maxLogBytes even while it is smaller than twice the snapshot', async () => {
  const live = new Map<string, StoredLease>();
  // A large snapshot (200 leases with 1 KB owners) and a cap far below twice its size.
  const store = openStore({ compactAfterBytes: 1, maxLogBytes: 16 * 1024 });
  await store.open({ durableLeases: () => live.values(), reservedFenceCeiling: 0 });
  for (let i = 0; i < 200; i++) {
    const granted = lease(`big-${i}`, i + 1, { owner: 'o'.repeat(1_000) });
    live.set(granted.key, granted);
    store.append({ kind: 'grant', lease: granted });
  }
  expect(await sync(store)).toBeNull();
  await store.compactionSettled();
  expect(store.stats().compactions).toBe(1);
  const snapshotBytes = fs.statSync(path.join(dir, 'snapshot')).size;
  expect(snapshotBytes).toBeGreaterThan(200 * 1_000);
  // Renewals: ~100 bytes each. The log passes 16 KiB long before twice the snapshot.
  let logged = 0;
  for (let round = 0; logged < 64 * 1024; round++) {
    const target = lease(`big-${round % 200}`, (round % 200) + 1);
    store.append({ kind: 'update', key: target.key, digest: target.digest, holdCount: 1, ttlMs: 30_000, expiresAtMs: 1_950_000_000_000 + round });
    if (round % 20 === 19) {
      const before = store.stats().bytes;
      expect(await sync(store)).toBeNull();
      await store.compactionSettled();
      logged += store.stats().bytes - before;
    }
  }
  expect(store.stats().compactions).toBeGreaterThanOrEqual(4);
  expect(dataEnd(logFile())).toBeLessThan(16 * 1024 + 4 * 1024);
});

test('recovery reports when the state was last written: the newest modification time of its files', async () => {
  await writeAndClose([{ kind: 'grant', lease: lease('a', 1) }]);
  const writtenAt = new Date('2030-01-02T03:04:05Z');
  fs.utimesSync(logFile(), writtenAt, writtenAt);
  expect((await openStore().open(EMPTY)).lastWrittenAtMs).toBe(writtenAt.getTime());
});
