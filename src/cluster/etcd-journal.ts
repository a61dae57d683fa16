/**
 * The lock table's changes, journaled in etcd per partition (design study §4.4-4.5).
 *
 * Each owned partition p has a log of batches, `p/<p>/log/<seq>`, each batch the bytes the file
 * store would write (src/store/records.ts: a BATCH record, then GRANT/UPDATE/FREE/FENCE_RESERVE
 * records). One flush is one etcd txn covering every partition with pending records, guarded per
 * partition by `create_revision(owners/p) == claimRev` (only the node whose claim created the
 * owner key can append: a deposed owner's write fails) and `version(log/<seq>) == 0` (so a resent
 * batch is appended at most once). One txn is in flight at a time; changes made meanwhile share
 * the next (group commit).
 *
 * Outcomes of a txn: committed -> its callers are answered. Compare failed -> read back per
 * partition: the owner key changed (ownership lost: the partition is dropped and its callers get
 * UNAVAILABLE), or the log key exists (an earlier, ambiguous attempt committed: answered), or
 * neither (another partition's failure dragged it down: sent again). Error or timeout
 * (ambiguous) -> the same bytes are sent again until a definite answer, while the node's
 * ownership deadline holds; past it, the partitions in the batch are given up.
 *
 * Replay (`open`) reads the partition's snapshot and every log entry after it, linearizably,
 * after the claim committed; compaction writes a snapshot of the partition's live leases and
 * deletes the log it covers, so the log stays short; `compactEtcdHistory` bounds etcd's history.
 */
import type { Etcd3 } from 'etcd3';
import { StoreError, UnavailableError } from '../errors';
import { bufferSource, readRecords } from '../store/record-reader';
import { encodeBatchHeader, encodeChange, LeaseImage } from '../store/records';
import type { StoredLease, TableChange } from '../table/types';
import { OutputBuffer } from '../util/output-buffer';
import { ClusterKeys, prefixEnd } from './keys';
import type { TxnCompare, TxnOp, TxnSender } from './etcd-txn-channel';
import type { ClaimedRead } from './ownership';

/** Called when a durability wait ends: null once the changes committed. */
export type SyncDone = (error: Error | null) => void;

export interface JournalOptions {
  /** Most bytes of batches in one txn (etcd's --max-request-bytes is 1.5 MiB). Default 1 MiB. */
  maxTxnBytes?: number;
  /** Most partitions in one txn (2 compares each; etcd's --max-txn-ops is 128). Default 64. */
  maxPartitionsPerTxn?: number;
  /** A partition's log is compacted into a snapshot past this many entries. Default 10,000. */
  compactLogEntries?: number;
  /** ...or this many bytes, or twice the partition's snapshot (estimated) if that is more. Default 4 MiB. */
  compactLogBytes?: number;
  /** Largest snapshot chunk. Default 1 MiB. */
  snapshotChunkBytes?: number;
  /**
   * Monotonic ms until which this node may still act as owner (its ownership deadline). An
   * ambiguous write is retried until then, and given up after. Default: no deadline.
   */
  deadline?: () => number;
  /** Monotonic clock for `deadline`. Default performance.now. */
  monotonicNow?: () => number;
  /** Wait between resends of an ambiguous txn. Default 100 ms. */
  retryDelayMs?: number;
  /**
   * How long changes nobody waits for (releases, expiries) may stay unwritten, in ms, unless a
   * txn carries their partition sooner. Default 20. A release answered at once and written with
   * the holder's next acquire costs one txn, not two; a client's acquire no longer queues behind
   * a txn of releases. A crash in this window keeps a released lease until its expiry, as any
   * release answered before its write may (README, Durability).
   */
  writeBehindMs?: number;
  /**
   * Reads replays and writes snapshots: large answers and requests, on connections of their own
   * so they never hold up the appends that acknowledgements wait for (a failover's replays
   * delayed the first grant of an adopted partition by 1.7 s on a shared connection). Default:
   * the journal's client.
   */
  bulkClient?: Etcd3;
  /**
   * Sends the appends (the txns acknowledgements wait for). Default: the journal's client.
   * A node uses an EtcdTxnChannel: about half the CPU per txn of etcd3's.
   */
  appendClient?: TxnSender;
}

