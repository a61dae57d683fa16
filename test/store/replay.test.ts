/**
 * A restart's two ways into a table: FileStore.open with the table's replay sink (records applied
 * straight to the slots, what lockd does) and FileStore.open without one followed by
 * LockTable.restore of the leases (StoredLease objects, what a cluster replay does). On the same
 * data dir both must give the same table, and it must behave as the table that wrote the records.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ResourceExhaustedError } from '../../src/errors';
import { FileStore } from '../../src/store/file-store';
import { EMPTY_SNAPSHOT_SOURCE } from '../../src/store/store';
import { FENCE_BLOCK, LockTable } from '../../src/table/lock-table';
import { LeaseView, LockMode, TableChange } from '../../src/table/types';
import { byFence, LIMITS, prng, setup, stored, thrown } from '../table/fixtures';

const { EXCLUSIVE, SHARED } = LockMode;
const bytesOrder = (a: string, b: string) => Buffer.compare(Buffer.from(a), Buffer.from(b));

let dir: string;
const stores: FileStore[] = [];
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lockd-replay-'));
});
afterEach(async () => {
  for (const store of stores.splice(0)) await store.close().catch(() => {});
  fs.rmSync(dir, { recursive: true, force: true });
});

async function writeChanges(changes: readonly TableChange[]): Promise<void> {
  const store = new FileStore({ dataDir: dir, compactAfterBytes: Infinity });
  await store.open(EMPTY_SNAPSHOT_SOURCE);
  for (const change of changes) store.append(change);
  const error = await new Promise<Error | null>((resolve) => store.sync(resolve));
  expect(error).toBeNull();
  await store.close();
}

/** Sets a fixture's clock to `now` (the restart's clock). */
function setClock(t: ReturnType<typeof setup>, now: number): void {
  t.clock.advance(now - t.clock.now());
}

/** The data dir (copied, since opening a store may rewrite it) opened both ways into fresh tables. */
async function reopenBothWays(now: number, recordedAt: number): Promise<{ replayed: ReturnType<typeof setup>; restored: ReturnType<typeof setup>; replayCount: number; restoreCount: number }> {
  const copy = `${dir}-copy`;
  fs.cpSync(dir, copy, { recursive: true });
  try {
    const replayed = setup();
    setClock(replayed, now);
    const sink = replayed.table.replay();
    const first = new FileStore({ dataDir: dir, compactAfterBytes: Infinity });
    stores.push(first);
    const state = await first.open(EMPTY_SNAPSHOT_SOURCE, sink);
    expect(state.replayed).toBe(true);
    expect([...state.leases]).toEqual([]);
    const replayCount = sink.finish(state.fenceCeiling, now, recordedAt);

    const restored = setup();
    setClock(restored, now);
    const second = new FileStore({ dataDir: copy, compactAfterBytes: Infinity });
    stores.push(second);
    const other = await second.open(EMPTY_SNAPSHOT_SOURCE);
    expect(other.replayed).toBeUndefined();
    const restoreCount = restored.table.restore(other.leases, other.fenceCeiling, now, recordedAt);
    return { replayed, restored, replayCount, restoreCount };
  } finally {
    for (const store of stores.splice(0)) await store.close();
    fs.rmSync(copy, { recursive: true, force: true });
  }
}

/** What a client can see of a table: every lease, every key's holders in order, the listing, deadlines and fences. */
function observable(t: ReturnType<typeof setup>, keys: readonly string[]) {
  return {
    leases: byFence(t.table.durableLeases()),
    holders: keys.map((key) => t.inspect(key)),
    listing: t.table.list('', 10, t.now()).map((info) => info.key),
    nextDeadline: t.table.nextDeadline(),
    leaseCount: t.table.leaseCount,
    currentFence: t.table.currentFence,
  };
}

