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
import type { LeaseReplaySink } from '../table/restore-source';
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
/** The image works on the 16 bytes where a record keeps its digest (a format 1 record, its token). */
const TOKEN_BYTES = DIGEST_BYTES;
/** The format 2 kind of each format 1 kind. */
const FORMAT_TWO_KIND: Readonly<Record<number, number>> = { 1: 6, 2: 7, 3: 8 };
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
  buf.writeUInt32LE(crc32Of(buf, start + HEADER_BYTES, end), start + 4);
  out.pos = end;
}

/** CRC-32 (IEEE, zlib's) lookup table for crc32Of. */
const CRC_TABLE = (() => {
  const table = new Int32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c;
  }
  return table;
})();
/** Payloads up to this long are checksummed in JS; longer ones by zlib. */
const JS_CRC_MAX_BYTES = 128;

/**
 * zlib's CRC-32 of bytes[start, end). Records are a few dozen bytes, and zlib.crc32 costs a
 * Buffer view plus a native call per record: a table loop is about twice as fast there
 * (measured at 60 bytes: ~0.5 against ~1.2 s per million), so recovery and every durable
 * change use it; longer payloads go to zlib.
 */
export function crc32Of(bytes: Buffer, start: number, end: number): number {
  if (end - start > JS_CRC_MAX_BYTES) return crc32(bytes.subarray(start, end));
  let c = -1;
  for (let i = start; i < end; i++) c = CRC_TABLE[(c ^ bytes[i]) & 0xff] ^ (c >>> 8);
  return (c ^ -1) >>> 0;
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
  buf.writeUInt32LE(crc32Of(buf, HEADER_BYTES, BATCH_HEADER_BYTES), 4);
}

/** Slot states of LeaseImage's index besides a lease's position. */
const EMPTY_SLOT = -1;
const DELETED_SLOT = -2;
/** The smallest GRANT record: header, kind, empty key, token, fence, mode, no owner, terms. */
const MIN_GRANT_RECORD_BYTES = HEADER_BYTES + 1 + 2 + TOKEN_BYTES + 9 + 2 + 16;
/** LeaseImage sizes itself up front for at most this many bytes of records, and grows past them. */
const MAX_PRESIZE_BYTES = 512 * 1024 * 1024;
/** The image's arena is compacted once this many of its bytes belong to freed or replaced leases (and they are most of it). */
const ARENA_GARBAGE_BYTES = 64 * 1024 * 1024;

/** A lease's terms at the end of GRANT and UPDATE payloads: holdCount u32, ttlMs u32, expiresAtMs f64. */
const TERMS_BYTES = 16;

/** What a format 2 record payload holds, as positions in its bytes (visitPayload's callbacks). */
interface PayloadVisitor {
  fenceReserve(ceiling: number): void;
  /** The GRANT payload is bytes[start, termsAt + TERMS_BYTES); ownerLength NO_OWNER: none. */
  grant(bytes: Buffer, start: number, keyAt: number, keyLength: number, tokenAt: number, fence: number, mode: LockMode, ownerAt: number, ownerLength: number, termsAt: number): void;
  update(bytes: Buffer, keyAt: number, keyLength: number, tokenAt: number, termsAt: number): void;
  free(bytes: Buffer, keyAt: number, keyLength: number, tokenAt: number): void;
}

/**
 * Parses the payload bytes[start, end) (a BATCH header visits nothing; a format 1 record visits
 * as its format 2 twin): the one parser of LeaseImage and RecordReplayer. Checks the whole payload before `visitor` hears of it, so a
 * record that does not parse changes nothing; throws PayloadError as decodePayload would.
 */
