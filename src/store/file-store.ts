/**
 * lockd's durable store: an append-only log of TableChanges with periodic snapshots, in one
 * directory that one lockd owns.
 *
 *   LOCK            pid of the owning lockd (a second one refuses to start)
 *   snapshot        every live lease and the fence ceiling, covering logs up to its sequence
 *   wal-<seq>.log   changes after that, framed and checksummed (src/store/records.ts)
 *
 * Group commit: changes are encoded as they happen; a sync() with no write running starts one for
 * everything appended so far, and every sync() made while it runs shares the next write.
 */
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import type winston from 'winston';
import { StoreError } from '../errors';
import type { FsyncPolicy } from '../options';
import { OutputBuffer } from '../protocol/output-buffer';
import type { TableChange } from '../table/types';
import { encodeChange, LeaseImage, readRecords } from './records';
import type { LeaseStore, LiveLeases, RecoveredState } from './store';

export interface FileStoreOptions {
  /** The directory; created with mode 0700. */
  dataDir: string;
  /** always: one fsync per sync() call; batch: group commit (default); off: write only. */
  fsync: FsyncPolicy;
  /** Start from the last good record when a log is corrupt in the middle, instead of refusing. */
  forceRecovery: boolean;
  /** Every live durable lease, read when a snapshot is written. */
  liveLeases: LiveLeases;
  /** The fence ceiling a snapshot records. */
  fenceCeiling: () => number;
  logger?: winston.Logger;
  /** Compact once the current log exceeds this and twice the last snapshot. Default 64 MiB. */
  compactAfterBytes?: number;
}

const SNAPSHOT = 'snapshot';
const SNAPSHOT_MAGIC = Buffer.from('LOCKDSNP1\n');
const LOG_PATTERN = /^wal-(\d{12})\.log$/;
const DEFAULT_COMPACT_AFTER_BYTES = 64 * 1024 * 1024;
/** Leases encoded per event-loop turn while writing a snapshot (~25 ms of work). */
const SNAPSHOT_CHUNK = 20_000;

const logName = (seq: number) => `wal-${String(seq).padStart(12, '0')}.log`;

export class FileStore implements LeaseStore {
  private fd = -1;
  private seq = 0;
  /** Bytes of the current log known to be written. */
  private logBytes = 0;
  private snapshotBytes = 0;
  private pending = new OutputBuffer(64 * 1024);
  /** Bytes whose write failed; written again, first, by the next flush. */
  private retry: Buffer | undefined;
  private waiting: Array<(error: Error | null) => void> = [];
  private flushing = false;
  private compacting = false;
  private closed = false;
  private readonly lockPath: string;
  private readonly compactAfterBytes: number;

  constructor(private readonly options: FileStoreOptions) {
    this.lockPath = path.join(options.dataDir, 'LOCK');
    this.compactAfterBytes = options.compactAfterBytes ?? DEFAULT_COMPACT_AFTER_BYTES;
  }

