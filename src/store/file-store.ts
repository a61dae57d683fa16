/**
 * lockd's durable store: an append-only log of TableChanges with periodic snapshots, in one
 * directory that one lockd owns.
 *
 *   LOCK            pid and start time of the owning lockd (src/store/dir-lock.ts)
 *   snapshot        every live lease and the fence ceiling, covering logs up to its sequence
 *   wal-<seq>.log   changes after that, framed and checksummed (src/store/records.ts)
 *
 * Lease tokens are never written: records carry token digests (format 2, records.ts). A directory
 * written by format 1 (raw tokens) is read, its tokens hashed as they are decoded, and compacted
 * after the first write, so its raw tokens leave the disk.
 *
 * Group commit: changes are encoded as they happen; the sync() calls of one event-loop turn share
 * one write at its end (inline, see writesInline), and calls made while a write runs share the
 * next one. Each write is framed by a BATCH record (how recovery tells a torn tail from
 * corruption) and lands on zeros written ahead of it (a synced overwrite is cheaper than a synced
 * append). DESIGN.md has the reasons and the measurements.
 */
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import type winston from 'winston';
import { StoreError } from '../errors';
import { OutputBuffer } from '../util/output-buffer';
import type { TableChange } from '../table/types';
import { DirLock, lockDataDir } from './dir-lock';
import { DEFAULT_CHUNK_BYTES, fileSource, readPayloads, type ReadResult } from './record-reader';
import { BATCH_HEADER_BYTES, encodeBatchHeader, encodeChange, LeaseImage, RecordReplayer, writeBatchHeader } from './records';
import type { LeaseReplaySink } from '../table/restore-source';
import type { LeaseStore, RecoveredState, SnapshotSource } from './store';

/** When a change reaches the disk: always (a synced write per sync call), batch (group commit), off (written, never synced). */
export type StoreFsyncPolicy = 'always' | 'batch' | 'off';

/** What a FileStore is told; every field but dataDir has a default (DEFAULT_FILE_STORE_OPTIONS). */
export interface FileStoreOptions {
  /** The directory; created with mode 0700 (an existing one more open than that is logged at warn). Must be set. */
  dataDir: string;
  /** Default batch. */
  fsync: StoreFsyncPolicy;
  /** Start from the last good record when a log is corrupt in the middle, instead of refusing. Default false. */
  forceRecovery: boolean;
  /** Where write errors, compactions and a too-open data dir are reported. Default: nowhere. */
  logger: winston.Logger | undefined;
  /**
   * No compaction while the current log is smaller than this. Default 64 MiB: a small store is
   * not snapshotted over and over.
   */
  compactAfterBytes: number;
  /**
   * Past compactAfterBytes, a log is compacted once it exceeds twice the last snapshot or this,
   * whichever comes first. Default 1 GiB: bounds disk use and replay time however large the
   * snapshot is, at the cost of rewriting a snapshot larger than 512 MiB more often than 2:1.
   */
  maxLogBytes: number;
  /**
   * A synchronous (inline) batch write slower than this moves writes to the thread pool for
   * inlineBackoffMs. Default 20 ms (a healthy disk syncs a batch in well under 1 ms; under
   * heavy load here writes of 4-10 ms are common). See `writesInline`.
   */
  inlineSlowMs: number;
  /** How long writes stay on the thread pool after a slow inline write, before inline is tried again. Default 2 s. */
  inlineBackoffMs: number;
  /**
   * How long changes no reply waits for (releases, expiries) may wait for a sync to carry them
   * before they get a write of their own. Default 5 ms: far longer than a client's next request
   * takes to arrive under load, short next to any lease. A crash within it loses those releases:
   * the leases come back and expire by their TTL.
   */
  writeBehindMs: number;
  /** Bytes read at a time during recovery. Default 4 MiB. */
  readChunkBytes: number;
}

/** The defaults of FileStoreOptions, frozen. */
export const DEFAULT_FILE_STORE_OPTIONS: Readonly<Omit<FileStoreOptions, 'dataDir'>> = Object.freeze({
  fsync: 'batch',
  forceRecovery: false,
  logger: undefined,
  compactAfterBytes: 64 * 1024 * 1024,
  maxLogBytes: 1024 * 1024 * 1024,
  inlineSlowMs: 20,
  inlineBackoffMs: 2_000,
  writeBehindMs: 5,
  readChunkBytes: DEFAULT_CHUNK_BYTES,
});

