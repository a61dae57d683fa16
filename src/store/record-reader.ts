/**
 * Reads a file of records (a log or a snapshot) a chunk at a time: recovery never holds a whole
 * file, so neither Node's 2 GiB Buffer limit nor memory bounds the size of the state on disk.
 * Memory per read is one chunk (DEFAULT_CHUNK_BYTES), grown only for a single record larger than
 * that (at most ~128 KiB: a record's strings have u16 lengths).
 */
import fs from 'node:fs';
import type { TableChange } from '../table/types';
import { BATCH_HEADER_BYTES, crc32Of, decodePayload, HEADER_BYTES, isBatchHeaderAt, isFormatOneKind, PayloadError } from './records';

/** Bytes read per read(2) during recovery. */
export const DEFAULT_CHUNK_BYTES = 4 * 1024 * 1024;
/** Chunks overlap by a BATCH record's length when scanning for one; smaller chunks would not advance. */
const MIN_CHUNK_BYTES = 2 * BATCH_HEADER_BYTES;

/** Positional reads of a file or of bytes in memory (tests, and the torn-tail images they build). */
export interface ByteSource {
  readonly size: number;
  /** Copies up to `length` bytes at `position` into `into` at `offset`; returns how many. */
  read(into: Buffer, offset: number, length: number, position: number): number;
}

/** A ByteSource over an open file descriptor; `size` is the file's size when called. */
export function fileSource(fd: number): ByteSource {
  return {
    size: fs.fstatSync(fd).size,
    read: (into, offset, length, position) => fs.readSync(fd, into, offset, length, position),
  };
}

/** A ByteSource over bytes already in memory. */
export function bufferSource(bytes: Buffer): ByteSource {
  return {
    size: bytes.length,
    read: (into, offset, length, position) => bytes.copy(into, offset, position, Math.min(bytes.length, position + length)),
  };
}

/** What reading a file of records found. */
export interface ReadResult {
  /** Offset just past the last good record: where the next write goes. */
  goodEnd: number;
  /** Bytes after goodEnd are all zeros (preallocated space, or a size that grew before its data). */
  zeroTail: boolean;
  /**
   * Set when a bad record was found: where, why, and whether it is the torn tail of the last
   * write (no valid BATCH record anywhere after it) rather than corruption.
   */
  bad?: { offset: number; tornTail: boolean; reason: string };
  /** read(2) calls made: how a test sees that a file was read in chunks. */
  reads: number;
  /** Good records of format 1 (raw tokens, hashed as read): the store rewrites them away. */
  formatOneRecords: number;
}

/**
 * A window [start, start + length) of the source in `buf`, slid forward as records are consumed.
 */
class Window {
  buf: Buffer;
  start = 0;
  length = 0;
  reads = 0;

  constructor(
    private readonly source: ByteSource,
    chunkBytes: number,
  ) {
    this.buf = Buffer.allocUnsafe(chunkBytes);
  }

  /**
   * Makes bytes [at, at + bytes) available in `buf` (the caller checked they are in the source);
   * returns the index of `at` in `buf`.
   */
  hold(at: number, bytes: number): number {
    if (at >= this.start && at + bytes <= this.start + this.length) return at - this.start;
    // Keep what is already here from `at` on, move it to the front, and read after it.
    const kept = at >= this.start && at < this.start + this.length ? this.start + this.length - at : 0;
    if (bytes > this.buf.length) {
      const grown = Buffer.allocUnsafe(bytes);
      this.buf.copy(grown, 0, at - this.start, at - this.start + kept);
      this.buf = grown;
    } else if (kept > 0) {
      this.buf.copy(this.buf, 0, at - this.start, at - this.start + kept);
    }
    this.start = at;
    this.length = kept;
    const wanted = Math.min(this.buf.length, this.source.size - at);
    while (this.length < wanted) {
      const got = this.source.read(this.buf, this.length, wanted - this.length, at + this.length);
      this.reads++;
      if (got <= 0) throw new Error(`file shrank while being read (at byte ${at + this.length})`);
      this.length += got;
    }
    return 0;
  }
}

/**
 * Decodes records from `source` (starting at `start`) into `apply` until the end or a bad record,
 * reading `chunkBytes` at a time.
 */
