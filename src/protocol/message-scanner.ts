/**
 * Finds where a Thrift message ends in a byte stream that arrives in pieces, resuming where it
 * stopped instead of parsing from the message's start on every read: a client trickling a large
 * message costs O(its size) in total, not O(size x reads). It only walks the message's
 * structure (headers, lengths, nesting); the protocol reader decodes the whole message once the
 * scanner found its end. Used by MessageStream for the buffered transport, where nothing else
 * tells a message's length.
 */
import { ProtocolError } from '../errors';
import { TType } from './types';

/** The deepest nesting accepted, as in the readers' skip. */
const MAX_DEPTH = 64;

/** What the scanner expects next. */
const enum Expect {
  Header,
  Field,
  Value,
  Skip,
}

/** An open struct, list/set or map, and what its next element is. */
interface Frame {
  /** TType.STRUCT, TType.LIST (lists and sets) or TType.MAP (protocol-neutral kinds). */
  kind: number;
  /** Elements (for maps: keys and values) still to come. */
  remaining: number;
  /** Element type (lists), or key type (maps), in the protocol's own type numbering. */
  first: number;
  /** Value type (maps). */
  second: number;
}

/** Scans one message at a time; call `reset` before the next message. */
export abstract class MessageScanner {
  protected pos = 0;
  private expect = Expect.Header;
  /** The type of the value expected (Expect.Value), in the protocol's numbering. */
  private valueType = 0;
  private skipBytes = 0;
  /** Set by open and skip: the value being scanned continues past this step. */
  private entered = false;
  private readonly stack: Frame[] = [];

  constructor(protected readonly maxLength: number) {}

  /** Starts over at the next message, which begins at offset 0 of the buffer passed to scan. */
  reset(): void {
    this.pos = 0;
    this.expect = Expect.Header;
    this.skipBytes = 0;
    this.stack.length = 0;
  }

  /**
   * Continues scanning buf[0, end) (the message's bytes so far, from its start; earlier bytes
   * must be unchanged). Returns the message's length once it is complete, else -1. Throws
   * ProtocolError for a length, size or nesting out of bounds.
   */
  scan(buf: Buffer, end: number): number {
    for (;;) {
      switch (this.expect) {
        case Expect.Header: {
          const length = this.headerLength(buf, end);
          if (length < 0) return -1;
          this.pos += length;
          this.open(TType.STRUCT, 0, 0, 0);
          continue;
        }
        case Expect.Field: {
          const type = this.fieldHeader(buf, end);
          if (type === -1) return -1;
          if (type === -2) {
            this.stack.pop();
            if (this.afterValue()) return this.pos;
          } else {
            this.valueType = type;
            this.expect = Expect.Value;
          }
          continue;
        }
        case Expect.Value:
          this.entered = false;
          if (!this.value(buf, end, this.valueType)) return -1;
          // A struct, container or string body just began: it ends the value later.
          if (!this.entered && this.afterValue()) return this.pos;
          continue;
        case Expect.Skip: {
          const n = Math.min(this.skipBytes, end - this.pos);
          this.pos += n;
          this.skipBytes -= n;
          if (this.skipBytes > 0) return -1;
          if (this.afterValue()) return this.pos;
          continue;
        }
      }
    }
  }

  /** The header's length once all of it is here, else -1. */
  protected abstract headerLength(buf: Buffer, end: number): number;
  /** A struct field's type (consuming its header), -2 for STOP (consumed), -1 when not all here. */
  protected abstract fieldHeader(buf: Buffer, end: number): number;
  /**
   * Consumes one value of `type` when its fixed part is here (returns false when not), calling
   * `open` for structs and containers and `skip` for string bodies.
   */
  protected abstract value(buf: Buffer, end: number, type: number): boolean;

  /** Enters a struct or container; the value it is part of continues once it closes. */
  protected open(kind: number, remaining: number, first: number, second: number): void {
    if (this.stack.length >= MAX_DEPTH) throw new ProtocolError(`values nested deeper than ${MAX_DEPTH}`);
    if (remaining > this.maxLength) throw new ProtocolError(`container size ${remaining} exceeds the maximum message size ${this.maxLength}`);
    this.entered = true;
    this.stack.push({ kind, remaining, first, second });
    if (kind === TType.STRUCT) this.expect = Expect.Field;
    else this.nextElement();
  }

