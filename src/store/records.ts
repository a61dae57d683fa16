/**
 * The on-disk record format shared by the log and snapshots:
 *   [u32 payload length][u32 CRC-32 of payload][payload]
 * payload = u8 kind, then the kind's fields (strings as u16 length + UTF-8, token digests as 16 bytes).
 *
 * Format versions (FORMAT_VERSION): 1 wrote lease tokens raw in GRANT_V1/UPDATE_V1/FREE_V1 (kinds
 * 1-3); 2 writes token digests (token-digest.ts) in GRANT/UPDATE/FREE (kinds 6-8), same layout.
 * The kind is the version of each record, so a log begun by version 1 and continued by version 2
 * reads back. Version 1 records are still read: their tokens are hashed as they are decoded (a
 * one-way upgrade; the store rewrites such a directory with its next snapshot).
 *
 * In the log every write (a group-commit batch) starts with a BATCH record giving the byte length
 * of the records that follow it. That is what tells a torn tail from corruption: batch N+1 is
 * only written once batch N's write returned (durable, with O_DSYNC), so a valid BATCH record
 * after a bad record proves the bad bytes were once acknowledged: corruption. No BATCH record
 * after it means the bad bytes belong to the last write, which may have been cut by a crash
 * (a power loss can keep any subset of its pages): a torn tail, dropped.
 */
import { crc32 } from 'node:zlib';
import { OutputBuffer } from '../util/output-buffer';
import { digestOfBytes } from '../table/token-digest';
import { LockMode, type StoredLease, type TableChange } from '../table/types';

/** The data dir format this build writes (see the top of this file). */
export const FORMAT_VERSION = 2;

export const RecordKind = {
  /** Format 1 (read only): the same fields as GRANT, UPDATE, FREE with the raw token in place of its digest. */
  GRANT_V1: 1,
  UPDATE_V1: 2,
  FREE_V1: 3,
  FENCE_RESERVE: 4,
  BATCH: 5,
  GRANT: 6,
  UPDATE: 7,
  FREE: 8,
} as const;
/** Record header: u32 payload length, u32 CRC-32. */
export const HEADER_BYTES = 8;
/** Payload of a BATCH record: kind, u32 byte length of the batch's records. */
export const BATCH_PAYLOAD_BYTES = 5;
/** Size of a BATCH record on disk. */
export const BATCH_HEADER_BYTES = HEADER_BYTES + BATCH_PAYLOAD_BYTES;
/** A token digest (and a format 1 raw token): 16 bytes. */
const DIGEST_BYTES = 16;
const NO_OWNER = 0xffff;

/**
 * Upper bound of a record's size besides its key and owner: header, kind, two u16 string lengths,
 * digest, the fixed fields.
 */
const FIXED_RECORD_BYTES = HEADER_BYTES + 64;

/** Writes `s` as u16 byte length + UTF-8 at `at`; returns the offset after it. */
function writeString(buf: Buffer, at: number, s: string): number {
  const length = buf.write(s, at + 2, 'utf8');
  buf.writeUInt16LE(length, at);
  return at + 2 + length;
}

/**
 * Makes room for a record about `key` (plus `moreChars` UTF-16 units of other strings), writes its
 * kind, key and token digest after the header space, and returns the offset after them. Keys and owners
 * are bounded (1 KiB, 256 B) but may be multi-byte: 3 bytes per UTF-16 unit at most.
 */
function beginKeyedRecord(out: OutputBuffer, kind: number, key: string, digest: string, moreChars: number): number {
  out.ensure(FIXED_RECORD_BYTES + 3 * (key.length + moreChars));
  let at = out.pos + HEADER_BYTES;
  out.buf[at++] = kind;
  at = writeString(out.buf, at, key);
  out.buf.write(digest, at, DIGEST_BYTES, 'hex');
  return at + DIGEST_BYTES;
}