export interface JournalListener {
  /** Partition p was dropped: its owner key changed, or an ambiguous write outlived the deadline. */
  partitionLost?(p: number, reason: string): void;
  /** An etcd call failed (logged by the caller; the journal retries). */
  etcdError?(error: Error): void;
  /** A batch is known committed (how: 'txn', or 'read-back' of an earlier ambiguous attempt): for debug logs. */
  batchCommitted?(p: number, seq: number, claimRev: string, how: 'txn' | 'read-back'): void;
}

/** What replaying a partition found. */
export interface PartitionReplay {
  /** Live leases as journaled (the table drops those already expired). */
  readonly leases: StoredLease[];
  /** Highest partition-local fence reserved or issued. */
  readonly fenceCeiling: number;
  /** Log entries read after the snapshot. */
  readonly logEntries: number;
  /** Leases read from the snapshot. */
  readonly snapshotLeases: number;
  /** Seq the next batch gets. */
  readonly nextSeq: number;
}

/** The state a snapshot of a partition records, taken from its table at one instant. */
export interface PartitionState {
  readonly leases: Iterable<StoredLease>;
  /** How many leases `leases` yields (about: what the snapshot's size is estimated from). */
  readonly leaseCount: number;
  readonly fenceCeiling: number;
}

/** A one-chunk snapshot up to this size is written over the append channel. */
const SMALL_SNAPSHOT_BYTES = 64 * 1024;

/** A snapshot's bytes per lease, for the estimate compaction weighs against the log's size. */
const SNAPSHOT_BYTES_PER_LEASE = 128;

interface SnapshotMeta {
  gen: number;
  chunks: number;
  lastSeq: number;
  fenceCeiling: number;
}

interface SealedBatch {
  readonly seq: number;
  readonly bytes: Buffer;
  readonly waiters: SyncDone[];
}

/** One owned partition's write state. */
class PartitionLog {
  pending = new OutputBuffer(4096);
  pendingWaiters: SyncDone[] = [];
  /** Monotonic ms by which pending changes nobody waits for are to be sent (undefined: none such). */
  writeBehindBy: number | undefined;
  /** Sent (maybe more than once), not yet known to be committed. */
  inflight: SealedBatch | undefined;
  logEntries = 0;
  logBytes = 0;
  snapshotting = false;

  constructor(
    readonly p: number,
    readonly claimRev: string,
    public nextSeq: number,
    public snapshot: SnapshotMeta | undefined,
  ) {}

  /** Turns the pending records into the batch for seq nextSeq (kept byte for byte until definite). */
  seal(): SealedBatch {
    const records = this.pending.buf.subarray(0, this.pending.pos);
    const bytes = Buffer.concat([encodeBatchHeader(records.length), records]);
    this.inflight = { seq: this.nextSeq, bytes, waiters: this.pendingWaiters };
    this.pending = new OutputBuffer(4096);
    this.pendingWaiters = [];
    this.writeBehindBy = undefined;
    return this.inflight;
  }
}

/** Log entries per range page (each at most maxTxnBytes; most a few hundred bytes). */
const LOG_PAGE = 256;
/** Snapshot chunks per range page (each up to snapshotChunkBytes). */
const CHUNK_PAGE = 16;

export class EtcdJournal {
  private readonly parts = new Map<number, PartitionLog>();
  private readonly listeners: JournalListener[] = [];
  private readonly maxTxnBytes: number;
  private readonly maxPartitionsPerTxn: number;
  private readonly compactLogEntries: number;
  private readonly compactLogBytes: number;
  private readonly snapshotChunkBytes: number;
  private readonly deadline: () => number;
  private readonly monotonicNow: () => number;
  private readonly retryDelayMs: number;
  private readonly writeBehindMs: number;
  private writeBehindTimer: NodeJS.Timeout | undefined;
  private writeBehindTimerAt = Infinity;
  private readonly bulk: Etcd3;
  private readonly appender: TxnSender;
  private writing = false;
  private flushScheduled = false;
  /** Closing: everything pending is due at once. */
  private closing = false;
  private closed = false;
  /** Gives a partition's state for its snapshot; set by the backend that owns the tables. */
  stateOf: ((p: number) => PartitionState | undefined) | undefined;
  /** Txns sent (each flush attempt counts), for tests and metrics. */
  txnsSent = 0;

