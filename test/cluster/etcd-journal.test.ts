/**
 * The etcd journal against a real etcd: guarded appends (a deposed owner cannot write), replay
 * rebuilding a partition's leases and fence ceiling, compaction (snapshot + etcd history) that
 * keeps replay exact, and an ambiguous write acknowledged once through read-back.
 */
import { Etcd3 } from 'etcd3';
import { UnavailableError } from '../../src/errors';
import { compactEtcdHistory, EtcdJournal, type JournalOptions } from '../../src/cluster/etcd-journal';
import { createEtcdClient } from '../../src/cluster/etcd-client';
import { EtcdTxnChannel } from '../../src/cluster/etcd-txn-channel';
import { ClusterKeys } from '../../src/cluster/keys';
import { claimPartition, claimPartitions, releasePartition } from '../../src/cluster/ownership';
import { LockTable, TableLimits } from '../../src/table/lock-table';
import { tokenDigest } from '../../src/table/token-digest';
import { LockMode, type LeaseView, type StoredLease } from '../../src/table/types';
import { EtcdCluster, startEtcd } from '../helpers/etcd';

const LIMITS: TableLimits = { defaultTtlMs: 60_000, minTtlMs: 10, maxTtlMs: 600_000, maxWaitMs: 30_000, defaultListLimit: 100, maxListLimit: 1000, maxLeases: 10_000, maxWaiters: 10_000 };
const P = 5;
const NOW = 1_700_000_000_000;

let etcd: EtcdCluster;
const clients: Array<{ close(): void }> = [];
let clusterSeq = 0;

beforeAll(async () => {
  etcd = await startEtcd({ members: 1 });
}, 60_000);
afterAll(async () => {
  for (const client of clients) client.close();
  await etcd?.stop();
});

function client(timeoutMs = 2000): Etcd3 {
  const c = createEtcdClient(etcd.endpoints, timeoutMs);
  clients.push(c);
  return c;
}

/** Gives up `previous`'s claim of P and opens P as node-b would: the replay a failover does. */
async function nextOwner(c: Etcd3, keys: ClusterKeys, previous: { claim: { claimRev: string } }, options: JournalOptions = {}) {
  await releasePartition(c, keys, P, previous.claim.claimRev);
  return owner(client(), keys, 'node-b', options);
}

/** The append channel a node uses (the journal's default in these tests is etcd3's client). */
function txnChannel(): EtcdTxnChannel {
  const channel = new EtcdTxnChannel(etcd.endpoints, 2000);
  clients.push(channel);
  return channel;
}

async function grantLease(c: Etcd3, ttlSeconds = 30): Promise<string> {
  return (await c.leaseClient.leaseGrant({ TTL: ttlSeconds })).ID;
}

/** A node's view of one partition: a claim, a journal opened on it, and a table journaling into it. */
async function owner(c: Etcd3, keys: ClusterKeys, nodeId: string, options: JournalOptions = {}) {
  const lease = await grantLease(c);
  const claim = await claimPartition(c, keys, P, nodeId, lease);
  if (!claim.claimed) throw new Error(`claim failed: owned by ${claim.owner}`);
  const journal = new EtcdJournal(c, keys, options);
  const replay = await journal.open(P, claim.claimRev);
  const table = new LockTable(LIMITS, {
    waiterGranted() {},
    waiterTimedOut() {},
    changed: (change) => journal.append(P, change),
  });
  table.restore(replay.leases, replay.fenceCeiling, NOW);
  journal.stateOf = () => ({ leases: table.durableLeases(), leaseCount: table.leaseCount, fenceCeiling: table.reservedFenceCeiling });
  const lost: string[] = [];
  journal.addListener({ partitionLost: (_p, reason) => lost.push(reason) });
  return { lease, claim, journal, replay, table, lost };
}

function sync(journal: EtcdJournal): Promise<Error | null> {
  return new Promise((resolve) => journal.sync(P, resolve));
}

