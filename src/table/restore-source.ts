/**
 * How leases reach a table at a restart as bytes, so a million of them build no object, key
 * string or hex digest each: a store replays its records into a LeaseReplaySink (LockTable.replay),
 * and LockTable.restore reads StoredLease objects (a cluster replay) through a LeaseCursor that
 * encodes each into scratch bytes; both copy key and digest bytes straight into the table's slots.
 */
import { decodeHex, DIGEST_BYTES } from './token-digest';
import type { LockMode, StoredLease } from './types';

/**
 * One lease at a time, read in place. The fields describe the current lease and are valid until
 * the next call of next(); `bytes` may change between leases.
 */
export interface LeaseCursor {
  /** Holds the current lease's key (UTF-8) at keyAt and its token digest (DIGEST_BYTES) at digestAt. */
  readonly bytes: Uint8Array;
  readonly keyAt: number;
  readonly keyLength: number;
  readonly digestAt: number;
  readonly fence: number;
  readonly mode: LockMode;
  readonly owner: string | undefined;
  readonly holdCount: number;
  readonly ttlMs: number;
  readonly expiresAtMs: number;
  /** Moves to the next lease (the first, on the first call); false once there is none. */
  next(): boolean;
}

/** Keys are validated to at most 1024 bytes; a StoredLease's key string is at most 3 bytes a UTF-16 unit. */
const SCRATCH_BYTES = 4096 + DIGEST_BYTES;

/** A LeaseCursor over StoredLease objects: each key encoded and digest decoded into one scratch buffer. */
export class ObjectLeaseCursor implements LeaseCursor {
  readonly bytes = Buffer.alloc(SCRATCH_BYTES);
  readonly keyAt = 0;
  keyLength = 0;
  digestAt = 0;
  fence = 0;
  mode = 0 as LockMode;
  owner: string | undefined = undefined;
  holdCount = 0;
  ttlMs = 0;
  expiresAtMs = 0;
  private readonly leases: Iterator<StoredLease>;

  constructor(leases: Iterable<StoredLease>) {
    this.leases = leases[Symbol.iterator]();
  }

  next(): boolean {
    const step = this.leases.next();
    if (step.done === true) return false;
    const lease = step.value;
    this.keyLength = this.bytes.write(lease.key, 0, SCRATCH_BYTES - DIGEST_BYTES, 'utf8');
    this.digestAt = this.keyLength;
    if (!decodeHex(lease.digest, this.bytes, this.digestAt, DIGEST_BYTES)) {
      // Not 32 hex digits (no store writes such a digest): kept as Buffer#write decodes it, as
      // restore always did, so the lease stays and no presented token can match it.
      this.bytes.fill(0, this.digestAt, this.digestAt + DIGEST_BYTES);
      this.bytes.write(lease.digest, this.digestAt, DIGEST_BYTES, 'hex');
    }
    this.fence = lease.fence;
    this.mode = lease.mode;
    this.owner = lease.owner;
    this.holdCount = lease.holdCount;
    this.ttlMs = lease.ttlMs;
    this.expiresAtMs = lease.expiresAtMs;
    return true;
  }
}

/**
 * A store's records applied straight to a table as they are read (LockTable.replay), so a
 * restart builds no image of the leases first. Keys and digests are given as bytes[at, at +
 * length), valid only during the call. Records must come in the order they were written.
 */
export interface LeaseReplaySink {
  /** A GRANT record: the lease with this key and digest, replacing any the table replayed before. */
  grant(bytes: Uint8Array, keyAt: number, keyLength: number, digestAt: number, fence: number, mode: LockMode, owner: string | undefined, holdCount: number, ttlMs: number, expiresAtMs: number): void;
  /** An UPDATE record: the lease's new terms (nothing, when no such lease was replayed). */
  update(bytes: Uint8Array, keyAt: number, keyLength: number, digestAt: number, holdCount: number, ttlMs: number, expiresAtMs: number): void;
  /** A FREE record: the lease is gone (nothing, when no such lease was replayed). */
  free(bytes: Uint8Array, keyAt: number, keyLength: number, digestAt: number): void;
  /** Leases replayed so far and not freed (expired ones included, until finish). */
  readonly leaseCount: number;
}