test.each([17, 18, 19])('given a random history of grants, shared holders, re-entries, renewals, releases and expiries (seed %i), then replay and restore give the same table as the live one', async (seed) => {
  const random = prng(seed);
  const source = setup();
  const keys = ['a', 'b', 'c', 'ключ', 'd/e', 'f'];
  const live = new Map<string, LeaseView>();
  for (let step = 0; step < 1_000; step++) {
    const key = random.pick(keys);
    const roll = random.int(10);
    const held = [...live.values()].filter((lease) => lease.key === key);
    if (roll < 4) {
      const mode = random.chance(0.6) ? SHARED : EXCLUSIVE;
      const outcome = source.acquire({ key, mode, ttlMs: 1_000 + random.int(20_000), owner: random.chance(0.7) ? `owner-${random.int(3)}` : undefined });
      if (outcome.kind === 'granted') live.set(outcome.lease.token, outcome.lease);
    } else if (roll < 5 && held.length > 0) {
      const lease = random.pick(held);
      source.acquire({ key, mode: lease.mode, token: lease.token, ttlMs: 1_000 + random.int(20_000) });
    } else if (roll < 7 && held.length > 0) {
      source.renew(key, random.pick(held).token, 1_000 + random.int(20_000));
    } else if (roll < 8 && held.length > 0) {
      source.release(key, random.pick(held).token);
    } else {
      source.tick(random.int(200));
    }
    for (const [token, lease] of live) if (!source.table.isHeld(lease.key, token, source.now())) live.delete(token);
  }
  expect(live.size).toBeGreaterThan(3);
  expect(source.changes.some((change) => change.kind === 'free')).toBe(true);
  expect(source.changes.some((change) => change.kind === 'update')).toBe(true);
  await writeChanges(source.changes);

  // The last write is recorded when half of the live leases have run out.
  const expiries = [...source.table.durableLeases()].map((lease) => lease.expiresAtMs).sort((a, b) => a - b);
  const recordedAt = expiries[Math.floor(expiries.length / 2)];
  const now = recordedAt + 1_000_000;
  const { replayed, restored, replayCount, restoreCount } = await reopenBothWays(now, recordedAt);
  const expected = [...source.table.durableLeases()].filter((lease) => Math.min(lease.expiresAtMs - recordedAt, lease.ttlMs) > 0);
  expect(expected.length).toBeGreaterThan(0);
  expect(expected.length).toBeLessThan(source.table.leaseCount);
  // Some survivor's expiry is not its grant's (an update moved it), and some holds a key with others.
  const grantExpiry = new Map(source.changes.flatMap((change) => (change.kind === 'grant' ? [[change.lease.digest, change.lease.expiresAtMs] as const] : [])));
  expect(expected.some((lease) => lease.expiresAtMs !== grantExpiry.get(lease.digest))).toBe(true);
  expect(expected.some((lease) => expected.some((other) => other !== lease && other.key === lease.key))).toBe(true);
  expect(replayCount).toBe(expected.length);
  expect(restoreCount).toBe(expected.length);
  // Every surviving lease, with its expiry moved to the restart's clock.
  const moved = expected.map((lease) => ({ ...lease, expiresAtMs: now + Math.min(lease.expiresAtMs - recordedAt, lease.ttlMs) }));
  expect(byFence(replayed.table.durableLeases())).toEqual(byFence(moved));
  expect(observable(replayed, keys)).toEqual(observable(restored, keys));
  // The key order (built at once after the replay) lists exactly the surviving keys, in byte order.
  const survivingKeys = [...new Set(expected.map((lease) => lease.key))].sort(bytesOrder);
  for (const t of [replayed, restored]) expect([...t.table.scan('', undefined, t.now())].map((info) => info.key)).toEqual(survivingKeys);
  expect(replayed.table.currentFence).toBe(source.table.reservedFenceCeiling + FENCE_BLOCK);

  // The tokens the live table handed out still work, and the same way in both tables.
  for (const t of [replayed, restored]) {
    for (const [token, lease] of live) {
      const survives = expected.some((s) => s.fence === lease.fence);
      expect(t.table.isHeld(lease.key, token, t.now())).toBe(survives);
    }
  }
});

test('given leases replayed from disk, then waiters queue first come, first served behind them, and an expiry or release lets the next one in', async () => {
  const source = setup();
  const writer = source.grant({ key: 'k', ttlMs: 1_000 });
  const r1 = source.grant({ key: 'shared', mode: SHARED, ttlMs: 2_000 });
  const r2 = source.grant({ key: 'shared', mode: SHARED, ttlMs: 3_000 });
  await writeChanges(source.changes);
  const { replayed: t } = await reopenBothWays(source.now(), source.now());

  const first = t.park({ key: 'k', session: 2 });
  const second = t.park({ key: 'k', mode: SHARED, session: 3 });
  expect(t.acquire({ key: 'k', mode: SHARED, session: 4, waitMs: 0 }).kind).toBe('busy');
  expect(t.release('k', writer.token)).toBe(true);
  expect(t.grantedWaiters()).toEqual([first]);

  // The shared key: a reader joins, a writer waits for both restored readers.
  expect(t.acquire({ key: 'shared', mode: SHARED }).kind).toBe('granted');
  const exclusive = t.park({ key: 'shared', session: 5 });
  expect(t.inspect('shared').holders.map((h) => h.fence)).toEqual([r1.fence, r2.fence, expect.any(Number)]);
  t.release('shared', r1.token);
  t.release('shared', r2.token);
  expect(t.grantedWaiters()).toEqual([first]);
  t.tick(LIMITS.defaultTtlMs);
  // The first waiter's lease expired (second is granted) and the joined reader's too (the writer is).
  expect(t.grantedWaiters()).toHaveLength(3);
  expect(t.grantedWaiters().slice(0, 2)).toEqual([first, second]);
  expect(t.grantedWaiters()).toContain(exclusive);
});