/** Leases as the journal keeps them (token digests), in fence order; a granted LeaseView is hashed. */
function sortedLeases(leases: Iterable<LeaseView | StoredLease>) {
  return [...leases]
    .map((l) => ({ key: l.key, digest: 'digest' in l ? l.digest : tokenDigest(l.token), fence: l.fence, mode: l.mode, owner: l.owner, holdCount: l.holdCount, ttlMs: l.ttlMs, expiresAtMs: l.expiresAtMs }))
    .sort((a, b) => a.fence - b.fence);
}

function freshKeys(): ClusterKeys {
  return new ClusterKeys(`journal-test-${process.pid}-${clusterSeq++}`);
}

test('a journal write by a deposed owner fails after another node claimed the partition, and the new owner never sees it', async () => {
  const keys = freshKeys();
  const c1 = client();
  const c2 = client();
  const a = await owner(c1, keys, 'node-a');
  const kept = a.table.acquire({ key: 'k1', session: 0, ttlMs: 60_000 }, NOW);
  expect(await sync(a.journal)).toBeNull();

  // node-a's etcd lease ends (as when it expires): its owner key goes; node-b claims p.
  await c1.leaseClient.leaseRevoke({ ID: a.lease });
  const b = await owner(c2, keys, 'node-b');
  expect(b.replay.leases.map((l) => l.key)).toEqual(['k1']);

  // node-a still believes it owns p and writes: the guard refuses it.
  a.table.acquire({ key: 'k2', session: 0, ttlMs: 60_000 }, NOW);
  const error = await sync(a.journal);
  expect(error).toBeInstanceOf(UnavailableError);
  expect(a.lost).toHaveLength(1);
  expect(a.journal.owned()).toEqual([]);

  // A third reader replaying now finds node-b's view: k1 only (k2 never committed).
  await c2.leaseClient.leaseRevoke({ ID: b.lease });
  const c = await owner(client(), keys, 'node-c');
  expect(sortedLeases(c.replay.leases)).toEqual(sortedLeases([kept.kind === 'granted' ? kept.lease : (undefined as never)]));
});

test('replay rebuilds exactly the leases and the fence ceiling: grants, re-entry, renewal, release, waiter grants, shared holders', async () => {
  const keys = freshKeys();
  const c1 = client();
  const a = await owner(c1, keys, 'node-a');
  const t = a.table;
  const x = t.acquire({ key: 'x', owner: 'w1', session: 0, ttlMs: 30_000 }, NOW);
  if (x.kind !== 'granted') throw new Error('x not granted');
  t.acquire({ key: 'x', session: 0, ttlMs: 30_000, waitMs: 10_000 }, NOW); // queued behind w1
  t.acquire({ key: 'x', token: x.lease.token, session: 0, ttlMs: 40_000 }, NOW + 1); // re-entry: holdCount 2
  const s1 = t.acquire({ key: 's', mode: LockMode.SHARED, session: 0 }, NOW + 2);
  if (s1.kind !== 'granted') throw new Error('s not granted');
  t.acquire({ key: 's', mode: LockMode.SHARED, owner: 'reader-2', session: 0 }, NOW + 3);
  const gone = t.acquire({ key: 'gone', session: 0 }, NOW + 4);
  if (gone.kind !== 'granted') throw new Error('gone not granted');
  expect(await sync(a.journal)).toBeNull();
  t.release('gone', gone.lease.token, NOW + 5);
  t.renew('s', s1.lease.token, 50_000, NOW + 6);
  // Two releases of the re-entered lease: the queued waiter is granted with the next fence.
  t.release('x', x.lease.token, NOW + 7);
  t.release('x', x.lease.token, NOW + 8);
  expect(await sync(a.journal)).toBeNull();
  const expected = sortedLeases(t.durableLeases());
  expect(expected.map((l) => l.key)).toEqual(['s', 's', 'x']);

  const b = await nextOwner(c1, keys, a);
  expect(sortedLeases(b.replay.leases)).toEqual(expected);
  expect(b.replay.fenceCeiling).toBe(t.reservedFenceCeiling);
  // The new owner continues above every fence issued before.
  const next = b.table.acquire({ key: 'fresh', session: 0 }, NOW + 9);
  expect(next.kind === 'granted' && next.lease.fence).toBeGreaterThan(Math.max(...expected.map((l) => l.fence)));
});