  constructor(
    client: Etcd3,
    private readonly keys: ClusterKeys,
    options: JournalOptions = {},
  ) {
    this.maxTxnBytes = options.maxTxnBytes ?? 1024 * 1024;
    this.maxPartitionsPerTxn = options.maxPartitionsPerTxn ?? 64;
    this.compactLogEntries = options.compactLogEntries ?? 10_000;
    this.compactLogBytes = options.compactLogBytes ?? 4 * 1024 * 1024;
    this.snapshotChunkBytes = options.snapshotChunkBytes ?? 1024 * 1024;
    this.deadline = options.deadline ?? (() => Infinity);
    this.monotonicNow = options.monotonicNow ?? (() => performance.now());
    this.retryDelayMs = options.retryDelayMs ?? 100;
    this.writeBehindMs = options.writeBehindMs ?? 20;
    this.bulk = options.bulkClient ?? client;
    this.appender = options.appendClient ?? client.kv;
  }

  addListener(listener: JournalListener): void {
    this.listeners.push(listener);
  }

  /** Partitions this journal writes. */
  owned(): number[] {
    return [...this.parts.keys()];
  }

  /** True while this journal writes p (claimed and not dropped). */
  isOpen(p: number): boolean {
    return this.parts.has(p);
  }

  /** Log entries of p after its snapshot (what compaction bounds). */
  logEntriesOf(p: number): number {
    return this.parts.get(p)?.logEntries ?? 0;
  }

  /**
   * Reads partition p's snapshot and log (linearizable reads, to be issued after the claim at
   * `claimRev` committed) and makes p writable under that claim. `first` is what the claim's own
   * txn read (claimPartitions): the meta and the log's first page are not read again. Throws
   * StoreError when an entry cannot be decoded.
   */
  async open(p: number, claimRev: string, first?: ClaimedRead): Promise<PartitionReplay> {
    if (this.parts.has(p)) throw new Error(`partition ${p} is already open`);
    const image = new LeaseImage();
    const metaKv = first !== undefined ? first.meta : (await this.bulk.kv.range({ key: Buffer.from(this.keys.snapMeta(p)) })).kvs[0];
    const meta = metaKv === undefined ? undefined : (JSON.parse(metaKv.value.toString()) as SnapshotMeta);
    if (meta !== undefined) {
      const prefix = this.keys.snapPrefix(p, meta.gen);
      let chunks = 0;
      await this.rangeAll(prefix, Buffer.from(prefix), CHUNK_PAGE, (key, value) => {
        chunks++;
        this.applyRecords(p, key, value, image);
      });
      if (chunks !== meta.chunks) throw new StoreError(`partition ${p}: snapshot ${meta.gen} has ${chunks} chunks in etcd, its meta says ${meta.chunks}`);
      if (meta.fenceCeiling > image.fenceCeiling) image.fenceCeiling = meta.fenceCeiling;
    }
    const snapshotLeases = image.count;
    const from = meta === undefined ? 0 : meta.lastSeq + 1;
    let nextSeq = from;
    let logEntries = 0;
    let logBytes = 0;
    const visit = (key: string, value: Buffer) => {
      const seq = this.keys.seqOfLogKey(p, key);
      if (seq !== nextSeq) throw new StoreError(`partition ${p}: log entry ${seq} follows ${nextSeq - 1} (a gap in the journal)`);
      this.applyRecords(p, key, value, image);
      nextSeq = seq + 1;
      logEntries++;
      logBytes += value.length;
    };
    // The claim's txn read the log's first page from its start (the snapshot txn deletes what it
    // covers, so that page starts at `from`); read on after it.
    let start = Buffer.from(this.keys.log(p, from));
    if (first !== undefined) {
      for (const kv of first.log) {
        const key = kv.key.toString();
        if (this.keys.seqOfLogKey(p, key) >= from) visit(key, kv.value);
      }
      const last = first.log[first.log.length - 1];
      if (last !== undefined) start = Buffer.concat([last.key, Buffer.from([0])]);
    }
    if (first === undefined || first.more) await this.rangeAll(this.keys.logPrefix(p), start, LOG_PAGE, visit);
    const part = new PartitionLog(p, claimRev, nextSeq, meta);
    part.logEntries = logEntries;
    part.logBytes = logBytes;
    this.parts.set(p, part);
    return { leases: [...image.all()], fenceCeiling: image.fenceCeiling, logEntries, snapshotLeases, nextSeq };
  }

