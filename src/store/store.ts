/**
 * Where the lock table's durable state goes. The backend appends every TableChange in the order
 * the table made it, then asks for `sync`; replies to the calls that made those changes are sent
 * only when `sync` calls back, so a grant is acknowledged only once it is durable.
 */
import type { LeaseReplaySink } from '../table/restore-source';
import type { StoredLease, TableChange } from '../table/types';

/** What a store hands back at startup. */
export interface RecoveredState {
  /**
   * Live (not ephemeral) leases as last recorded; the table drops those already expired. A
   * FileStore decodes each lease as it is reached, on every iteration (see LeaseImage). Empty
   * when `replayed`.
   */
  readonly leases: Iterable<StoredLease>;
  /**
   * True when the leases went into the LeaseReplaySink given to `open` (then `leases` is empty and
   * the sink's owner finishes the replay with `fenceCeiling`).
   */
  readonly replayed?: boolean;
  /** Highest fence reservation ever recorded (0 for a new store). */
  readonly fenceCeiling: number;
  /** One line for the startup log: what was read and what, if anything, was dropped. */
  readonly summary: string;
  /** Wall-clock time of the last write to the state (Unix ms), when the store knows it. */
  readonly lastWrittenAtMs?: number;
}

/**
 * What a store reads to write a snapshot: the lock table, seen through the two things a snapshot
 * records. The table passes itself to `open`; the store never reaches further into it.
 */
export interface SnapshotSource {
  /**
   * Every live durable lease. Iterated over several event-loop turns while the table keeps
   * changing: each lease must be seen as it is when reached (changes made meanwhile are in the log).
   */
  durableLeases(): Iterable<StoredLease>;
  /** The highest fence the table may have issued or reserved. */
  readonly reservedFenceCeiling: number;
}

export interface LeaseStore {
  /**
   * Opens (creating if needed) and reads the state. Throws StoreError when it cannot be trusted.
   * `source` is what snapshots are written from from then on. A store that can replays its
   * records straight into `into` (a lock table, LockTable.replay) and says so (`replayed`);
   * otherwise it hands the leases back. A failed open may have replayed some records.
   */
  open(source: SnapshotSource, into?: LeaseReplaySink): Promise<RecoveredState>;
  /** Queues one change; it is durable after the next sync completes. Never throws for I/O. */
  append(change: TableChange): void;
  /**
   * Calls `done` once every change appended before this call is durable per the fsync policy,
   * or with an error when writing failed (the changes are then not durable). Many calls made in
   * one turn of the event loop share one write and one fsync (group commit).
   */
  sync(done: (error: Error | null) => void): void;
  /**
   * Has what is queued written soon, with no one waiting for it: for changes a crash may lose
   * (releases, expiries), which then ride along with the next write instead of starting one.
   */
  writeBehind(): void;
  /** Flushes what is queued, releases the directory lock, closes files. */
  close(): Promise<void>;
}

/** A store that keeps nothing: --in-memory. `sync` answers at once. */
export class MemoryStore implements LeaseStore {
  async open(_source: SnapshotSource): Promise<RecoveredState> {
    return { leases: [], fenceCeiling: 0, summary: 'in-memory: nothing is kept across restarts' };
  }
  append(_change: TableChange): void {}
  sync(done: (error: Error | null) => void): void {
    done(null);
  }
  writeBehind(): void {}
  async close(): Promise<void> {}
}

/** A snapshot source with nothing in it: for tools that write a store without a lock table. */
export const EMPTY_SNAPSHOT_SOURCE: SnapshotSource = Object.freeze({ durableLeases: () => [], reservedFenceCeiling: 0 });