const SNAPSHOT = 'snapshot';
/** The snapshot's magic names its format (records.ts FORMAT_VERSION): 2 holds token digests. */
const SNAPSHOT_MAGIC = Buffer.from('LOCKDSNP2\n');
/** A format 1 snapshot (raw tokens): still read, never written. */
const SNAPSHOT_MAGIC_V1 = Buffer.from('LOCKDSNP1\n');
/** Magic, then the covered log sequence (f64). */
const SNAPSHOT_HEADER_BYTES = SNAPSHOT_MAGIC.length + 8;
const LOG_PATTERN = /^wal-(\d{12})\.log$/;
/**
 * The log is extended by this many bytes of zeros at a time, ahead of the records. A synced
 * write that grows a file must also commit its new size (a filesystem journal commit); one
 * that overwrites zeros already on disk needs not: measured here, 80 us instead of 130-170 us
 * per synced write, which is the group commit's cycle time.
 */
const PREALLOCATE_BYTES = 1024 * 1024;
const ZEROS = Buffer.alloc(PREALLOCATE_BYTES);
/** Leases encoded per event-loop turn while writing a snapshot (~25 ms of work). */
const SNAPSHOT_CHUNK = 20_000;
/** A snapshot chunk is written out once its encoding passes this, so memory stays bounded for large leases. */
const SNAPSHOT_WRITE_BYTES = 4 * 1024 * 1024;

const logName = (seq: number) => `wal-${String(seq).padStart(12, '0')}.log`;

export class FileStore implements LeaseStore {
  private fd = -1;
  private seq = 0;
  /** Bytes of the current log known to be written. */
  private logBytes = 0;
  private snapshotBytes = 0;
  /** Format 1 files (raw tokens) were read at open: compact at the first write to remove them. */
  private formatOneOnDisk = false;
  /** Size of the current log file: zeros past logBytes are space written ahead of need. */
  private allocatedBytes = 0;
  /** Set by a failed preallocation: below this log size, batches are written without one. */
  private noPreallocateBelow = 0;
  /**
   * Changes not yet written, encoded behind room for the BATCH record that will frame them (so a
   * batch is written straight from here, no copy). While a batch is written on the thread pool
   * its buffer is `inFlight` and new changes go to the other one.
   */
  private pending = newBatchBuffer();
  private spare = newBatchBuffer();
  /** Bytes whose write failed; written again, first, by the next flush. */
  private retry: Buffer | undefined;
  private waiting: Array<(error: Error | null) => void> = [];
  /** Set when a failed write may have left part of a batch in the file: cut it off before writing more. */
  private mustTruncate = false;
  private flushing = false;
  /** The running compaction, if any: close() waits for it. */
  private compaction: Promise<void> | undefined;
  private closed = false;
  private readonly counters = { batches: 0, bytes: 0, writeErrors: 0, compactions: 0, inlineWrites: 0, threadedWrites: 0 };
  /** A flush is scheduled for the end of this event-loop turn. */
  private flushScheduled = false;
  /** Armed by writeBehind: writes what no one waits for if no sync comes first. */
  private writeBehindTimer: NodeJS.Timeout | undefined;
  /** performance.now() before which batches go to the thread pool (after a slow inline write). */
  private threadedUntil = 0;
  private dirLock: DirLock | undefined;
  private readonly options: Readonly<FileStoreOptions>;
  private source: SnapshotSource | undefined;

  constructor(options: Pick<FileStoreOptions, 'dataDir'> & Partial<FileStoreOptions>) {
    this.options = { ...DEFAULT_FILE_STORE_OPTIONS, ...options };
  }

  async open(source: SnapshotSource, into?: LeaseReplaySink): Promise<RecoveredState> {
    this.source = source;
    const dir = this.options.dataDir;
    try {
      fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    } catch (error) {
      const real = realMkdirError(dir, error as NodeJS.ErrnoException);
      throw new StoreError(`cannot create data dir ${dir}: ${real.message}`, { cause: real });
    }
    const dirMode = fs.statSync(dir).mode & 0o777;
    if ((dirMode & 0o077) !== 0) {
      // Tokens are stored as digests (useless to present), but keys, owners and fences are not secrets to share either.
      this.options.logger?.warn(`data dir ${dir} has mode ${dirMode.toString(8)}: others can read lock keys and owners; chmod 700 it`);
    }
    this.dirLock = lockDataDir(dir);
    try {
      return this.recover(dir, into);
    } catch (error) {
      // Refusing to start must not leave our pid in LOCK for the next attempt to puzzle over.
      this.dirLock.release();
      this.dirLock = undefined;
      if (error instanceof StoreError) throw error;
      throw new StoreError(`cannot read data dir ${dir}: ${(error as Error).message}`, { cause: error });
    }
  }