function visitPayload(bytes: Buffer, start: number, end: number, visitor: PayloadVisitor): void {
  const kind = bytes[start];
  if (isFormatOneKind(kind)) {
    // Format 1 held the raw token: its format 2 twin, with the token's digest in its place, is
    // what is visited (so nothing kept holds a token).
    if (start + 3 > end) throw new PayloadError('payload too short');
    const tokenAt = start + 3 + bytes.readUInt16LE(start + 1);
    if (tokenAt + TOKEN_BYTES > end) throw new PayloadError('payload too short');
    const copy = Buffer.from(bytes.subarray(start, end));
    copy[0] = FORMAT_TWO_KIND[kind]!;
    copy.write(digestOfBytes(bytes.subarray(tokenAt, tokenAt + TOKEN_BYTES)), tokenAt - start, TOKEN_BYTES, 'hex');
    visitPayload(copy, 0, copy.length, visitor);
    return;
  }
  if (kind === RecordKind.BATCH) {
    if (start + 1 + 4 > end) throw new PayloadError('payload too short');
    return;
  }
  if (kind === RecordKind.FENCE_RESERVE) {
    if (start + 1 + 8 > end) throw new PayloadError('payload too short');
    visitor.fenceReserve(bytes.readDoubleLE(start + 1));
    return;
  }
  if (kind !== RecordKind.GRANT && kind !== RecordKind.UPDATE && kind !== RecordKind.FREE) throw new PayloadError(`unknown record kind ${kind}`);
  if (start + 3 > end) throw new PayloadError('payload too short');
  const keyAt = start + 3;
  const keyLength = bytes[start + 1] | (bytes[start + 2] << 8);
  const tokenAt = keyAt + keyLength;
  let pos = tokenAt + TOKEN_BYTES;
  if (pos > end) throw new PayloadError('payload too short');
  if (kind === RecordKind.FREE) {
    visitor.free(bytes, keyAt, keyLength, tokenAt);
    return;
  }
  if (kind === RecordKind.UPDATE) {
    if (pos + TERMS_BYTES > end) throw new PayloadError('payload too short');
    visitor.update(bytes, keyAt, keyLength, tokenAt, pos);
    return;
  }
  if (pos + 9 > end) throw new PayloadError('payload too short');
  const fence = bytes.readDoubleLE(pos);
  const mode = bytes[pos + 8];
  pos += 9;
  if (mode !== LockMode.EXCLUSIVE && mode !== LockMode.SHARED) throw new PayloadError(`bad mode ${mode}`);
  if (pos + 2 > end) throw new PayloadError('payload too short');
  const ownerLength = bytes[pos] | (bytes[pos + 1] << 8);
  pos += 2;
  const ownerAt = pos;
  if (ownerLength !== NO_OWNER) {
    pos += ownerLength;
    if (pos > end) throw new PayloadError('payload too short');
  }
  if (pos + TERMS_BYTES > end) throw new PayloadError('payload too short');
  visitor.grant(bytes, start, keyAt, keyLength, tokenAt, fence, mode as LockMode, ownerAt, ownerLength, pos);
}

/**
 * Live leases rebuilt by applying records in order, found by token digest (128 bits name one
 * lease; the key is compared too). Kept as bytes, not objects: each live lease's GRANT payload is
 * copied into one arena Buffer and its terms (holdCount, ttlMs, expiresAtMs, changed by UPDATE
 * records) sit in typed arrays, indexed by open addressing over the digest's bytes. A format 1
 * record (raw token) is rewritten as its format 2 twin (the token's digest in its place) first. Recovery
 * applies a record per lease and more; an object and three strings per lease, all surviving
 * until the table took them, made the garbage collector copy a million survivors through the
 * young generation (profiled at 1,000,000 leases: GC a fifth of a restart's CPU, string decoding
 * and hashing most of the rest). Leases are decoded to StoredLeases only by `all()`, one at a time
 * as the table restores them, so each is garbage at once.
 */
export class LeaseImage {
  /** Grant payloads of the leases, at payloadAt[i] (undefined: lease i was freed). */
  private arena: Buffer;
  private arenaEnd = 0;
  /** Arena bytes of freed or replaced leases. */
  private arenaGarbage = 0;
  /** Per lease position: where its GRANT payload starts in the arena, -1 once freed. */
  private payloadAt: Float64Array;
  private payloadLength: Uint32Array;
  private holdCount: Uint32Array;
  private ttlMs: Uint32Array;
  private expiresAtMs: Float64Array;
  /** Positions used (live or freed). */
  private positions = 0;
  /** Position in the arrays above per slot, or EMPTY_SLOT / DELETED_SLOT. Power-of-two size. */
  private index: Int32Array;
  /** Slots not EMPTY (live or deleted): the index grows when they pass half of it. */
  private usedSlots = 0;
  /** Encodes changes given as objects (`apply`) into a record. */
  private scratch: OutputBuffer | undefined;
  fenceCeiling = 0;
  count = 0;

  /**
   * `recordBytes`: the size of the files about to be applied, when known. The arena and arrays are
   * then sized for them at once (every byte of the arena copies a record, and a GRANT record
   * takes at least MIN_GRANT_RECORD_BYTES), instead of grown by doubling: growth leaves freed
   * generations behind in the allocator, which kept RSS ~100 MiB higher after a restart with a
   * million leases. Pages never touched cost nothing.
   */
  constructor(recordBytes = 0) {
    const bytes = Math.min(recordBytes, MAX_PRESIZE_BYTES);
    const leases = Math.max(1024, Math.ceil(bytes / MIN_GRANT_RECORD_BYTES));
    this.arena = Buffer.allocUnsafe(Math.max(64 * 1024, bytes));
    this.payloadAt = new Float64Array(leases);
    this.payloadLength = new Uint32Array(leases);
    this.holdCount = new Uint32Array(leases);
    this.ttlMs = new Uint32Array(leases);
    this.expiresAtMs = new Float64Array(leases);
    let slots = 1024;
    while (slots < 2 * (leases + 1)) slots *= 2;
    this.index = new Int32Array(slots).fill(EMPTY_SLOT);
  }