/** Writes a lease's holdCount, ttlMs, expiresAtMs at `at`; returns the offset after them. */
function writeTerms(buf: Buffer, at: number, holdCount: number, ttlMs: number, expiresAtMs: number): number {
  buf.writeUInt32LE(holdCount >>> 0, at);
  buf.writeUInt32LE(ttlMs >>> 0, at + 4);
  buf.writeDoubleLE(expiresAtMs, at + 8);
  return at + 16;
}

/**
 * Appends one change as a framed record. Written field by field into the buffer (no closures, no
 * intermediate objects): it runs once per change on the durable path.
 */
export function encodeChange(out: OutputBuffer, change: TableChange): void {
  const start = out.pos;
  switch (change.kind) {
    case 'grant': {
      const l = change.lease;
      let at = beginKeyedRecord(out, RecordKind.GRANT, l.key, l.digest, l.owner?.length ?? 0);
      const buf = out.buf;
      buf.writeDoubleLE(l.fence, at);
      buf[at + 8] = l.mode;
      at += 9;
      if (l.owner === undefined) {
        buf.writeUInt16LE(NO_OWNER, at);
        at += 2;
      } else {
        at = writeString(buf, at, l.owner);
      }
      finishRecord(out, start, writeTerms(buf, at, l.holdCount, l.ttlMs, l.expiresAtMs));
      return;
    }
    case 'update': {
      const at = beginKeyedRecord(out, RecordKind.UPDATE, change.key, change.digest, 0);
      finishRecord(out, start, writeTerms(out.buf, at, change.holdCount, change.ttlMs, change.expiresAtMs));
      return;
    }
    case 'free':
      finishRecord(out, start, beginKeyedRecord(out, RecordKind.FREE, change.key, change.digest, 0));
      return;
    case 'fence-reserve':
      out.ensure(FIXED_RECORD_BYTES);
      out.buf[start + HEADER_BYTES] = RecordKind.FENCE_RESERVE;
      out.buf.writeDoubleLE(change.ceiling, start + HEADER_BYTES + 1);
      finishRecord(out, start, start + HEADER_BYTES + 9);
      return;
  }
}

/** Fills in the header of the record from `start` to `end` and moves the buffer past it. */
function finishRecord(out: OutputBuffer, start: number, end: number): void {
  const buf = out.buf;
  buf.writeUInt32LE(end - start - HEADER_BYTES, start);
  buf.writeUInt32LE(crc32(buf.subarray(start + HEADER_BYTES, end)), start + 4);
  out.pos = end;
}

/** A BATCH record announcing `recordBytes` bytes of records after it (0: a clean-close mark). */
export function encodeBatchHeader(recordBytes: number): Buffer {
  const buf = Buffer.allocUnsafe(BATCH_HEADER_BYTES);
  writeBatchHeader(buf, recordBytes);
  return buf;
}

/** Writes the BATCH record for `recordBytes` bytes of records into the first BATCH_HEADER_BYTES of `buf`. */
export function writeBatchHeader(buf: Buffer, recordBytes: number): void {
  buf.writeUInt32LE(BATCH_PAYLOAD_BYTES, 0);
  buf[HEADER_BYTES] = RecordKind.BATCH;
  buf.writeUInt32LE(recordBytes, HEADER_BYTES + 1);
  buf.writeUInt32LE(crc32(buf.subarray(HEADER_BYTES, BATCH_HEADER_BYTES)), 4);
}

/** A lease as the image keeps it: updated in place as later records arrive. */
type ImageLease = { -readonly [K in keyof StoredLease]: StoredLease[K] };

/** Slot states of LeaseImage's index besides a lease's position. */
const EMPTY_SLOT = -1;
const DELETED_SLOT = -2;