test('a change nobody waits for (a release) rides in the next synced txn, or is written alone once its write-behind time came, or at close', async () => {
  const keys = freshKeys();
  const c1 = client();
  const a = await owner(c1, keys, 'node-a', { writeBehindMs: 60_000 });
  const t = a.table;
  const first = t.acquire({ key: 'first', session: 0 }, NOW);
  if (first.kind !== 'granted') throw new Error('first not granted');
  expect(await sync(a.journal)).toBeNull();
  const txns = a.journal.txnsSent;
  t.release('first', first.lease.token, NOW + 1);
  a.journal.writeBehind(P);
  // Turns in which an immediate write-behind would have sent a txn of its own.
  for (let i = 0; i < 3; i++) await new Promise((resolve) => setImmediate(resolve));
  expect(a.journal.txnsSent).toBe(txns);
  const second = t.acquire({ key: 'second', session: 0 }, NOW + 2);
  if (second.kind !== 'granted') throw new Error('second not granted');
  expect(await sync(a.journal)).toBeNull();
  expect(a.journal.txnsSent).toBe(txns + 1);

  // A short write-behind time: written without any sync.
  const b = await nextOwner(c1, keys, a, { writeBehindMs: 50 });
  expect(b.replay.leases.map((l) => l.key)).toEqual(['second']);
  expect(b.table.release('second', second.lease.token, NOW + 3)).toBe(true);
  b.journal.writeBehind(P);
  for (let i = 0; i < 200 && b.journal.txnsSent === 0; i++) await new Promise((resolve) => setTimeout(resolve, 10));
  expect(b.journal.txnsSent).toBe(1);

  // Closing writes what waits for its write-behind time.
  const third = b.table.acquire({ key: 'third', session: 0 }, NOW + 4);
  if (third.kind !== 'granted') throw new Error('third not granted');
  expect(await sync(b.journal)).toBeNull();
  b.table.release('third', third.lease.token, NOW + 5);
  b.journal.writeBehind(P);
  await b.journal.close();
  await releasePartition(c1, keys, P, b.claim.claimRev);
  const c = await owner(client(), keys, 'node-c');
  expect(c.replay.leases).toEqual([]);
});

test('compaction (a snapshot of the partition, then etcd history) keeps the log short and replay exact', async () => {
  const keys = freshKeys();
  const c1 = client();
  const a = await owner(c1, keys, 'node-a', { compactLogEntries: 10 });
  const t = a.table;
  const held: string[] = [];
  for (let i = 0; i < 40; i++) {
    const outcome = t.acquire({ key: `k${i}`, session: 0, ttlMs: 60_000 }, NOW + i);
    if (outcome.kind !== 'granted') throw new Error('not granted');
    if (i % 3 === 0) t.release(`k${i}`, outcome.lease.token, NOW + i);
    else held.push(`k${i}`);
    expect(await sync(a.journal)).toBeNull();
  }
  // Compaction runs after a flush passes the threshold; wait until it brought the log below it.
  for (let i = 0; i < 200 && a.journal.logEntriesOf(P) >= 10; i++) await new Promise((r) => setTimeout(r, 20));
  expect(a.journal.logEntriesOf(P)).toBeLessThan(10);
  const logKeys = await c1.getAll().prefix(keys.logPrefix(P)).keys();
  expect(logKeys.length).toBeLessThan(10);

  const compactedTo = await compactEtcdHistory(c1, keys, 5);
  expect(compactedTo).toBeGreaterThan(0);
  // History before it is gone: a read at an old revision is refused.
  await expect(c1.kv.range({ key: Buffer.from(keys.config), revision: 1 })).rejects.toThrow(/compacted/);

  const b = await nextOwner(c1, keys, a);
  expect(b.replay.snapshotLeases).toBeGreaterThan(0);
  expect(sortedLeases(b.replay.leases)).toEqual(sortedLeases(t.durableLeases()));
  expect(b.replay.leases.map((l) => l.key).sort()).toEqual(held.sort());
  expect(b.replay.fenceCeiling).toBe(t.reservedFenceCeiling);
});