  /** Applies one change. */
  apply(change: TableChange): void {
    const scratch = (this.scratch ??= new OutputBuffer(1024));
    scratch.pos = 0;
    encodeChange(scratch, change);
    this.applyPayload(scratch.buf, HEADER_BYTES, scratch.pos);
  }

  /**
   * Applies the record whose (checksummed) payload is `bytes[start, end)`, copying what it keeps.
   * Throws PayloadError for a payload that does not parse, exactly where decodePayload would.
   */
  applyPayload(bytes: Buffer, start: number, end: number): void {
    visitPayload(bytes, start, end, this.visitor);
  }

  /** What a parsed record does to the image. */
  private readonly visitor: PayloadVisitor = {
    fenceReserve: (ceiling) => {
      if (ceiling > this.fenceCeiling) this.fenceCeiling = ceiling;
    },
    grant: (bytes, start, keyAt, keyLength, tokenAt, fence, _mode, _ownerAt, _ownerLength, termsAt) => {
      if (fence > this.fenceCeiling) this.fenceCeiling = fence;
      const slot = this.find(bytes, keyAt, keyLength, tokenAt);
      // A grant replayed over a snapshot that already holds it: the record is the newer state.
      if (slot >= 0) this.remove(slot);
      this.insert(bytes, start, termsAt + TERMS_BYTES, tokenAt - start, bytes.readUInt32LE(termsAt), bytes.readUInt32LE(termsAt + 4), bytes.readDoubleLE(termsAt + 8));
    },
    update: (bytes, keyAt, keyLength, tokenAt, termsAt) => {
      const slot = this.find(bytes, keyAt, keyLength, tokenAt);
      if (slot < 0) return;
      const at = this.index[slot];
      this.holdCount[at] = bytes.readUInt32LE(termsAt);
      this.ttlMs[at] = bytes.readUInt32LE(termsAt + 4);
      this.expiresAtMs[at] = bytes.readDoubleLE(termsAt + 8);
    },
    free: (bytes, keyAt, keyLength, tokenAt) => {
      const slot = this.find(bytes, keyAt, keyLength, tokenAt);
      if (slot >= 0) this.remove(slot);
    },
  };


  /** Every live lease, decoded one at a time (each StoredLease is the caller's). */
  *all(): IterableIterator<StoredLease> {
    const arena = this.arena;
    let lastOwner: string | undefined;
    let lastOwnerAt = -1;
    let lastOwnerLength = -1;
    for (let i = 0; i < this.positions; i++) {
      const p = this.payloadAt[i];
      if (p < 0) continue;
      const keyLength = arena.readUInt16LE(p + 1);
      const tokenAt = p + 3 + keyLength;
      let pos = tokenAt + TOKEN_BYTES;
      const fence = arena.readDoubleLE(pos);
      const mode = arena[pos + 8] as LockMode;
      pos += 9;
      const ownerLength = arena.readUInt16LE(pos);
      pos += 2;
      let owner: string | undefined;
      if (ownerLength !== NO_OWNER) {
        // Owners repeat (a client labels every call alike): one string for a run of equal labels.
        if (ownerLength !== lastOwnerLength || !sameBytes(arena, lastOwnerAt, arena, pos, ownerLength)) {
          lastOwner = arena.toString('utf8', pos, pos + ownerLength);
          lastOwnerAt = pos;
          lastOwnerLength = ownerLength;
        }
        owner = lastOwner;
      }
      yield {
        key: arena.toString('utf8', p + 3, tokenAt),
        digest: arena.toString('hex', tokenAt, tokenAt + TOKEN_BYTES),
        fence,
        mode,
        owner,
        holdCount: this.holdCount[i],
        ttlMs: this.ttlMs[i],
        expiresAtMs: this.expiresAtMs[i],
      };
    }
  }