  /** Stops writing p (handed off or lost): calls waiting on its unwritten changes get UNAVAILABLE. */
  drop(p: number, reason: string): void {
    const part = this.parts.get(p);
    if (part === undefined) return;
    this.parts.delete(p);
    const error = new UnavailableError(`partition ${p} is no longer served by this node: ${reason}`);
    for (const done of part.inflight?.waiters ?? []) done(error);
    for (const done of part.pendingWaiters) done(error);
  }

  /**
   * Queues one change of partition p; it is durable once a sync of p under the claim returned
   * (the revision that created our owner key) completes.
   */
  append(p: number, change: TableChange): string {
    const part = this.parts.get(p);
    if (part === undefined) throw new Error(`partition ${p} is not open in the journal`);
    encodeChange(part.pending, change);
    return part.claimRev;
  }

  /**
   * Calls `done` once every change of p appended so far under `claimRev` is committed, or with
   * why it cannot be: p was dropped (its unwritten changes with it), or is open under another
   * claim now, which never wrote them.
   */
  sync(p: number, done: SyncDone, claimRev?: string): void {
    const part = this.parts.get(p);
    if (part === undefined || (claimRev !== undefined && part.claimRev !== claimRev)) {
      done(new UnavailableError(`partition ${p} is not served by this node${part === undefined ? '' : ' under the claim these changes were made in'}; they were not written`));
      return;
    }
    if (part.pending.pos > 0) part.pendingWaiters.push(done);
    else if (part.inflight !== undefined) part.inflight.waiters.push(done);
    else {
      done(null);
      return;
    }
    this.scheduleFlush();
  }

  /** Has p's queued changes written within writeBehindMs, with nobody waiting for them. */
  writeBehind(p: number): void {
    const part = this.parts.get(p);
    if (part === undefined || part.pending.pos === 0 || part.writeBehindBy !== undefined) return;
    part.writeBehindBy = this.monotonicNow() + this.writeBehindMs;
    this.armWriteBehind(part.writeBehindBy);
  }

  /** A flush at `at` (monotonic ms), unless one is due sooner. */
  private armWriteBehind(at: number): void {
    if (at >= this.writeBehindTimerAt) return;
    clearTimeout(this.writeBehindTimer);
    this.writeBehindTimerAt = at;
    this.writeBehindTimer = setTimeout(() => {
      this.writeBehindTimerAt = Infinity;
      this.scheduleFlush();
    }, Math.max(0, at - this.monotonicNow()));
    this.writeBehindTimer.unref();
  }

  /** True when p's pending changes go in the next txn: someone waits, or their write-behind time came. */
  private due(part: PartitionLog, now: number): boolean {
    if (part.pending.pos === 0) return false;
    return part.pendingWaiters.length > 0 || this.closing || (part.writeBehindBy !== undefined && part.writeBehindBy <= now);
  }

  /** Writes what is queued (best effort), then stops; later calls are refused. */
  async close(): Promise<void> {
    if (!this.closed) {
      this.closing = true;
      this.scheduleFlush();
      const until = this.monotonicNow() + 2_000;
      while ((this.writing || this.flushScheduled) && this.monotonicNow() < until) await sleep(10);
    }
    this.closed = true;
    clearTimeout(this.writeBehindTimer);
    for (const p of [...this.parts.keys()]) this.drop(p, 'the journal closed');
  }

  private scheduleFlush(): void {
    if (this.flushScheduled || this.writing) return;
    this.flushScheduled = true;
    // End of this turn: every change of the turn rides in the same txn.
    setImmediate(() => {
      this.flushScheduled = false;
      void this.flushLoop();
    });
  }