test('a batch whose seq already holds other bytes is never acknowledged: the partition is given up', async () => {
  const keys = freshKeys();
  const c1 = client();
  const a = await owner(c1, keys, 'node-a');
  a.table.acquire({ key: 'k0', session: 0, ttlMs: 60_000 }, NOW);
  expect(await sync(a.journal)).toBeNull(); // seq 0
  // Seq 1 written behind the journal's back: its view of the log is stale from here on.
  await c1.put(keys.log(P, 1)).value(Buffer.from('written by someone else'));
  a.table.acquire({ key: 'k1', session: 0, ttlMs: 60_000 }, NOW + 1);
  expect(await sync(a.journal)).toBeInstanceOf(UnavailableError);
  expect(a.lost).toEqual([expect.stringMatching(/log entry 1 holds another batch/)]);
  expect(a.journal.owned()).toEqual([]);
});

/** A partition with `batches` committed batches, and a chunk that a dead snapshot attempt left in the generation the next snapshot gets. */
async function partitionWithStrayChunk(batches: number, options: JournalOptions) {
  const keys = freshKeys();
  const c1 = client();
  const a = await owner(c1, keys, 'node-a', options);
  for (let i = 0; i < batches; i++) {
    a.table.acquire({ key: `k${i}`, session: 0, ttlMs: 60_000 }, NOW + i);
    expect(await sync(a.journal)).toBeNull();
  }
  const gen = batches - 1;
  const stray = keys.snapChunk(P, gen, 40);
  await c1.put(stray).value(Buffer.from('left by an attempt that never wrote its meta'));
  // ...and chunks in generations no meta names, before and after it (an ambiguous attempt, a dead owner's).
  await c1.put(keys.snapChunk(P, 0, 0)).value(Buffer.from('orphan'));
  await c1.put(keys.snapChunk(P, gen + 5, 0)).value(Buffer.from('orphan'));
  return { keys, c1, a, gen, stray };
}

/** The next owner replays exactly the leases of `a`, all from the snapshot. */
async function expectReplayFromSnapshot(c1: Etcd3, keys: ClusterKeys, a: Awaited<ReturnType<typeof owner>>, leases: number): Promise<void> {
  const expected = sortedLeases(a.table.durableLeases());
  const b = await nextOwner(c1, keys, a);
  expect(b.replay.snapshotLeases).toBe(leases);
  expect(b.replay.logEntries).toBe(0);
  expect(sortedLeases(b.replay.leases)).toEqual(expected);
}

test('a one-chunk snapshot (one txn, over the append channel) replaces chunks earlier attempts left, in its generation and others: replay stays exact', async () => {
  const { keys, c1, a, gen } = await partitionWithStrayChunk(4, { appendClient: txnChannel() });
  const revision = async () => Number((await c1.kv.range({ key: Buffer.from(keys.config), count_only: true })).header.revision);
  const before = await revision();
  expect(await a.journal.snapshot(P)).toBe(true);
  expect(await revision()).toBe(before + 1); // each etcd txn that writes is one revision
  expect(Object.keys(await c1.getAll().prefix(keys.snapsPrefix(P)).strings())).toEqual([keys.snapChunk(P, gen, 0)]);
  await expectReplayFromSnapshot(c1, keys, a, 4);
});

test('a snapshot larger than one chunk is written chunk by chunk over chunks earlier attempts left: replay stays exact', async () => {
  const { keys, c1, a, gen, stray } = await partitionWithStrayChunk(20, { snapshotChunkBytes: 200 });
  expect(await a.journal.snapshot(P)).toBe(true);
  const chunks = Object.keys(await c1.getAll().prefix(keys.snapsPrefix(P)).strings());
  expect(chunks.length).toBeGreaterThan(2);
  expect(chunks.filter((chunk) => !chunk.startsWith(keys.snapPrefix(P, gen)))).toEqual([]);
  expect(chunks).not.toContain(stray);
  await expectReplayFromSnapshot(c1, keys, a, 20);
});