  /** The slot of the lease with this key and token (bytes at keyAt and tokenAt), or -1. */
  private find(bytes: Buffer, keyAt: number, keyLength: number, tokenAt: number): number {
    const mask = this.index.length - 1;
    const arena = this.arena;
    for (let slot = tokenHash(bytes, tokenAt) & mask; ; slot = (slot + 1) & mask) {
      const at = this.index[slot];
      if (at === EMPTY_SLOT) return -1;
      if (at === DELETED_SLOT) continue;
      const p = this.payloadAt[at];
      if (arena.readUInt16LE(p + 1) !== keyLength) continue;
      const theirs = p + 3 + keyLength;
      let same = true;
      for (let i = 0; i < TOKEN_BYTES && same; i++) same = arena[theirs + i] === bytes[tokenAt + i];
      for (let i = 0; i < keyLength && same; i++) same = arena[p + 3 + i] === bytes[keyAt + i];
      if (same) return slot;
    }
  }

  private remove(slot: number): void {
    const at = this.index[slot];
    this.arenaGarbage += this.payloadLength[at];
    this.payloadAt[at] = -1;
    this.index[slot] = DELETED_SLOT;
    this.count--;
  }

  /** Adds a lease: its GRANT payload bytes[start, end) (token at start + tokenOffset) and its terms. */
  private insert(bytes: Buffer, start: number, end: number, tokenOffset: number, holdCount: number, ttlMs: number, expiresAtMs: number): void {
    if (2 * (this.usedSlots + 1) > this.index.length) this.rebuildIndex();
    if (this.positions === this.payloadAt.length) this.growArrays();
    const length = end - start;
    if (this.arenaEnd + length > this.arena.length) this.makeArenaRoom(length);
    copyBytes(bytes, start, end, this.arena, this.arenaEnd);
    const at = this.positions++;
    this.payloadAt[at] = this.arenaEnd;
    this.payloadLength[at] = length;
    this.holdCount[at] = holdCount;
    this.ttlMs[at] = ttlMs;
    this.expiresAtMs[at] = expiresAtMs;
    this.arenaEnd += length;
    this.place(tokenHash(this.arena, this.arenaEnd - length + tokenOffset), at);
    this.usedSlots++;
    this.count++;
  }

  private place(hash: number, at: number): void {
    const mask = this.index.length - 1;
    let slot = hash & mask;
    while (this.index[slot] !== EMPTY_SLOT) slot = (slot + 1) & mask;
    this.index[slot] = at;
  }

  private growArrays(): void {
    const size = this.payloadAt.length * 2;
    const grow = <T extends Float64Array | Uint32Array>(old: T, make: (n: number) => T): T => {
      const grown = make(size);
      grown.set(old);
      return grown;
    };
    this.payloadAt = grow(this.payloadAt, (n) => new Float64Array(n));
    this.payloadLength = grow(this.payloadLength, (n) => new Uint32Array(n));
    this.holdCount = grow(this.holdCount, (n) => new Uint32Array(n));
    this.ttlMs = grow(this.ttlMs, (n) => new Uint32Array(n));
    this.expiresAtMs = grow(this.expiresAtMs, (n) => new Float64Array(n));
  }

  /** Room for `bytes` more in the arena: by dropping the payloads of dead leases when they are most of it, else by doubling. */
  private makeArenaRoom(bytes: number): void {
    const live = this.arenaEnd - this.arenaGarbage;
    const compact = this.arenaGarbage >= ARENA_GARBAGE_BYTES && this.arenaGarbage > live;
    let size = this.arena.length;
    while (size < (compact ? live : this.arenaEnd) + bytes) size *= 2;
    const grown = Buffer.allocUnsafe(size);
    if (!compact) {
      this.arena.copy(grown, 0, 0, this.arenaEnd);
    } else {
      let end = 0;
      for (let i = 0; i < this.positions; i++) {
        const p = this.payloadAt[i];
        if (p < 0) continue;
        this.arena.copy(grown, end, p, p + this.payloadLength[i]);
        this.payloadAt[i] = end;
        end += this.payloadLength[i];
      }
      this.arenaEnd = end;
      this.arenaGarbage = 0;
    }
    this.arena = grown;
  }

  /** Drops freed positions and deleted slots, and doubles the index when live leases fill a quarter of it. */
  private rebuildIndex(): void {
    let live = 0;
    for (let i = 0; i < this.positions; i++) {
      if (this.payloadAt[i] < 0) continue;
      this.payloadAt[live] = this.payloadAt[i];
      this.payloadLength[live] = this.payloadLength[i];
      this.holdCount[live] = this.holdCount[i];
      this.ttlMs[live] = this.ttlMs[i];
      this.expiresAtMs[live] = this.expiresAtMs[i];
      live++;
    }
    this.positions = live;
    let size = this.index.length;
    while (4 * (live + 1) > size) size *= 2;
    this.index = new Int32Array(size).fill(EMPTY_SLOT);
    const arena = this.arena;
    for (let i = 0; i < live; i++) {
      const p = this.payloadAt[i];
      this.place(tokenHash(arena, p + 3 + arena.readUInt16LE(p + 1)), i);
    }
    this.usedSlots = live;
  }
}