/**
 * Live leases rebuilt by applying records in order, found by token digest (128 bits name one
 * lease; the key is compared too). The index is open addressing over an Int32Array of positions
 * in a plain array of leases, not a Map of strings: recovery applies a record per lease and more,
 * and a Map's string hashing and growth were the largest cost of a restart (a third of its CPU
 * time at 1,000,000 leases). Records decoded for the image are its own, so updates change them
 * in place: replaying millions of renewals allocates nothing per renewal.
 */
export class LeaseImage {
  private readonly leases: Array<ImageLease | undefined> = [];
  /** Position in `leases` per slot, or EMPTY_SLOT / DELETED_SLOT. Power-of-two size. */
  private index = new Int32Array(1024).fill(EMPTY_SLOT);
  /** Slots not EMPTY (live or deleted): the index grows when they pass half of it. */
  private usedSlots = 0;
  fenceCeiling = 0;
  count = 0;

  /** Applies one change. A grant's lease object is kept (and later updated): pass one nobody else holds. */
  apply(change: TableChange): void {
    switch (change.kind) {
      case 'grant': {
        const lease = change.lease as ImageLease;
        if (lease.fence > this.fenceCeiling) this.fenceCeiling = lease.fence;
        const slot = this.find(lease.key, lease.digest);
        if (slot >= 0) {
          // A grant replayed over a snapshot that already holds it: the record is the newer state.
          this.leases[this.index[slot]] = lease;
          return;
        }
        this.insert(lease);
        return;
      }
      case 'update': {
        const slot = this.find(change.key, change.digest);
        if (slot < 0) return;
        const lease = this.leases[this.index[slot]]!;
        lease.holdCount = change.holdCount;
        lease.ttlMs = change.ttlMs;
        lease.expiresAtMs = change.expiresAtMs;
        return;
      }
      case 'free': {
        const slot = this.find(change.key, change.digest);
        if (slot < 0) return;
        this.leases[this.index[slot]] = undefined;
        this.index[slot] = DELETED_SLOT;
        this.count--;
        return;
      }
      case 'fence-reserve':
        if (change.ceiling > this.fenceCeiling) this.fenceCeiling = change.ceiling;
        return;
    }
  }

  *all(): IterableIterator<StoredLease> {
    for (const lease of this.leases) if (lease !== undefined) yield lease;
  }

  /** The slot of the lease with this key and token digest, or -1. */
  private find(key: string, digest: string): number {
    const mask = this.index.length - 1;
    for (let slot = digestHash(digest) & mask; ; slot = (slot + 1) & mask) {
      const at = this.index[slot];
      if (at === EMPTY_SLOT) return -1;
      if (at === DELETED_SLOT) continue;
      const lease = this.leases[at]!;
      if (lease.digest === digest && lease.key === key) return slot;
    }
  }

  private insert(lease: ImageLease): void {
    if (2 * (this.usedSlots + 1) > this.index.length) this.rebuildIndex();
    this.leases.push(lease);
    this.place(digestHash(lease.digest), this.leases.length - 1);
    this.usedSlots++;
    this.count++;
  }

  private place(hash: number, at: number): void {
    const mask = this.index.length - 1;
    let slot = hash & mask;
    while (this.index[slot] !== EMPTY_SLOT) slot = (slot + 1) & mask;
    this.index[slot] = at;
  }

  /** Drops deleted leases and slots, and doubles the index when live leases fill a quarter of it. */
  private rebuildIndex(): void {
    let live = 0;
    for (let i = 0; i < this.leases.length; i++) {
      const lease = this.leases[i];
      if (lease !== undefined) this.leases[live++] = lease;
    }
    this.leases.length = live;
    let size = this.index.length;
    while (4 * (live + 1) > size) size *= 2;
    this.index = new Int32Array(size).fill(EMPTY_SLOT);
    for (let i = 0; i < live; i++) this.place(digestHash(this.leases[i]!.digest), i);
    this.usedSlots = live;
  }
}