  private async flushLoop(): Promise<void> {
    if (this.writing) return;
    this.writing = true;
    try {
      for (;;) {
        const batch = this.nextTxn();
        if (batch.length === 0) break;
        await this.commit(batch);
      }
    } finally {
      this.writing = false;
    }
    // Changes that arrived in the last instant of the loop: now, or at their write-behind time.
    const now = this.monotonicNow();
    for (const part of this.parts.values()) {
      if (this.due(part, now)) this.scheduleFlush();
      else if (part.writeBehindBy !== undefined) this.armWriteBehind(part.writeBehindBy);
    }
    this.maybeSnapshot();
  }

  /** The partitions the next txn carries: those with a batch in flight, then those due, within limits. */
  private nextTxn(): PartitionLog[] {
    if (this.closed && this.parts.size === 0) return [];
    const chosen: PartitionLog[] = [];
    const now = this.monotonicNow();
    let bytes = 0;
    for (const part of this.parts.values()) {
      if (chosen.length >= this.maxPartitionsPerTxn) break;
      let size = part.inflight?.bytes.length;
      if (size === undefined) {
        if (!this.due(part, now)) continue;
        size = part.pending.pos;
      }
      if (chosen.length > 0 && bytes + size > this.maxTxnBytes) continue;
      if (part.inflight === undefined) part.seal();
      bytes += size;
      chosen.push(part);
    }
    return chosen;
  }

  private async commit(batch: PartitionLog[]): Promise<void> {
    const compare: TxnCompare[] = [];
    const success: TxnOp[] = [];
    const failure: TxnOp[] = [];
    for (const part of batch) {
      const sealed = part.inflight!;
      const ownerKey = Buffer.from(this.keys.owner(part.p));
      const logKey = Buffer.from(this.keys.log(part.p, sealed.seq));
      compare.push(
        { key: ownerKey, target: 'Create', result: 'Equal', create_revision: part.claimRev },
        { key: logKey, target: 'Version', result: 'Equal', version: 0 },
      );
      success.push({ request_put: { key: logKey, value: sealed.bytes } });
      failure.push({ request_range: { key: ownerKey } }, { request_range: { key: logKey } });
    }
    this.txnsSent++;
    let response;
    try {
      response = await this.appender.txn({ compare, success, failure });
    } catch (error) {
      for (const listener of this.listeners) listener.etcdError?.(error as Error);
      // Ambiguous: it may or may not have committed. Resend the same bytes while we may still own.
      if (this.monotonicNow() >= this.deadline()) {
        for (const part of batch) this.lose(part, `etcd did not confirm a journal write before the ownership deadline (${(error as Error).message})`);
      } else {
        await sleep(this.retryDelayMs);
      }
      return;
    }
    if (response.succeeded) {
      for (const part of batch) this.committed(part, 'txn');
      return;
    }
    batch.forEach((part, i) => {
      if (this.parts.get(part.p) !== part) return;
      const owner = response.responses[2 * i]?.response_range.kvs[0];
      const logged = response.responses[2 * i + 1]?.response_range.kvs[0];
      const sealed = part.inflight!;
      if (owner === undefined || owner.create_revision !== part.claimRev) {
        this.lose(part, owner === undefined ? 'its owner key is gone (lease expired or revoked)' : `another claim owns it (created at revision ${owner.create_revision})`);
      } else if (logged !== undefined) {
        // Only this very batch, written under our claim by an earlier attempt, counts as committed.
        // Anything else at its seq means this node's view of the log is wrong: acknowledging
        // would lose the batch, so the partition is given up (and replayed afresh by its next owner).
        if (BigInt(logged.create_revision) > BigInt(part.claimRev) && logged.value.equals(sealed.bytes)) this.committed(part, 'read-back');
        else this.lose(part, `its log entry ${sealed.seq} holds another batch (written at revision ${logged.create_revision}): this node's view of the journal is stale`);
      }
      // else: dragged down by another partition's failed compare; resent by the next txn.
    });
  }