export function readRecords(source: ByteSource, start: number, apply: (change: TableChange) => void, chunkBytes = DEFAULT_CHUNK_BYTES): ReadResult {
  return readPayloads(
    source,
    start,
    (bytes, from, to) => {
      let change: TableChange | null;
      try {
        change = decodePayload(bytes, from, to);
      } catch (error) {
        throw error instanceof PayloadError ? error : new PayloadError((error as Error).message);
      }
      if (change !== null) apply(change);
    },
    chunkBytes,
  );
}

/**
 * Hands each checksummed record payload of `source` (from `start`) to `visit` as `bytes[from,
 * to)`, valid only during the call, until the end or a bad record; `visit` throws PayloadError
 * for a payload that does not parse (a bad record). Recovery decodes straight from here into a
 * LeaseImage, with no object per record.
 */
export function readPayloads(source: ByteSource, start: number, visit: (bytes: Buffer, from: number, to: number) => void, chunkBytes = DEFAULT_CHUNK_BYTES): ReadResult {
  chunkBytes = Math.max(chunkBytes, MIN_CHUNK_BYTES);
  const size = source.size;
  const window = new Window(source, chunkBytes);
  let pos = start;
  let formatOneRecords = 0;
  const result = (fields: Omit<ReadResult, 'reads' | 'formatOneRecords'>): ReadResult => ({ ...fields, reads: window.reads, formatOneRecords });
  const bad = (reason: string): ReadResult =>
    result({ goodEnd: pos, zeroTail: false, bad: { offset: pos, tornTail: !hasBatchHeaderAfter(source, pos + 1, window, chunkBytes), reason } });
  const endHere = (reason: string): ReadResult => (isZerosFrom(source, pos, window, chunkBytes) ? result({ goodEnd: pos, zeroTail: true }) : bad(reason));
  while (pos < size) {
    if (size - pos < HEADER_BYTES) return endHere('incomplete record header');
    let at = window.hold(pos, HEADER_BYTES);
    const length = window.buf.readUInt32LE(at);
    if (length === 0) return endHere('zero-length record');
    if (length > size - pos - HEADER_BYTES) return bad(`record of ${length} bytes runs past the end of the file`);
    at = window.hold(pos, HEADER_BYTES + length);
    const buf = window.buf;
    const payloadEnd = at + HEADER_BYTES + length;
    if (crc32Of(buf, at + HEADER_BYTES, payloadEnd) !== buf.readUInt32LE(at + 4)) return bad('checksum mismatch');
    try {
      visit(buf, at + HEADER_BYTES, payloadEnd);
    } catch (error) {
      if (!(error instanceof PayloadError)) throw error;
      return bad(`undecodable record: ${error.message}`);
    }
    if (isFormatOneKind(buf[at + HEADER_BYTES])) formatOneRecords++;
    pos += HEADER_BYTES + length;
  }
  return result({ goodEnd: pos, zeroTail: false });
}

/**
 * Calls `visit(buf, index, position)` for each chunk from `from` to the end, consecutive chunks
 * overlapping by `overlap` bytes (so a pattern that long is never split); stops when it returns true.
 */
function scanChunks(source: ByteSource, from: number, overlap: number, window: Window, chunkBytes: number, visit: (buf: Buffer, index: number, position: number, length: number) => boolean): boolean {
  for (let position = from; position < source.size; position += chunkBytes - overlap) {
    const length = Math.min(chunkBytes, source.size - position);
    const index = window.hold(position, length);
    if (visit(window.buf, index, position, length)) return true;
    if (position + length >= source.size) break;
  }
  return false;
}

/** Whether a valid BATCH record starts anywhere at or after `from`. */
function hasBatchHeaderAfter(source: ByteSource, from: number, window: Window, chunkBytes: number): boolean {
  return scanChunks(source, from, BATCH_HEADER_BYTES - 1, window, chunkBytes, (buf, index, _position, length) => {
    const view = buf.subarray(index, index + length);
    for (let q = 0; q + BATCH_HEADER_BYTES <= view.length; q++) if (isBatchHeaderAt(view, q)) return true;
    return false;
  });
}

function isZerosFrom(source: ByteSource, from: number, window: Window, chunkBytes: number): boolean {
  return !scanChunks(source, from, 0, window, chunkBytes, (buf, index, _position, length) => {
    for (let i = index; i < index + length; i++) if (buf[i] !== 0) return true;
    return false;
  });
}