  /**
   * Reads the snapshot and the logs after it (into `into` when given, else into a LeaseImage);
   * truncates a torn tail; opens the current log.
   */
  private recover(dir: string, into: LeaseReplaySink | undefined): RecoveredState {
    const snapshotPath = path.join(dir, SNAPSHOT);
    let image: LeaseImage | RecordReplayer;
    if (into !== undefined) {
      image = new RecordReplayer(into);
    } else {
      const recordBytes = fs
        .readdirSync(dir)
        .filter((name) => name === SNAPSHOT || LOG_PATTERN.test(name))
        .reduce((sum, name) => sum + fs.statSync(path.join(dir, name)).size, 0);
      image = new LeaseImage(recordBytes);
    }
    const notes: string[] = [];
    let coveredSeq = 0;
    let lastWrittenAtMs: number | undefined;
    if (fs.existsSync(snapshotPath)) {
      const snapshot = this.readFile(snapshotPath, (header, size) => {
        const magic = header.subarray(0, SNAPSHOT_MAGIC.length);
        if (size < SNAPSHOT_HEADER_BYTES || !(magic.equals(SNAPSHOT_MAGIC) || magic.equals(SNAPSHOT_MAGIC_V1))) {
          throw new StoreError(`${snapshotPath} is not a lockd snapshot (of format 1 or 2)`);
        }
        coveredSeq = header.readDoubleLE(SNAPSHOT_MAGIC.length);
        return SNAPSHOT_HEADER_BYTES;
      }, image);
      if (snapshot.bad) throw new StoreError(`${snapshotPath} is corrupt at byte ${snapshot.bad.offset}: ${snapshot.bad.reason}`);
      this.snapshotBytes = snapshot.size;
      lastWrittenAtMs = snapshot.modifiedAtMs;
      if (snapshot.formatOneRecords > 0) this.formatOneOnDisk = true;
    }
    const logs = fs
      .readdirSync(dir)
      .map((name) => LOG_PATTERN.exec(name))
      .filter((m): m is RegExpExecArray => m !== null)
      .map((m) => Number(m[1]))
      .filter((seq) => seq > coveredSeq)
      .sort((a, b) => a - b);
    let currentEnd = 0;
    for (const [index, seq] of logs.entries()) {
      const file = path.join(dir, logName(seq));
      const result = this.readFile(file, () => 0, image);
      currentEnd = result.goodEnd;
      if (result.formatOneRecords > 0) this.formatOneOnDisk = true;
      lastWrittenAtMs = Math.max(lastWrittenAtMs ?? 0, result.modifiedAtMs);
      if (result.bad) {
        const last = index === logs.length - 1;
        const where = `${file} at byte ${result.bad.offset} (${result.bad.reason})`;
        if (!(last && result.bad.tornTail) && !this.options.forceRecovery) {
          throw new StoreError(`log corrupt in the middle: ${where}; nothing after it was read. Restore a backup, or start with --force-recovery to keep only the records before it`);
        }
        fs.truncateSync(file, result.goodEnd);
        notes.push(`${last && result.bad.tornTail ? 'dropped the torn tail of' : 'FORCED RECOVERY: dropped everything from'} ${where}, ${result.size - result.goodEnd} bytes`);
        if (!last) {
          for (const later of logs.slice(index + 1)) {
            fs.renameSync(path.join(dir, logName(later)), path.join(dir, `${logName(later)}.dropped`));
            notes.push(`FORCED RECOVERY: set aside ${logName(later)} as .dropped`);
          }
          logs.length = index + 1;
          break;
        }
      }
    }
    this.seq = logs.length > 0 ? logs[logs.length - 1] : coveredSeq + 1;
    const current = path.join(dir, logName(this.seq));
    this.fd = fs.openSync(current, this.openFlags(), 0o600);
    // Writes go on just past the last good record; what lies beyond it is zeros (checked above:
    // anything else was a torn tail and is cut off), so it stays as preallocated space.
    this.logBytes = currentEnd;
    this.allocatedBytes = fs.fstatSync(this.fd).size;
    fsyncDir(dir);
    if (this.formatOneOnDisk) notes.push('read format 1 records (raw lease tokens): upgraded to format 2 (token digests), rewritten at the first write');
    const count = image instanceof LeaseImage ? image.count : image.leaseCount;
    const summary = [`${dir}: ${count} leases, fence ceiling ${image.fenceCeiling}, ${logs.length} log file(s)`, ...notes].join('; ');
    if (!(image instanceof LeaseImage)) return { leases: [], replayed: true, fenceCeiling: image.fenceCeiling, summary, lastWrittenAtMs };
    const leaseImage = image;
    // The files' modification times (set by the kernel at each write) say when the state was last written.
    // Leases are decoded as the table takes them (on each iteration), so none outlives its restore (see LeaseImage).
    return { leases: { [Symbol.iterator]: () => leaseImage.all() }, fenceCeiling: image.fenceCeiling, summary, lastWrittenAtMs };
  }