test('given a grant recorded again over the same lease (a log replayed over its snapshot), then the later record wins and the lease is held once', async () => {
  const T = 1_700_000_000_000;
  const base = stored({ key: 'k', token: 'ab'.repeat(16), fence: 7, ttlMs: 5_000, expiresAtMs: T + 10_000, mode: EXCLUSIVE, holdCount: 1, owner: 'old' });
  await writeChanges([
    { kind: 'fence-reserve', ceiling: 100 },
    { kind: 'grant', lease: base },
    { kind: 'grant', lease: { ...base, holdCount: 3, expiresAtMs: T + 12_000, owner: 'new' } },
  ]);
  const { replayed, restored } = await reopenBothWays(T + 20_000, T + 9_000);
  for (const t of [replayed, restored]) {
    expect(t.inspect('k').holders).toEqual([{ owner: 'new', mode: EXCLUSIVE, fence: 7, expiresAtMs: T + 23_000, holdCount: 3 }]);
    expect(t.table.leaseCount).toBe(1);
    expect(t.table.currentFence).toBe(100 + FENCE_BLOCK);
  }
});

test('given 3,000 leases on keys written in random order (multi-byte, shared prefixes, some shared holders), then the replayed and restored tables list and scan them in byte order', async () => {
  const random = prng(23);
  const source = setup({ ...LIMITS, maxListLimit: 5_000 });
  const alphabet = ['a', 'b', 'é', '😀', '/', 'z', '\u0000'];
  const keys = new Set<string>();
  while (keys.size < 2_500) keys.add(`p/${Array.from({ length: 1 + random.int(6) }, () => random.pick(alphabet)).join('')}`);
  for (const key of keys) {
    source.grant({ key, mode: SHARED, ttlMs: 60_000 });
    if (random.chance(0.2)) source.grant({ key, mode: SHARED, ttlMs: 60_000 });
  }
  // Free some keys' first holders, so another holder must stand for the key.
  for (const lease of [...source.table.durableLeases()]) if (random.chance(0.1)) source.table.forceRelease(lease.key, lease.fence, source.now());
  await writeChanges(source.changes);
  const { replayed, restored } = await reopenBothWays(source.now(), source.now());
  const held = [...new Set([...source.table.durableLeases()].map((lease) => lease.key))].sort(bytesOrder);
  expect(held.length).toBeGreaterThan(2_000);
  for (const t of [replayed, restored]) {
    expect([...t.table.scan('', undefined, t.now())].map((info) => info.key)).toEqual(held);
    expect([...t.table.scan('p/é', 'p/é/', t.now())].map((info) => info.key)).toEqual(held.filter((key) => key.startsWith('p/é') && bytesOrder(key, 'p/é/') > 0));
    expect(t.table.list('p/😀', 5, t.now()).map((info) => info.key)).toEqual(held.filter((key) => key.startsWith('p/😀')).slice(0, 5));
    // A key granted after the restore joins the order.
    t.grant({ key: 'p/a0' });
    expect([...t.table.scan('p/a', undefined, t.now())].map((info) => info.key)).toEqual([...held.filter((key) => key.startsWith('p/a')), 'p/a0'].sort(bytesOrder));
  }
});