/**
 * Applies record payloads straight to a LeaseReplaySink (a lock table, LockTable.replay) as they
 * are read: what LeaseImage does, without the image. Each payload is checked whole before the
 * sink hears of it, so a record that does not parse changes nothing (PayloadError, exactly where
 * LeaseImage.applyPayload throws it).
 */
export class RecordReplayer {
  /** Highest fence reservation or granted fence seen. */
  fenceCeiling = 0;
  /** The last owner label decoded, and a copy of its bytes: a client labels every call alike. */
  private owner: string | undefined;
  private ownerBytes = Buffer.alloc(256);
  private ownerLength = -1;

  constructor(private readonly sink: LeaseReplaySink) {}

  /** Leases the sink holds so far (expired ones included). */
  get leaseCount(): number {
    return this.sink.leaseCount;
  }

  /** Applies the record whose (checksummed) payload is bytes[start, end). */
  applyPayload(bytes: Buffer, start: number, end: number): void {
    visitPayload(bytes, start, end, this.visitor);
  }

  /** What a parsed record tells the sink. */
  private readonly visitor: PayloadVisitor = {
    fenceReserve: (ceiling) => {
      if (ceiling > this.fenceCeiling) this.fenceCeiling = ceiling;
    },
    grant: (bytes, _start, keyAt, keyLength, tokenAt, fence, mode, ownerAt, ownerLength, termsAt) => {
      if (fence > this.fenceCeiling) this.fenceCeiling = fence;
      const owner = ownerLength === NO_OWNER ? undefined : this.ownerOf(bytes, ownerAt, ownerLength);
      this.sink.grant(bytes, keyAt, keyLength, tokenAt, fence, mode, owner, bytes.readUInt32LE(termsAt), bytes.readUInt32LE(termsAt + 4), bytes.readDoubleLE(termsAt + 8));
    },
    update: (bytes, keyAt, keyLength, tokenAt, termsAt) => {
      this.sink.update(bytes, keyAt, keyLength, tokenAt, bytes.readUInt32LE(termsAt), bytes.readUInt32LE(termsAt + 4), bytes.readDoubleLE(termsAt + 8));
    },
    free: (bytes, keyAt, keyLength, tokenAt) => this.sink.free(bytes, keyAt, keyLength, tokenAt),
  };

  /** The owner label bytes[at, at + length) as a string: the last one again when the bytes repeat. */
  private ownerOf(bytes: Buffer, at: number, length: number): string {
    if (length === this.ownerLength && sameBytes(this.ownerBytes, 0, bytes, at, length)) return this.owner as string;
    this.owner = bytes.toString('utf8', at, at + length);
    if (length > this.ownerBytes.length) this.ownerBytes = Buffer.alloc(length);
    copyBytes(bytes, at, at + length, this.ownerBytes, 0);
    this.ownerLength = length;
    return this.owner;
  }

}

/**
 * Copies bytes[start, end) to target at `at`. A loop for a record's few dozen bytes: Buffer#copy
 * makes a view per call, which profiled as the largest cost of building the image.
 */
function copyBytes(bytes: Buffer, start: number, end: number, target: Buffer, at: number): void {
  if (end - start > 256) {
    bytes.copy(target, at, start, end);
    return;
  }
  for (let i = start; i < end; i++) target[at++] = bytes[i];
}

/** Whether a[aAt, aAt + length) equals b[bAt, bAt + length). */
function sameBytes(a: Buffer, aAt: number, b: Buffer, bAt: number, length: number): boolean {
  for (let i = 0; i < length; i++) if (a[aAt + i] !== b[bAt + i]) return false;
  return true;
}

/** FNV-1a over a token's 16 bytes at `at`. */
function tokenHash(bytes: Buffer, at: number): number {
  let hash = 0x811c9dc5;
  for (let i = at; i < at + TOKEN_BYTES; i++) hash = Math.imul(hash ^ bytes[i], 0x01000193);
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
    crc32Of(bytes, at + HEADER_BYTES, at + BATCH_HEADER_BYTES) === bytes.readUInt32LE(at + 4)
  );
}

/** Thrown by decodePayload and LeaseImage.applyPayload for a checksummed payload that still does not parse. */
export class PayloadError extends Error {}

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