  /**
   * Streams one file of records into `image`, from where `start` says they begin (given the
   * file's first bytes and size; it may throw for a bad header).
   */
  private readFile(file: string, start: (header: Buffer, size: number) => number, image: LeaseImage | RecordReplayer): ReadResult & { size: number; modifiedAtMs: number } {
    const fd = fs.openSync(file, 'r');
    try {
      const source = fileSource(fd);
      const header = Buffer.alloc(SNAPSHOT_HEADER_BYTES);
      fs.readSync(fd, header, 0, header.length, 0);
      const result = readPayloads(source, start(header, source.size), (bytes, from, to) => image.applyPayload(bytes, from, to), this.options.readChunkBytes);
      return { ...result, size: source.size, modifiedAtMs: fs.fstatSync(fd).mtimeMs };
    } finally {
      fs.closeSync(fd);
    }
  }

  /**
   * Whether the current log is due for compaction: past compactAfterBytes, once it is twice the
   * snapshot (replaying it costs more than reading a new snapshot) or maxLogBytes; at once when
   * format 1 files (raw tokens) are still on disk.
   */
  private logIsDue(): boolean {
    if (this.formatOneOnDisk) return true;
    const log = this.logBytes;
    return log > this.options.compactAfterBytes && (log > 2 * this.snapshotBytes || log > this.options.maxLogBytes);
  }

  append(change: TableChange): void {
    encodeChange(this.pending, change);
  }

  sync(done: (error: Error | null) => void): void {
    if (this.closed) {
      done(new StoreError('the store is closed'));
      return;
    }
    this.waiting.push(done);
    if (this.flushing) return;
    // Inline, at the end of this turn: every call read in it shares the one write. On the thread
    // pool a write starts at once; everything asked for while it runs shares the next one (group
    // commit without a timer: an idle disk is never kept waiting).
    if (this.writesInline()) this.flushAtEndOfTurn();
    else this.flush();
  }

  /** One flush after the callbacks of this event-loop turn, however many ask for it. */
  private flushAtEndOfTurn(): void {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    setImmediate(() => {
      this.flushScheduled = false;
      if (!this.flushing && !this.closed && (this.waiting.length > 0 || this.hasPending())) this.flush();
    });
  }

  /**
   * Whether batches are written inline: a synchronous write on the event loop at the end of the
   * turn, replies right after it. On a busy machine the thread pool's hand-off to another thread
   * and back costs more than the write itself (measured here under load: ~1.2 ms per batch
   * through the pool against ~0.3 ms inline; durable throughput +12%, interleaved runs). The loop
   * waits for the disk meanwhile, so one inline write slower than inlineSlowMs moves writes to the
   * pool for a while: a slow disk must not stall reads and releases. `always` (one write per
   * caller) stays on the pool.
   */
  private writesInline(): boolean {
    return this.options.fsync !== 'always' && performance.now() >= this.threadedUntil;
  }

  writeBehind(): void {
    // Not at once: the records ride along with the next sync's write if one comes within
    // writeBehindMs (at C=1 the client's next acquire does), so a release costs no synced write
    // of its own; otherwise they are written when the timer fires.
    if (this.writeBehindTimer !== undefined || this.flushing || this.closed || !this.hasPending()) return;
    this.writeBehindTimer = setTimeout(() => {
      this.writeBehindTimer = undefined;
      if (!this.flushing && !this.closed && this.hasPending()) this.flush();
    }, this.options.writeBehindMs);
    this.writeBehindTimer.unref();
  }