  private committed(part: PartitionLog, how: 'txn' | 'read-back'): void {
    // Dropped while the txn ran: its callers were answered then.
    if (this.parts.get(part.p) !== part) return;
    const sealed = part.inflight!;
    for (const listener of this.listeners) listener.batchCommitted?.(part.p, sealed.seq, part.claimRev, how);
    part.inflight = undefined;
    part.nextSeq = sealed.seq + 1;
    part.logEntries++;
    part.logBytes += sealed.bytes.length;
    for (const done of sealed.waiters) done(null);
  }

  private lose(part: PartitionLog, reason: string): void {
    if (this.parts.get(part.p) !== part) return;
    this.drop(part.p, reason);
    for (const listener of this.listeners) listener.partitionLost?.(part.p, reason);
  }

  private maybeSnapshot(): void {
    if (this.stateOf === undefined || this.closed) return;
    for (const part of this.parts.values()) {
      if (part.snapshotting || part.logEntries === 0) continue;
      if (part.logEntries < this.compactLogEntries) {
        if (part.logBytes < this.compactLogBytes) continue;
        // Rewriting many live leases to drop a short log costs more than a failover replaying it.
        const snapshotBytes = (this.stateOf(part.p)?.leaseCount ?? 0) * SNAPSHOT_BYTES_PER_LEASE;
        if (part.logBytes < 2 * snapshotBytes) continue;
      }
      part.snapshotting = true;
      this.snapshot(part.p)
        .catch((error: Error) => {
          for (const listener of this.listeners) listener.etcdError?.(error);
        })
        .finally(() => (part.snapshotting = false));
    }
  }

  /**
   * Writes a snapshot of p's live leases (from `stateOf`) covering every committed log entry,
   * then deletes those entries and the previous snapshot, all guarded by the claim. Returns
   * false when there was nothing to compact or the claim no longer holds. Changes made while it
   * runs land in later log entries and replay idempotently over it (grant and update set, free
   * deletes). A snapshot may hold a lease whose own batch never commits (the owner lost p first):
   * the next owner then keeps that lease until its expiry, the safe direction.
   */
  async snapshot(p: number): Promise<boolean> {
    const part = this.parts.get(p);
    const state = this.stateOf?.(p);
    if (part === undefined || state === undefined) return false;
    const lastSeq = part.nextSeq - 1;
    if (lastSeq < 0 || part.snapshot?.lastSeq === lastSeq) return false;
    const entriesCovered = part.logEntries;
    const bytesCovered = part.logBytes;
    const chunks: Buffer[] = [];
    let out = new OutputBuffer(64 * 1024);
    for (const lease of state.leases) {
      encodeChange(out, { kind: 'grant', lease });
      if (out.pos >= this.snapshotChunkBytes) {
        chunks.push(Buffer.from(out.buf.subarray(0, out.pos)));
        out = new OutputBuffer(64 * 1024);
      }
    }
    encodeChange(out, { kind: 'fence-reserve', ceiling: state.fenceCeiling });
    chunks.push(Buffer.from(out.buf.subarray(0, out.pos)));

    const gen = lastSeq;
    const meta: SnapshotMeta = { gen, chunks: chunks.length, lastSeq, fenceCeiling: state.fenceCeiling };
    const guard: TxnCompare = { key: Buffer.from(this.keys.owner(p)), target: 'Create', result: 'Equal', create_revision: part.claimRev };
    const puts: TxnOp[] = chunks.map((chunk, i) => ({ request_put: { key: Buffer.from(this.keys.snapChunk(p, gen, i)), value: chunk } }));
    // With the meta go the log it covers and every chunk this snapshot did not write: past its
    // last chunk in its own generation (an earlier attempt at this gen that failed before its
    // meta may have written more, and replay would count them and refuse), and in every other
    // generation (not only the previous one: an attempt whose outcome was ambiguous, or a dead
    // owner's unfinished one, may have left chunks that no meta names). etcd refuses a put inside
    // a range the same txn deletes, so the ranges stop short of the chunks written.
    const snaps = this.keys.snapsPrefix(p);
    const genPrefix = this.keys.snapPrefix(p, gen);
    const finish: TxnOp[] = [
      { request_put: { key: Buffer.from(this.keys.snapMeta(p)), value: Buffer.from(JSON.stringify(meta)) } },
      { request_delete_range: { key: Buffer.from(this.keys.logPrefix(p)), range_end: Buffer.from(this.keys.log(p, lastSeq + 1)) } },
      { request_delete_range: { key: Buffer.from(this.keys.snapChunk(p, gen, chunks.length)), range_end: prefixEnd(genPrefix) } },
      { request_delete_range: { key: Buffer.from(snaps), range_end: Buffer.from(genPrefix) } },
      { request_delete_range: { key: prefixEnd(genPrefix), range_end: prefixEnd(snaps) } },
    ];
    let response;
    if (chunks.length === 1) {
      // The usual case, one txn. A small one rides the append channel (about half the CPU of
      // etcd3's call); a large one goes on the bulk connection, behind no append.
      const sender = chunks[0].length <= SMALL_SNAPSHOT_BYTES ? this.appender : this.bulk.kv;
      response = await sender.txn({ compare: [guard], success: [puts[0], ...finish], failure: [] });
    } else {
      // A chunk per txn (each up to snapshotChunkBytes, under etcd's request limit), the meta last.
      // The generation is cleared first: if a meta already names it (an earlier attempt whose
      // outcome was ambiguous), a replay meanwhile refuses a short set of chunks rather than
      // reading old and new chunks as one.
      const cleared = await this.bulk.kv.txn({ compare: [guard], success: [{ request_delete_range: { key: Buffer.from(genPrefix), range_end: prefixEnd(genPrefix) } }], failure: [] });
      if (!cleared.succeeded) return false;
      for (const put of puts) {
        const written = await this.bulk.kv.txn({ compare: [guard], success: [put], failure: [] });
        if (!written.succeeded) return false;
      }
      response = await this.bulk.kv.txn({ compare: [guard], success: finish, failure: [] });
    }
    if (!response.succeeded) return false;
    part.snapshot = meta;
    part.logEntries -= entriesCovered;
    part.logBytes -= bytesCovered;
    return true;
  }