test('a group claim takes free partitions in one txn, and replay from what it read equals a replay of its own; one owned partition makes it claim none', async () => {
  const keys = freshKeys();
  const c1 = client();
  const a = await owner(c1, keys, 'node-a', { compactLogEntries: 10 });
  const t = a.table;
  for (let i = 0; i < 25; i++) {
    const outcome = t.acquire({ key: `k${i}`, session: 0, ttlMs: 60_000 }, NOW + i);
    if (outcome.kind !== 'granted') throw new Error('not granted');
    if (i % 4 === 0) t.release(`k${i}`, outcome.lease.token, NOW + i);
    expect(await sync(a.journal)).toBeNull();
  }
  for (let i = 0; i < 200 && a.journal.logEntriesOf(P) >= 10; i++) await new Promise((r) => setTimeout(r, 20));
  // A snapshot, then a log after it longer than the claim's first page (2 entries here).
  for (let i = 0; i < 5; i++) {
    t.acquire({ key: `after${i}`, session: 0, ttlMs: 60_000 }, NOW + 30 + i);
    expect(await sync(a.journal)).toBeNull();
  }
  const expected = sortedLeases(t.durableLeases());
  await releasePartition(c1, keys, P, a.claim.claimRev);

  const c2 = client();
  const lease = await grantLease(c2);
  const taken = await claimPartition(c2, keys, P + 1, 'node-x', lease);
  if (!taken.claimed) throw new Error('P + 1 not claimed');
  expect(await claimPartitions(c2, keys, [P, P + 1, P + 2], 'node-b', lease, 2)).toBeUndefined();
  expect(await c2.get(keys.owner(P)).string()).toBeNull();
  expect(await c2.get(keys.owner(P + 2)).string()).toBeNull();

  await releasePartition(c2, keys, P + 1, taken.claimRev);
  const group = await claimPartitions(c2, keys, [P, P + 1, P + 2], 'node-b', lease, 2);
  if (group === undefined) throw new Error('group claim failed');
  for (const p of [P, P + 1, P + 2]) expect(await c2.get(keys.owner(p)).string()).toBe('node-b');
  const first = group.reads.get(P)!;
  expect(first.meta).toBeDefined();
  expect(first.log).toHaveLength(2);
  expect(first.more).toBe(true);
  const journal = new EtcdJournal(c2, keys);
  const replay = await journal.open(P, group.claimRev, first);
  expect(replay.snapshotLeases).toBeGreaterThan(0);
  expect(sortedLeases(replay.leases)).toEqual(expected);
  expect(replay.fenceCeiling).toBe(t.reservedFenceCeiling);
  const empty = await journal.open(P + 2, group.claimRev, group.reads.get(P + 2));
  expect([empty.leases, empty.nextSeq]).toEqual([[], 0]);

  // The replay agrees with one that reads everything itself (a single claim's).
  await journal.close();
  await releasePartition(c2, keys, P, group.claimRev);
  const b = await owner(client(), keys, 'node-c');
  expect(sortedLeases(b.replay.leases)).toEqual(expected);
  expect(b.replay.nextSeq).toBe(replay.nextSeq);
});

test('an ambiguous write (etcd paused past the call deadline) is resent and journaled exactly once', async () => {
  const keys = freshKeys();
  const c1 = client(300);
  const a = await owner(c1, keys, 'node-a', { retryDelayMs: 50 });
  a.table.acquire({ key: 'during-pause', session: 0 }, NOW);
  etcd.pause(0);
  let result: Error | null | undefined;
  const done = sync(a.journal).then((error) => (result = error));
  try {
    // Bounded (10 s: a loaded machine once took 4 s for the three): wait until at least two
    // attempts were sent into the paused member.
    for (let i = 0; i < 500 && a.journal.txnsSent < 3; i++) await new Promise((r) => setTimeout(r, 20));
    expect(a.journal.txnsSent).toBeGreaterThanOrEqual(3);
    expect(result).toBeUndefined();
  } finally {
    etcd.resume(0);
  }
  await done;
  expect(result).toBeNull();
  const entries = await client().getAll().prefix(keys.logPrefix(P)).keys();
  expect(entries).toHaveLength(1);
  const b = await nextOwner(c1, keys, a);
  expect(b.replay.leases.map((l) => l.key)).toEqual(['during-pause']);
});