  /** Resolves once no compaction is running (a compaction starts after a write passes the threshold). */
  async compactionSettled(): Promise<void> {
    while (this.compaction !== undefined) await this.compaction;
  }

  /** Write and sync counters since open: batches written, bytes, failed writes, compactions. */
  stats(): Readonly<{ batches: number; bytes: number; writeErrors: number; compactions: number; inlineWrites: number; threadedWrites: number }> {
    return { ...this.counters };
  }

  async close(): Promise<void> {
    if (this.closed || this.fd < 0) return;
    // A sync answers once everything appended before it is written; a write already started for
    // later callers is waited for the same way, then the compaction, so nothing is cut off.
    await new Promise<void>((resolve) => this.sync(() => resolve()));
    while (this.flushing) await new Promise<void>((resolve) => this.sync(() => resolve()));
    await this.compaction;
    this.closed = true;
    clearTimeout(this.writeBehindTimer);
    if (!this.mustTruncate && this.retry === undefined) {
      // An empty BATCH record marks a clean close: a bad record before it is then corruption,
      // never mistaken for the torn tail of a crash.
      try {
        writeAllSync(this.fd, encodeBatchHeader(0), this.logBytes);
        this.logBytes += BATCH_HEADER_BYTES;
      } catch {
        /* a full disk: the log simply ends without the mark */
      }
    }
    if (this.fd >= 0) fs.closeSync(this.fd);
    this.fd = -1;
    this.dirLock?.release();
    this.dirLock = undefined;
  }

  /** Writes everything pending plus anything a failed write left, then fsyncs per policy. */
  private flush(): void {
    this.flushing = true;
    if (this.writeBehindTimer !== undefined) {
      clearTimeout(this.writeBehindTimer);
      this.writeBehindTimer = undefined;
    }
    const fresh = this.hasPending() ? this.takeBatch() : undefined;
    const bytes = this.retry && fresh ? Buffer.concat([this.retry, fresh]) : (this.retry ?? fresh);
    // always: every caller gets a write of its own, even when an earlier one already carried its bytes.
    const callbacks = this.options.fsync === 'always' ? this.waiting.splice(0, 1) : this.waiting.splice(0);
    this.retry = undefined;
    const finish = (error: Error | null) => {
      this.flushing = false;
      if (error !== null) {
        this.counters.writeErrors++;
        if (bytes !== undefined) {
          // A copy: the batch buffer is reused by the next batch.
          this.retry = Buffer.from(bytes);
          this.mustTruncate = true;
        }
        this.options.logger?.error('store write failed; calls that changed locks get UNAVAILABLE until it recovers', { error: error.message });
      } else if (bytes !== undefined) {
        this.logBytes += bytes.length;
        this.allocatedBytes = Math.max(this.allocatedBytes, this.logBytes);
        this.counters.batches++;
        this.counters.bytes += bytes.length;
      }
      if (error === null && this.compaction === undefined && this.logIsDue()) this.compact();
      // Start the next batch before answering this one, so the disk works while replies go out.
      if (this.waiting.length > 0 && !this.closed) this.flush();
      else this.writeBehind();
      for (const callback of callbacks) callback(error);
    };
    if (this.mustTruncate) {
      // Cut off whatever part of a failed batch reached the file, so the retry does not follow a
      // torn record (recovery would call that corruption in the middle). If even that fails, write
      // nothing: the batch fails and the next sync tries again.
      try {
        fs.ftruncateSync(this.fd, this.logBytes);
        this.allocatedBytes = this.logBytes;
        this.mustTruncate = false;
      } catch (error) {
        setImmediate(() => finish(error as Error));
        return;
      }
    }
    if (bytes === undefined) {
      if (this.options.fsync === 'always') fs.fdatasync(this.fd, finish);
      else finish(null);
      return;
    }
    // With O_DSYNC (always, batch) the write returns once the bytes are on disk: one syscall per
    // batch instead of a write and then an fdatasync.
    const write = this.writesInline() ? () => this.writeInline(bytes, finish) : () => this.writeThreaded(bytes, finish);
    const needed = this.logBytes + bytes.length;
    // After a failed preallocation (a nearly full disk) append without it for the next megabyte,
    // rather than fill and free the disk again on every batch.
    if (needed <= this.allocatedBytes || needed < this.noPreallocateBelow) write();
    else this.preallocate(needed, write);
  }