  /** Skips `length` bytes of a string or binary body. */
  protected skip(length: number): void {
    if (length < 0 || length > this.maxLength) throw new ProtocolError(`string length ${length} exceeds the maximum message size ${this.maxLength}`);
    this.entered = true;
    this.skipBytes = length;
    this.expect = Expect.Skip;
  }

  /** A value ended: decides what comes next. True when the whole message ended. */
  private afterValue(): boolean {
    const top = this.stack[this.stack.length - 1];
    if (top === undefined) return true;
    if (top.kind === TType.STRUCT) this.expect = Expect.Field;
    else this.nextElement();
    return false;
  }

  /** In a container: the next element's type, or the container's end. */
  private nextElement(): void {
    for (;;) {
      const top = this.stack[this.stack.length - 1];
      if (top === undefined) {
        // Only reachable for a container closing the message, which cannot happen: messages are structs.
        throw new ProtocolError('a message must be a struct');
      }
      if (top.kind === TType.STRUCT) {
        this.expect = Expect.Field;
        return;
      }
      if (top.remaining === 0) {
        this.stack.pop();
        continue;
      }
      top.remaining--;
      // Maps alternate key and value: an odd count left means a key is next.
      this.valueType = top.kind === TType.MAP && top.remaining % 2 === 0 ? top.second : top.first;
      this.expect = Expect.Value;
      return;
    }
  }
}

/** Sizes of TBinaryProtocol's fixed-size values by type; 0: not fixed. */
const BINARY_FIXED: Record<number, number> = { [TType.BOOL]: 1, [TType.BYTE]: 1, [TType.I16]: 2, [TType.I32]: 4, [TType.I64]: 8, [TType.DOUBLE]: 8, 16: 16 };

export class BinaryScanner extends MessageScanner {
  protected headerLength(buf: Buffer, end: number): number {
    const at = this.pos;
    if (end - at < 4) return -1;
    const first = buf.readInt32BE(at);
    // Strict: version+type, name (length-prefixed), seqid. Old non-strict: name, type byte, seqid.
    const strict = first < 0;
    if (strict && end - at < 8) return -1;
    const nameLength = strict ? buf.readInt32BE(at + 4) : first;
    if (nameLength < 0 || nameLength > this.maxLength) throw new ProtocolError(`method name length ${nameLength} exceeds the maximum message size ${this.maxLength}`);
    const length = strict ? 8 + nameLength + 4 : 4 + nameLength + 1 + 4;
    return end - at < length ? -1 : length;
  }

  protected fieldHeader(buf: Buffer, end: number): number {
    if (end - this.pos < 1) return -1;
    const type = buf[this.pos];
    if (type === TType.STOP) {
      this.pos++;
      return -2;
    }
    if (end - this.pos < 3) return -1;
    this.pos += 3;
    return type;
  }

  protected value(buf: Buffer, end: number, type: number): boolean {
    const fixed = BINARY_FIXED[type];
    if (fixed !== undefined) {
      if (end - this.pos < fixed) return false;
      this.pos += fixed;
      return true;
    }
    switch (type) {
      case TType.STRING: {
        if (end - this.pos < 4) return false;
        const length = buf.readInt32BE(this.pos);
        this.pos += 4;
        this.skip(length);
        return true;
      }
      case TType.STRUCT:
        this.open(TType.STRUCT, 0, 0, 0);
        return true;
      case TType.LIST:
      case TType.SET: {
        if (end - this.pos < 5) return false;
        const elementType = buf[this.pos];
        const size = buf.readInt32BE(this.pos + 1);
        this.pos += 5;
        if (size < 0) throw new ProtocolError(`negative container size ${size}`);
        this.open(TType.LIST, size, elementType, 0);
        return true;
      }
      case TType.MAP: {
        if (end - this.pos < 6) return false;
        const keyType = buf[this.pos];
        const valueType = buf[this.pos + 1];
        const size = buf.readInt32BE(this.pos + 2);
        this.pos += 6;
        if (size < 0) throw new ProtocolError(`negative container size ${size}`);
        this.open(TType.MAP, size * 2, keyType, valueType);
        return true;
      }
      default:
        throw new ProtocolError(`unknown binary protocol type ${type}`);
    }
  }
}