  /** Decodes one etcd value of records into `image`; a bad record is a StoreError (etcd keeps what was written). */
  private applyRecords(p: number, key: string, value: Buffer, image: LeaseImage): void {
    const result = readRecords(bufferSource(value), 0, (change) => image.apply(change));
    if (result.bad !== undefined) throw new StoreError(`partition ${p}: undecodable journal entry ${key} at byte ${result.bad.offset}: ${result.bad.reason}`);
  }

  /** Every key in [from, end of prefix), in key order, read in pages. */
  private async rangeAll(prefix: string, from: Buffer, pageSize: number, visit: (key: string, value: Buffer) => void): Promise<void> {
    const end = prefixEnd(prefix);
    let start = from;
    for (;;) {
      const page = await this.bulk.kv.range({ key: start, range_end: end, limit: pageSize });
      for (const kv of page.kvs) visit(kv.key.toString(), kv.value);
      if (!page.more || page.kvs.length === 0) return;
      start = Buffer.concat([page.kvs[page.kvs.length - 1].key, Buffer.from([0])]);
    }
  }
}

/**
 * Compacts etcd's history (all keys, not only lockd's) to `retainRevisions` below the current
 * revision, so superseded journal values do not accumulate (etcd keeps every revision until a
 * compaction; past its quota it accepts only reads and deletes). Returns the revision compacted
 * to, or undefined when there was nothing to do.
 */
export async function compactEtcdHistory(client: Etcd3, keys: ClusterKeys, retainRevisions: number): Promise<number | undefined> {
  const current = Number((await client.kv.range({ key: Buffer.from(keys.config), count_only: true })).header.revision);
  const target = current - retainRevisions;
  if (target <= 1) return undefined;
  try {
    await client.kv.compact({ revision: target, physical: false });
  } catch (error) {
    // Another node (or etcd's auto-compaction) already compacted past it: nothing left to do.
    if (/compacted/.test((error as Error).message)) return undefined;
    throw error;
  }
  return target;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