  private writeInline(bytes: Buffer, finish: (error: Error | null) => void): void {
    this.counters.inlineWrites++;
    const started = performance.now();
    let failure: Error | null = null;
    try {
      writeAllSync(this.fd, bytes, this.logBytes);
    } catch (error) {
      failure = error as Error;
    }
    const finished = performance.now();
    const took = finished - started;
    if (took > this.options.inlineSlowMs) {
      this.threadedUntil = finished + this.options.inlineBackoffMs;
      this.options.logger?.debug('slow synced write: writing on the thread pool for a while', { ms: Math.round(took) });
    }
    finish(failure);
  }

  private writeThreaded(bytes: Buffer, finish: (error: Error | null) => void): void {
    this.counters.threadedWrites++;
    writeAll(this.fd, bytes, this.logBytes, finish);
  }

  private hasPending(): boolean {
    return this.pending.pos > BATCH_HEADER_BYTES;
  }

  /**
   * The pending records behind the BATCH record that frames them, as a view of the batch buffer;
   * new changes go to the other buffer until this write is over (flush runs one write at a time).
   */
  private takeBatch(): Buffer {
    const batch = this.pending;
    writeBatchHeader(batch.buf, batch.pos - BATCH_HEADER_BYTES);
    this.pending = this.spare;
    this.pending.pos = BATCH_HEADER_BYTES;
    this.spare = batch;
    return batch.buf.subarray(0, batch.pos);
  }

  /**
   * Writes zeros from the end of the file to past `needed` (by PREALLOCATE_BYTES), then calls
   * `then`. On failure (a full disk) it gives the partial zeros back and calls `then` anyway: the
   * batch may still fit without the extra room, and if not, its own write reports the error.
   */
  private preallocate(needed: number, then: () => void): void {
    const from = this.allocatedBytes;
    const to = Math.ceil((needed + 1) / PREALLOCATE_BYTES) * PREALLOCATE_BYTES;
    const zeros = (at: number) => {
      if (at >= to) {
        this.allocatedBytes = to;
        then();
        return;
      }
      writeAll(this.fd, ZEROS.subarray(0, Math.min(PREALLOCATE_BYTES, to - at)), at, (error) => {
        if (error === null) return zeros(at + Math.min(PREALLOCATE_BYTES, to - at));
        try {
          fs.ftruncateSync(this.fd, Math.max(from, this.logBytes));
        } catch {
          /* the batch write's truncation after its own failure tries again */
        }
        this.allocatedBytes = Math.max(from, this.logBytes);
        this.noPreallocateBelow = to;
        then();
      });
    };
    zeros(from);
  }

  /**
   * Starts a new log and writes a snapshot of the live leases covering the old ones, then deletes
   * them. Recovery reads the snapshot and then the new log, whose changes replay idempotently
   * over whatever state of each lease the snapshot caught.
   */
  private compact(): void {
    const dir = this.options.dataDir;
    const coveredSeq = this.seq;
    let newFd: number;
    try {
      newFd = fs.openSync(path.join(dir, logName(coveredSeq + 1)), this.openFlags(), 0o600);
      // The new log's name must be durable before any acknowledged write lands in it.
      fsyncDir(dir);
    } catch (error) {
      this.options.logger?.error('cannot start a new log; compaction will try again', { error: (error as Error).message });
      return;
    }
    this.seq = coveredSeq + 1;
    fs.closeSync(this.fd);
    this.fd = newFd;
    this.logBytes = 0;
    this.allocatedBytes = 0;
    this.noPreallocateBelow = 0;
    this.compaction = this.writeSnapshot(coveredSeq)
      .then((bytes) => {
        this.snapshotBytes = bytes;
        // The covered logs (and a format 1 snapshot) are gone: no raw token is left on disk.
        this.formatOneOnDisk = false;
        this.counters.compactions++;
      })
      .catch((error: Error) => {
        this.options.logger?.error('snapshot failed; the logs are kept and compaction will try again', { error: error.message });
      })
      .finally(() => {
        this.compaction = undefined;
      });
  }