test('given a table that already holds keys, then restore still adds leases to its key order and expiry heap, as it always did', () => {
  const t = setup();
  t.grant({ key: 'm', ttlMs: 5_000 });
  const now = t.now();
  const lease = (key: string, n: number, expiresIn: number) =>
    stored({ key, token: n.toString(16).padStart(32, '0'), fence: 100 + n, ttlMs: 10_000, expiresAtMs: now + expiresIn, mode: EXCLUSIVE, holdCount: 1, owner: undefined });
  expect(t.table.restore([lease('z', 1, 2_000), lease('a', 2, 1_000)], 0, now)).toBe(2);
  expect([...t.table.scan('', undefined, now)].map((info) => info.key)).toEqual(['a', 'm', 'z']);
  expect(t.table.nextDeadline()).toBe(now + 1_000);
  t.tick(2_000);
  expect([...t.table.scan('', undefined, t.now())].map((info) => info.key)).toEqual(['m']);
});

describe('LockTable.replay', () => {
  /** The fixtures' clock starts here: times below are offsets from it. */
  const T = setup().now();
  const key = (s: string) => Buffer.from(s, 'utf8');
  const digest = (n: number) => Buffer.from(n.toString(16).padStart(32, '0'), 'hex');
  /** bytes = key then digest, as a record lays them out. */
  const record = (k: string, n: number) => {
    const bytes = Buffer.concat([Buffer.from('xx'), key(k), digest(n)]);
    return { bytes, keyAt: 2, keyLength: key(k).length, digestAt: 2 + key(k).length };
  };

  test('given grants, an update and a free of unknown leases, then only what names a replayed lease changes it', () => {
    const t = setup();
    const sink = t.table.replay();
    const a = record('a', 1);
    sink.grant(a.bytes, a.keyAt, a.keyLength, a.digestAt, 5, EXCLUSIVE, 'o', 1, 1_000, T + 2_000);
    const wrongDigest = record('a', 2);
    sink.update(wrongDigest.bytes, wrongDigest.keyAt, wrongDigest.keyLength, wrongDigest.digestAt, 9, 1_000, T + 2_000);
    sink.free(wrongDigest.bytes, wrongDigest.keyAt, wrongDigest.keyLength, wrongDigest.digestAt);
    const wrongKey = record('b', 1);
    sink.free(wrongKey.bytes, wrongKey.keyAt, wrongKey.keyLength, wrongKey.digestAt);
    expect(sink.leaseCount).toBe(1);
    sink.update(a.bytes, a.keyAt, a.keyLength, a.digestAt, 2, 5_000, T + 2_500);
    expect(sink.finish(0, T, T)).toBe(1);
    expect(t.inspect('a').holders).toEqual([{ owner: 'o', mode: EXCLUSIVE, fence: 5, expiresAtMs: T + 2_500, holdCount: 2 }]);
    expect(t.table.currentFence).toBe(5 + FENCE_BLOCK);
  });

  test('given a replayed lease that ran out before the last write, then finish drops it but keeps its fence below the next', () => {
    const t = setup();
    const sink = t.table.replay();
    const old = record('old', 1);
    sink.grant(old.bytes, old.keyAt, old.keyLength, old.digestAt, 900, EXCLUSIVE, undefined, 1, 1_000, T + 2_000);
    const kept = record('kept', 2);
    sink.grant(kept.bytes, kept.keyAt, kept.keyLength, kept.digestAt, 10, SHARED, undefined, 1, 1_000, T + 3_000);
    expect(sink.finish(700, T, T + 2_000)).toBe(1);
    expect(t.inspect('old').holders).toEqual([]);
    expect(t.inspect('kept').holders).toEqual([{ owner: undefined, mode: SHARED, fence: 10, expiresAtMs: T + 1_000, holdCount: 1 }]);
    expect(t.table.nextDeadline()).toBe(T + 1_000);
    expect(t.grant({ key: 'new' }).fence).toBe(900 + FENCE_BLOCK + 1);
  });

  test('given more leases on disk than the table has room for, then the replay is refused with RESOURCE_EXHAUSTED', () => {
    const table = new LockTable({ ...LIMITS, maxLeases: 2, maxWaiters: 1 });
    const sink = table.replay();
    for (let i = 0; i < 3; i++) {
      const r = record(`k${i}`, i);
      sink.grant(r.bytes, r.keyAt, r.keyLength, r.digestAt, i + 1, EXCLUSIVE, undefined, 1, 1_000, T + 2_000);
    }
    const r = record('k3', 3);
    expect(thrown(() => sink.grant(r.bytes, r.keyAt, r.keyLength, r.digestAt, 4, EXCLUSIVE, undefined, 1, 1_000, T + 2_000))).toBeInstanceOf(ResourceExhaustedError);
  });
});