  async open(): Promise<RecoveredState> {
    const dir = this.options.dataDir;
    try {
      fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    } catch (error) {
      throw new StoreError(`cannot create data dir ${dir}: ${(error as Error).message}`, { cause: error });
    }
    this.takeDirectoryLock();
    const image = new LeaseImage();
    const notes: string[] = [];
    let coveredSeq = 0;
    const snapshotPath = path.join(dir, SNAPSHOT);
    if (fs.existsSync(snapshotPath)) {
      const bytes = fs.readFileSync(snapshotPath);
      if (!bytes.subarray(0, SNAPSHOT_MAGIC.length).equals(SNAPSHOT_MAGIC) || bytes.length < SNAPSHOT_MAGIC.length + 8) {
        throw new StoreError(`${snapshotPath} is not a lockd snapshot`);
      }
      coveredSeq = bytes.readDoubleLE(SNAPSHOT_MAGIC.length);
      const result = readRecords(bytes, SNAPSHOT_MAGIC.length + 8, (change) => image.apply(change));
      if (result.bad) throw new StoreError(`${snapshotPath} is corrupt at byte ${result.bad.offset}: ${result.bad.reason}`);
      this.snapshotBytes = bytes.length;
    }
    const logs = fs
      .readdirSync(dir)
      .map((name) => LOG_PATTERN.exec(name))
      .filter((m): m is RegExpExecArray => m !== null)
      .map((m) => Number(m[1]))
      .filter((seq) => seq > coveredSeq)
      .sort((a, b) => a - b);
    for (const [index, seq] of logs.entries()) {
      const file = path.join(dir, logName(seq));
      const bytes = fs.readFileSync(file);
      const result = readRecords(bytes, 0, (change) => image.apply(change));
      if (result.bad) {
        const last = index === logs.length - 1;
        const where = `${file} at byte ${result.bad.offset} (${result.bad.reason})`;
        if (!(last && result.bad.tornTail) && !this.options.forceRecovery) {
          throw new StoreError(`log corrupt in the middle: ${where}; nothing after it was read. Restore a backup, or start with --force-recovery to keep only the records before it`);
        }
        fs.truncateSync(file, result.goodEnd);
        notes.push(`${last && result.bad.tornTail ? 'dropped the torn tail of' : 'FORCED RECOVERY: dropped everything from'} ${where}, ${bytes.length - result.goodEnd} bytes`);
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
    this.logBytes = fs.fstatSync(this.fd).size;
    fsyncDir(dir);
    const summary = [`${dir}: ${image.count} leases, fence ceiling ${image.fenceCeiling}, ${logs.length} log file(s)`, ...notes].join('; ');
    return { leases: [...image.all()], fenceCeiling: image.fenceCeiling, summary };
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
    // A write starts as soon as one is asked for and none is running; everything asked for while
    // it runs shares the next one (group commit without a timer: an idle disk is never kept waiting).
    if (!this.flushing) this.flush();
  }

  async close(): Promise<void> {
    await new Promise<void>((resolve) => this.sync(() => resolve()));
    while (this.flushing || this.compacting) await new Promise((resolve) => setTimeout(resolve, 5));
    this.closed = true;
    if (this.fd >= 0) fs.closeSync(this.fd);
    this.fd = -1;
    fs.rmSync(this.lockPath, { force: true });
  }

  /** Writes everything pending plus anything a failed write left, then fsyncs per policy. */
  private flush(): void {
    this.flushing = true;
    const fresh = this.pending.pos > 0 ? this.pending.take() : undefined;
    const bytes = this.retry && fresh ? Buffer.concat([this.retry, fresh]) : (this.retry ?? fresh);
    // always: every caller gets a write of its own, even when an earlier one already carried its bytes.
    const callbacks = this.options.fsync === 'always' ? this.waiting.splice(0, 1) : this.waiting.splice(0);
    this.retry = undefined;
    const finish = (error: Error | null) => {
      this.flushing = false;
      if (error !== null && bytes !== undefined) {
        this.retry = bytes;
        this.options.logger?.error('store write failed; calls that changed locks get UNAVAILABLE until it recovers', { error: error.message });
        // Cut off whatever part of the batch did reach the file, so the retry does not follow a torn record.
        try {
          fs.ftruncateSync(this.fd, this.logBytes);
        } catch {
          /* the next flush tries again */
        }
      } else if (bytes !== undefined) {
        this.logBytes += bytes.length;
      }
      if (error === null && !this.compacting && this.logBytes > Math.max(this.compactAfterBytes, 2 * this.snapshotBytes)) this.compact();
      // Start the next batch before answering this one, so the disk works while replies go out.
      if (this.waiting.length > 0 && !this.closed) this.flush();
      for (const callback of callbacks) callback(error);
    };
    if (bytes === undefined) {
      if (this.options.fsync === 'always') fs.fdatasync(this.fd, finish);
      else finish(null);
      return;
    }
    // With O_DSYNC (always, batch) the write returns once the bytes are on disk: one syscall
    // and one thread-pool round trip per batch instead of a write and then an fdatasync.
    writeAll(this.fd, bytes, finish);
  }

  /**
   * Starts a new log and writes a snapshot of the live leases covering the old ones, then deletes
   * them. Recovery reads the snapshot and then the new log, whose changes replay idempotently
   * over whatever state of each lease the snapshot caught.
   */
  private compact(): void {
    this.compacting = true;
    const dir = this.options.dataDir;
    const coveredSeq = this.seq;
    this.seq += 1;
    const oldFd = this.fd;
    this.fd = fs.openSync(path.join(dir, logName(this.seq)), this.openFlags(), 0o600);
    this.logBytes = 0;
    fs.closeSync(oldFd);
    const out = new OutputBuffer(1024 * 1024);
    out.ensure(SNAPSHOT_MAGIC.length + 8);
    SNAPSHOT_MAGIC.copy(out.buf, 0);
    out.buf.writeDoubleLE(coveredSeq, SNAPSHOT_MAGIC.length);
    out.pos = SNAPSHOT_MAGIC.length + 8;
    encodeChange(out, { kind: 'fence-reserve', ceiling: this.options.fenceCeiling() });
    // Encoded a chunk per event-loop turn so a million leases do not stall every client for a
    // second. Leases changing meanwhile are fine: every change since the switch is in the new
    // log, and replaying it over the snapshot is idempotent (grant and update set, free deletes).
    const leases = this.options.liveLeases()[Symbol.iterator]();
    const encodeSome = (): boolean => {
      for (let i = 0; i < SNAPSHOT_CHUNK; i++) {
        const next = leases.next();
        if (next.done) {
          encodeChange(out, { kind: 'fence-reserve', ceiling: this.options.fenceCeiling() });
          return true;
        }
        encodeChange(out, { kind: 'grant', lease: next.value });
      }
      return false;
    };
    const encoded = new Promise<void>((resolve) => {
      const step = () => (encodeSome() ? resolve() : setImmediate(step));
      step();
    });
    const temp = path.join(dir, `${SNAPSHOT}.tmp`);
    const write = async () => {
      await encoded;
      const snapshot = out.take();
      const handle = await fsp.open(temp, 'w', 0o600);
      try {
        await handle.writeFile(snapshot);
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
      this.snapshotBytes = snapshot.length;
    };
    write()
      .catch((error: Error) => this.options.logger?.error('snapshot failed; the logs are kept and compaction will try again', { error: error.message }))
      .finally(() => {
        this.compacting = false;
      });
  }

  /** Append; and unless fsync is off, O_DSYNC so each write is durable when it returns. */
  private openFlags(): number {
    const { O_APPEND, O_CREAT, O_WRONLY, O_DSYNC } = fs.constants;
    return O_APPEND | O_CREAT | O_WRONLY | (this.options.fsync === 'off' ? 0 : O_DSYNC);
  }

  /** One lockd per directory: LOCK holds the owner's pid; a live owner other than us refuses. */
  private takeDirectoryLock(): void {
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        fs.writeFileSync(this.lockPath, `${process.pid}\n`, { flag: 'wx', mode: 0o600 });
        return;
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST') {
          throw new StoreError(`cannot lock data dir ${this.options.dataDir}: ${(error as Error).message}`, { cause: error });
        }
      }
      const owner = Number(fs.readFileSync(this.lockPath, 'utf8').trim());
      if (Number.isInteger(owner) && owner > 0 && owner !== process.pid && isAlive(owner)) {
        throw new StoreError(`data dir ${this.options.dataDir} is in use by another lockd (pid ${owner}); stop it or choose another --data-dir`);
      }
      // A stale lock from a lockd that died: take it over.
      fs.rmSync(this.lockPath, { force: true });
    }
    throw new StoreError(`cannot lock data dir ${this.options.dataDir}: another lockd keeps taking it`);
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function fsyncDir(dir: string): void {
  const fd = fs.openSync(dir, 'r');
  try {
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

/** fs.write until every byte is written (a short write is not an error). */
function writeAll(fd: number, bytes: Buffer, done: (error: Error | null) => void): void {
  fs.write(fd, bytes, 0, bytes.length, null, (error, written) => {
    if (error) return done(error);
    if (written < bytes.length) return writeAll(fd, bytes.subarray(written), done);
    done(null);
  });
}