  /**
   * Writes a snapshot of the source's leases covering logs up to `coveredSeq` (to snapshot.tmp,
   * fdatasync, rename, fsync the directory), deletes those logs, and returns its size. Encoded a
   * chunk per event-loop turn so a million leases do not stall every client for a second, and
   * written a chunk at a time so memory stays bounded however large the snapshot. Leases changing
   * meanwhile are fine: every change since the switch is in the new log, and replaying it over
   * the snapshot is idempotent (grant and update set, free deletes).
   */
  private async writeSnapshot(coveredSeq: number): Promise<number> {
    const dir = this.options.dataDir;
    const source = this.source!;
    const temp = path.join(dir, `${SNAPSHOT}.tmp`);
    const out = new OutputBuffer(SNAPSHOT_WRITE_BYTES + 64 * 1024);
    out.ensure(SNAPSHOT_HEADER_BYTES);
    SNAPSHOT_MAGIC.copy(out.buf, 0);
    out.buf.writeDoubleLE(coveredSeq, SNAPSHOT_MAGIC.length);
    out.pos = SNAPSHOT_HEADER_BYTES;
    encodeChange(out, { kind: 'fence-reserve', ceiling: source.reservedFenceCeiling });
    const leases = source.durableLeases()[Symbol.iterator]();
    const handle = await fsp.open(temp, 'w', 0o600);
    let written = 0;
    try {
      for (let done = false; !done; ) {
        for (let i = 0; i < SNAPSHOT_CHUNK && out.pos < SNAPSHOT_WRITE_BYTES; i++) {
          const next = leases.next();
          if (next.done) {
            encodeChange(out, { kind: 'fence-reserve', ceiling: source.reservedFenceCeiling });
            done = true;
            break;
          }
          encodeChange(out, { kind: 'grant', lease: next.value });
        }
        // The write goes to the thread pool, and the next chunk is encoded in a later turn.
        for (let at = 0; at < out.pos; ) at += (await handle.write(out.buf, at, out.pos - at, written + at)).bytesWritten;
        written += out.pos;
        out.pos = 0;
        if (!done) await new Promise<void>((resolve) => setImmediate(resolve));
      }
      await handle.datasync();
    } finally {
      await handle.close();
    }
    await fsp.rename(temp, path.join(dir, SNAPSHOT));
    fsyncDir(dir);
    for (const name of await fsp.readdir(dir)) {
      const match = LOG_PATTERN.exec(name);
      if (match && Number(match[1]) <= coveredSeq) await fsp.rm(path.join(dir, name), { force: true });
    }
    return written;
  }
  /**
   * Positional writes (not O_APPEND: the file has zeros ahead of the records); unless fsync is
   * off, O_DSYNC so each write is durable when it returns.
   */
  private openFlags(): number {
    const { O_CREAT, O_WRONLY, O_DSYNC } = fs.constants;
    return O_CREAT | O_WRONLY | (this.options.fsync === 'off' ? 0 : O_DSYNC);
  }

}

function newBatchBuffer(): OutputBuffer {
  const buffer = new OutputBuffer(64 * 1024);
  buffer.pos = BATCH_HEADER_BYTES;
  return buffer;
}

function fsyncDir(dir: string): void {
  const fd = fs.openSync(dir, 'r');
  try {
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

/** fs.write at `position` until every byte is written (a short write is not an error). */
function writeAll(fd: number, bytes: Buffer, position: number, done: (error: Error | null) => void): void {
  fs.write(fd, bytes, 0, bytes.length, position, (error, written) => {
    if (error) return done(error);
    if (written < bytes.length) return writeAll(fd, bytes.subarray(written), position + written, done);
    done(null);
  });
}

function writeAllSync(fd: number, bytes: Buffer, position: number): void {
  for (let done = 0; done < bytes.length; ) done += fs.writeSync(fd, bytes, done, bytes.length - done, position + done);
}

/**
 * Node's recursive mkdir reports ENOENT when the parent exists but cannot take a new entry (a
 * read-only filesystem, no permission): one plain mkdir then says what is really wrong.
 */
function realMkdirError(dir: string, error: NodeJS.ErrnoException): NodeJS.ErrnoException {
  if (error.code !== 'ENOENT' || !fs.existsSync(path.dirname(dir))) return error;
  try {
    fs.mkdirSync(dir, { mode: 0o700 });
    return error;
  } catch (plain) {
    return plain as NodeJS.ErrnoException;
  }
}