/** FNV-1a over a digest's hex characters. */
function digestHash(digest: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < digest.length; i++) hash = Math.imul(hash ^ digest.charCodeAt(i), 0x01000193);
  return hash >>> 0;
}

/** Whether a record of this kind holds a raw token (format 1). */
export function isFormatOneKind(kind: number): boolean {
  return kind === RecordKind.GRANT_V1 || kind === RecordKind.UPDATE_V1 || kind === RecordKind.FREE_V1;
}

/** Whether a valid BATCH record starts at `at` in `bytes`. */
export function isBatchHeaderAt(bytes: Buffer, at: number): boolean {
  return (
    at + BATCH_HEADER_BYTES <= bytes.length &&
    bytes.readUInt32LE(at) === BATCH_PAYLOAD_BYTES &&
    bytes[at + HEADER_BYTES] === RecordKind.BATCH &&
    crc32(bytes.subarray(at + HEADER_BYTES, at + BATCH_HEADER_BYTES)) === bytes.readUInt32LE(at + 4)
  );
}

/** Thrown by decodePayload for a checksummed payload that still does not parse. */
class PayloadError extends Error {}

/**
 * One record's change, or null for a BATCH record (framing only). `p` is the payload, from
 * `start` to `end` of `bytes` (no subarray per record: recovery decodes millions of them).
 */
export function decodePayload(bytes: Buffer, start: number, end: number): TableChange | null {
  let pos = start + 1;
  const need = (n: number) => {
    if (pos + n > end) throw new PayloadError('payload too short');
  };
  const str = (): string => {
    need(2);
    const length = bytes.readUInt16LE(pos);
    pos += 2;
    need(length);
    pos += length;
    return bytes.toString('utf8', pos - length, pos);
  };
  const kind = bytes[start];
  // Format 1 records hold the raw token: hash it, so a restored lease holds only its digest.
  const legacy = isFormatOneKind(kind);
  const digest = (): string => {
    need(DIGEST_BYTES);
    pos += DIGEST_BYTES;
    return legacy ? digestOfBytes(bytes.subarray(pos - DIGEST_BYTES, pos)) : bytes.toString('hex', pos - DIGEST_BYTES, pos);
  };
  switch (kind) {
    case RecordKind.GRANT:
    case RecordKind.GRANT_V1: {
      const key = str();
      const dig = digest();
      need(9);
      const fence = bytes.readDoubleLE(pos);
      const mode = bytes[pos + 8];
      pos += 9;
      if (mode !== LockMode.EXCLUSIVE && mode !== LockMode.SHARED) throw new PayloadError(`bad mode ${mode}`);
      let owner: string | undefined;
      need(2);
      if (bytes.readUInt16LE(pos) === NO_OWNER) pos += 2;
      else owner = str();
      need(16);
      const holdCount = bytes.readUInt32LE(pos);
      const ttlMs = bytes.readUInt32LE(pos + 4);
      const expiresAtMs = bytes.readDoubleLE(pos + 8);
      return { kind: 'grant', lease: { key, digest: dig, fence, mode, owner, holdCount, ttlMs, expiresAtMs } };
    }
    case RecordKind.UPDATE:
    case RecordKind.UPDATE_V1: {
      const key = str();
      const dig = digest();
      need(16);
      return { kind: 'update', key, digest: dig, holdCount: bytes.readUInt32LE(pos), ttlMs: bytes.readUInt32LE(pos + 4), expiresAtMs: bytes.readDoubleLE(pos + 8) };
    }
    case RecordKind.FREE:
    case RecordKind.FREE_V1: {
      const key = str();
      return { kind: 'free', key, digest: digest(), reason: 'released' };
    }
    case RecordKind.FENCE_RESERVE:
      need(8);
      return { kind: 'fence-reserve', ceiling: bytes.readDoubleLE(pos) };
    case RecordKind.BATCH:
      need(4);
      return null;
    default:
      throw new PayloadError(`unknown record kind ${kind}`);
  }
}