/** TCompactProtocol's type numbers. */
const C = { TRUE: 1, FALSE: 2, BYTE: 3, I16: 4, I32: 5, I64: 6, DOUBLE: 7, BINARY: 8, LIST: 9, SET: 10, MAP: 11, STRUCT: 12, UUID: 13 } as const;

export class CompactScanner extends MessageScanner {
  protected headerLength(buf: Buffer, end: number): number {
    const at = this.pos;
    if (end - at < 2) return -1;
    // protocol id, version+type, then varint seqid and varint name length, then the name.
    const seqidEnd = varintEnd(buf, at + 2, end);
    if (seqidEnd < 0) return -1;
    const nameEnd = varintEnd(buf, seqidEnd, end);
    if (nameEnd < 0) return -1;
    const nameLength = readVarint(buf, seqidEnd, nameEnd);
    if (nameLength > this.maxLength) throw new ProtocolError(`method name length ${nameLength} exceeds the maximum message size ${this.maxLength}`);
    const length = nameEnd - at + nameLength;
    return end - at < length ? -1 : length;
  }

  protected fieldHeader(buf: Buffer, end: number): number {
    if (end - this.pos < 1) return -1;
    const byte = buf[this.pos];
    if (byte === 0) {
      this.pos++;
      return -2;
    }
    const type = byte & 0x0f;
    if (byte >> 4 !== 0) {
      this.pos++;
    } else {
      // A long-form field id follows as a varint.
      const idEnd = varintEnd(buf, this.pos + 1, end);
      if (idEnd < 0) return -1;
      this.pos = idEnd;
    }
    // Booleans live in the field header itself.
    return type === C.TRUE || type === C.FALSE ? -3 : type;
  }

  protected value(buf: Buffer, end: number, type: number): boolean {
    switch (type) {
      case -3:
        return true;
      case C.TRUE:
      case C.FALSE:
      case C.BYTE:
        return this.fixed(end, 1);
      case C.DOUBLE:
        return this.fixed(end, 8);
      case C.UUID:
        return this.fixed(end, 16);
      case C.I16:
      case C.I32:
      case C.I64: {
        const after = varintEnd(buf, this.pos, end);
        if (after < 0) return false;
        this.pos = after;
        return true;
      }
      case C.BINARY: {
        const after = varintEnd(buf, this.pos, end);
        if (after < 0) return false;
        const length = readVarint(buf, this.pos, after);
        this.pos = after;
        this.skip(length);
        return true;
      }
      case C.STRUCT:
        this.open(TType.STRUCT, 0, 0, 0);
        return true;
      case C.LIST:
      case C.SET: {
        if (end - this.pos < 1) return false;
        const head = buf[this.pos];
        let size = head >> 4;
        let after = this.pos + 1;
        if (size === 15) {
          after = varintEnd(buf, this.pos + 1, end);
          if (after < 0) return false;
          size = readVarint(buf, this.pos + 1, after);
        }
        this.pos = after;
        this.open(TType.LIST, size, head & 0x0f, 0);
        return true;
      }
      case C.MAP: {
        const after = varintEnd(buf, this.pos, end);
        if (after < 0) return false;
        const size = readVarint(buf, this.pos, after);
        if (size === 0) {
          this.pos = after;
          return true;
        }
        if (end - after < 1) return false;
        const types = buf[after];
        this.pos = after + 1;
        this.open(TType.MAP, size * 2, types >> 4, types & 0x0f);
        return true;
      }
      default:
        throw new ProtocolError(`unknown compact protocol type ${type}`);
    }
  }

  private fixed(end: number, bytes: number): boolean {
    if (end - this.pos < bytes) return false;
    this.pos += bytes;
    return true;
  }
}

/** Where a varint starting at `at` ends, or -1 when its last byte has not arrived. */
function varintEnd(buf: Buffer, at: number, end: number): number {
  for (let i = at; i < end; i++) {
    if ((buf[i] & 0x80) === 0) return i + 1;
    if (i - at >= 9) throw new ProtocolError('varint longer than 10 bytes');
  }
  return -1;
}

/** The value of a varint known to end at `end` (lengths and sizes: at most 2^53). */
function readVarint(buf: Buffer, at: number, end: number): number {
  let value = 0;
  let scale = 1;
  for (let i = at; i < end; i++) {
    value += (buf[i] & 0x7f) * scale;
    scale *= 128;
  }
  return value;
}
