/**
 * TCompactProtocol (Apache Thrift's compact protocol spec): zigzag varints, field-id deltas,
 * booleans folded into field headers, little-endian doubles. Reads from a Buffer window like
 * BinaryReader: Underrun when the bytes run out, ProtocolError for malformed input (unknown
 * types, varints over 10 bytes, bad headers) or a declared length above maxLength — thrown as
 * soon as the length is read, before its bytes arrive.
 *
 * i64 is a JS number: exact up to 2^53 in magnitude, computed from two exact halves (no BigInt);
 * beyond that only precision is lost, never the sign.
 */
import { ProtocolError } from '../errors';
import { BufferReader } from './buffer-reader';
import type { OutputBuffer } from '../util/output-buffer';
import { CompactScanner } from './message-scanner';
import { MessageHeader, ProtocolFactory, ProtocolWriter, TType, Underrun } from './types';

const PROTOCOL_ID = 0x82;
const VERSION = 1;
const VERSION_MASK = 0x1f;
const TYPE_SHIFT = 5;
const TYPE_MASK = 0xe0;
/** Longest varint the spec allows (a 64-bit value); anything longer is malformed. */
const MAX_VARINT_BYTES = 10;
const MAX_INT32 = 0x7fffffff;
const TWO_POW_27 = 134217728;
const TWO_POW_32 = 4294967296;

/** Compact type ids (the low nibble of field headers and container headers). */
const C = {
  STOP: 0,
  BOOL_TRUE: 1,
  BOOL_FALSE: 2,
  BYTE: 3,
  I16: 4,
  I32: 5,
  I64: 6,
  DOUBLE: 7,
  BINARY: 8,
  LIST: 9,
  SET: 10,
  MAP: 11,
  STRUCT: 12,
} as const;

/** Compact type id (one nibble) -> TType; -1 for ids the spec does not define (13 is UUID, unused here). */
const FROM_COMPACT = new Int8Array([
  TType.STOP, TType.BOOL, TType.BOOL, TType.BYTE, TType.I16, TType.I32, TType.I64, TType.DOUBLE,
  TType.STRING, TType.LIST, TType.SET, TType.MAP, TType.STRUCT, -1, -1, -1,
]);

/** TType -> compact type id; BOOL maps to BOOL_TRUE (what Java and C++ put in container headers); -1 for none. */
const TO_COMPACT = new Int8Array(16).fill(-1);
TO_COMPACT[TType.BOOL] = C.BOOL_TRUE;
TO_COMPACT[TType.BYTE] = C.BYTE;
TO_COMPACT[TType.I16] = C.I16;
TO_COMPACT[TType.I32] = C.I32;
TO_COMPACT[TType.I64] = C.I64;
TO_COMPACT[TType.DOUBLE] = C.DOUBLE;
TO_COMPACT[TType.STRING] = C.BINARY;
TO_COMPACT[TType.LIST] = C.LIST;
TO_COMPACT[TType.SET] = C.SET;
TO_COMPACT[TType.MAP] = C.MAP;
TO_COMPACT[TType.STRUCT] = C.STRUCT;

function fromCompact(type: number): number {
  const ttype = FROM_COMPACT[type];
  if (ttype < 0) throw new ProtocolError(`unknown compact type ${type}`);
  return ttype;
}

function toCompact(ttype: number): number {
  const type = ttype >= 0 && ttype < 16 ? TO_COMPACT[ttype] : -1;
  if (type < 0) throw new ProtocolError(`cannot write type ${ttype} in the compact protocol`);
  return type;
}

function overlongVarint(): ProtocolError {
  return new ProtocolError(`varint longer than ${MAX_VARINT_BYTES} bytes`);
}

export class CompactReader extends BufferReader {
  /** Field id the next delta is relative to (per struct level). */
  private lastFieldId = 0;
  /** lastFieldId of each enclosing struct; fieldIdStack[0, depth) is live (grown once, then reused). */
  private readonly fieldIdStack: number[] = [];
  private depth = 0;
  /** A bool field carries its value in its header; readBool returns it instead of reading a byte. */
  private boolPending = false;
  private boolValue = false;

  override reset(buf: Buffer, start: number, end: number): void {
    super.reset(buf, start, end);
    this.lastFieldId = 0;
    this.depth = 0;
    this.boolPending = false;
  }

  /**
   * An unsigned varint's low 32 bits (as an int32). Up to 10 bytes are accepted, as the npm
   * runtime's reader does: some writers (Go's) sign-extend 32-bit values with the top bit set.
   */
  private varint32(): number {
    const buf = this.buf;
    const end = this.end;
    let pos = this.pos;
    if (pos >= end) throw Underrun.instance;
    let b = buf[pos++];
    if (b < 0x80) {
      this.pos = pos;
      return b;
    }
    let result = b & 0x7f;
    let shift = 7;
    for (let i = 1; i < MAX_VARINT_BYTES; i++) {
      if (pos >= end) throw Underrun.instance;
      b = buf[pos++];
      if (shift < 32) result |= (b & 0x7f) << shift;
      if (b < 0x80) {
        this.pos = pos;
        return result;
      }
      shift += 7;
    }
    throw overlongVarint();
  }

  /**
   * A string, binary or container length: a varint that must fit a non-negative int32 and not
   * exceed maxLength. Refused as soon as the bytes read so far already exceed the limit.
   */
  protected readLength(what: string): number {
    const buf = this.buf;
    const end = this.end;
    let pos = this.pos;
    if (pos >= end) throw Underrun.instance;
    let b = buf[pos++];
    let length = b & 0x7f;
    let factor = 128;
    for (let i = 1; b >= 0x80; i++) {
      if (length > this.maxLength || length > MAX_INT32) break;
      if (i === MAX_VARINT_BYTES) throw overlongVarint();
      if (pos >= end) throw Underrun.instance;
      b = buf[pos++];
      length += (b & 0x7f) * factor;
      factor *= 128;
    }
    if (length > MAX_INT32) throw new ProtocolError(`${what} length ${length} is negative or above 2^31-1`);
    this.checkLength(length, what);
    this.pos = pos;
    return length;
  }

  readMessageBegin(into: MessageHeader): void {
    if (this.pos >= this.end) throw Underrun.instance;
    const id = this.buf[this.pos];
    if (id !== PROTOCOL_ID) throw new ProtocolError(`bad compact protocol id 0x${id.toString(16)}`);
    this.need(2);
    const versionAndType = this.buf[this.pos + 1];
    if ((versionAndType & VERSION_MASK) !== VERSION) {
      throw new ProtocolError(`bad compact protocol version ${versionAndType & VERSION_MASK}`);
    }
    this.pos += 2;
    into.type = versionAndType >>> TYPE_SHIFT;
    into.seqid = this.varint32();
    into.name = this.readString();
  }

  readStructBegin(): void {
    this.fieldIdStack[this.depth++] = this.lastFieldId;
    this.lastFieldId = 0;
  }

  readStructEnd(): void {
    this.lastFieldId = this.depth > 0 ? this.fieldIdStack[--this.depth] : 0;
  }

  readFieldBegin(): number {
    if (this.pos >= this.end) throw Underrun.instance;
    const header = this.buf[this.pos++];
    const type = header & 0x0f;
    if (type === C.STOP) return TType.STOP;
    const ttype = FROM_COMPACT[type];
    if (ttype < 0) throw new ProtocolError(`unknown compact type ${type}`);
    const delta = header >>> 4;
    // Field ids are i16: like Java, a delta past 32767 wraps.
    const id = delta === 0 ? this.readI16() : ((this.lastFieldId + delta) << 16) >> 16;
    this.fieldId = id;
    this.lastFieldId = id;
    if (type <= C.BOOL_FALSE) {
      this.boolPending = true;
      this.boolValue = type === C.BOOL_TRUE;
    }
    return ttype;
  }

  readBool(): boolean {
    if (this.boolPending) {
      this.boolPending = false;
      return this.boolValue;
    }
    if (this.pos >= this.end) throw Underrun.instance;
    return this.buf[this.pos++] === C.BOOL_TRUE;
  }

  readByte(): number {
    if (this.pos >= this.end) throw Underrun.instance;
    return (this.buf[this.pos++] << 24) >> 24;
  }

  readI16(): number {
    const z = this.varint32();
    return ((((z >>> 1) ^ -(z & 1)) << 16) >> 16);
  }

  readI32(): number {
    const z = this.varint32();
    return (z >>> 1) ^ -(z & 1);
  }

  readI64(): number {
    const buf = this.buf;
    const end = this.end;
    let pos = this.pos;
    // Bits 0..27 (four bytes) exactly in an int.
    let low = 0;
    let shift = 0;
    let b: number;
    do {
      if (pos >= end) throw Underrun.instance;
      b = buf[pos++];
      low |= (b & 0x7f) << shift;
      if (b < 0x80) {
        this.pos = pos;
        return (low >>> 1) ^ -(low & 1);
      }
      shift += 7;
    } while (shift < 28);
    // Bits 28..63 (up to six more bytes) exactly in a double: at most 36 bits.
    let high = 0;
    let factor = 1;
    for (let i = 4; i < MAX_VARINT_BYTES; i++) {
      if (pos >= end) throw Underrun.instance;
      b = buf[pos++];
      // The tenth byte holds bit 63 only; higher bits fall outside 64 (ignored, as Java does).
      high += (i === MAX_VARINT_BYTES - 1 ? b & 1 : b & 0x7f) * factor;
      if (b < 0x80) {
        this.pos = pos;
        // zigzag: v = z / 2 when z is even, -(z + 1) / 2 when odd; the small part is added first,
        // so a value beyond 2^53 is rounded once (correctly) and keeps its sign.
        const magnitude = high * TWO_POW_27 + ((low >>> 1) + (low & 1));
        return low & 1 ? -magnitude : magnitude;
      }
      factor *= 128;
    }
    throw overlongVarint();
  }

  readDouble(): number {
    this.need(8);
    const value = this.buf.readDoubleLE(this.pos);
    this.pos += 8;
    return value;
  }

  readListBegin(): number {
    if (this.pos >= this.end) throw Underrun.instance;
    const header = this.buf[this.pos];
    const elementType = fromCompact(header & 0x0f);
    const shortSize = header >>> 4;
    if (shortSize === 15) {
      this.pos++;
      this.containerSize = this.readLength('list');
    } else {
      this.checkLength(shortSize, 'list');
      this.pos++;
      this.containerSize = shortSize;
    }
    return elementType;
  }

  readSetBegin(): number {
    return this.readListBegin();
  }

  readMapBegin(): number {
    const size = this.readLength('map');
    if (size === 0) {
      // An empty map is the single byte 0: no key and value types follow.
      this.containerSize = 0;
      this.mapValueType = TType.STOP;
      return TType.STOP;
    }
    if (this.pos >= this.end) throw Underrun.instance;
    const types = this.buf[this.pos++];
    this.mapValueType = fromCompact(types & 0x0f);
    this.containerSize = size;
    return fromCompact(types >>> 4);
  }
}

export class CompactWriter implements ProtocolWriter {
  private lastFieldId = 0;
  private readonly fieldIdStack: number[] = [];
  private depth = 0;
  /** writeFieldBegin of a BOOL field waits for writeBool to put the value into the header. */
  private boolFieldPending = false;
  private boolFieldId = 0;

  constructor(readonly out: OutputBuffer) {}

  writeMessageBegin(name: string, type: number, seqid: number): void {
    this.lastFieldId = 0;
    this.depth = 0;
    this.boolFieldPending = false;
    const out = this.out;
    out.ensure(2);
    out.buf[out.pos++] = PROTOCOL_ID;
    out.buf[out.pos++] = VERSION | ((type << TYPE_SHIFT) & TYPE_MASK);
    this.varint32(seqid >>> 0);
    this.writeString(name);
  }

  writeStructBegin(): void {
    this.fieldIdStack[this.depth++] = this.lastFieldId;
    this.lastFieldId = 0;
  }

  writeStructEnd(): void {
    this.lastFieldId = this.depth > 0 ? this.fieldIdStack[--this.depth] : 0;
  }

  writeFieldBegin(type: number, id: number): void {
    if (type === TType.BOOL) {
      this.boolFieldPending = true;
      this.boolFieldId = id;
      return;
    }
    this.fieldHeader(toCompact(type), id);
  }

  writeFieldStop(): void {
    this.byte(C.STOP);
  }

  writeBool(value: boolean): void {
    const compactType = value ? C.BOOL_TRUE : C.BOOL_FALSE;
    if (this.boolFieldPending) {
      this.boolFieldPending = false;
      this.fieldHeader(compactType, this.boolFieldId);
    } else {
      this.byte(compactType);
    }
  }

  writeByte(value: number): void {
    this.byte(value & 0xff);
  }

  writeI16(value: number): void {
    this.writeI32(value);
  }

  writeI32(value: number): void {
    this.varint32(((value << 1) ^ (value >> 31)) >>> 0);
  }

  writeI64(value: number): void {
    if (value >= -0x80000000 && value <= 0x7fffffff) {
      this.writeI32(value);
      return;
    }
    // zigzag(v) = 2v for v >= 0, 2|v| - 1 for v < 0, built from the two exact 32-bit halves of
    // |v| (|v| - 1 would not be exact above 2^53).
    const negative = value < 0;
    const magnitude = negative ? -value : value;
    const high = Math.floor(magnitude / TWO_POW_32);
    const low = magnitude - high * TWO_POW_32;
    let zHigh = ((high << 1) | (low >>> 31)) >>> 0;
    let zLow = (low << 1) >>> 0;
    if (negative) {
      if (zLow === 0) zHigh = (zHigh - 1) >>> 0;
      zLow = (zLow - 1) >>> 0;
    }
    const out = this.out;
    out.ensure(MAX_VARINT_BYTES);
    const buf = out.buf;
    let pos = out.pos;
    while (zHigh !== 0 || zLow >= 0x80) {
      buf[pos++] = (zLow & 0x7f) | 0x80;
      zLow = ((zLow >>> 7) | (zHigh << 25)) >>> 0;
      zHigh >>>= 7;
    }
    buf[pos++] = zLow;
    out.pos = pos;
  }

  writeDouble(value: number): void {
    const out = this.out;
    out.ensure(8);
    out.buf.writeDoubleLE(value, out.pos);
    out.pos += 8;
  }

  writeString(value: string): void {
    const out = this.out;
    if (value.length <= 42) {
      // At most 126 bytes of UTF-8: the length is one varint byte, written after the text.
      out.ensure(1 + value.length * 3);
      const written = out.buf.write(value, out.pos + 1, 'utf8');
      out.buf[out.pos] = written;
      out.pos += 1 + written;
      return;
    }
    const bytes = Buffer.byteLength(value, 'utf8');
    out.ensure(5 + bytes);
    this.varint32(bytes);
    out.pos += out.buf.write(value, out.pos, 'utf8');
  }

  writeListBegin(elementType: number, size: number): void {
    const compactType = toCompact(elementType);
    if (size < 15) {
      this.byte((size << 4) | compactType);
    } else {
      this.byte(0xf0 | compactType);
      this.varint32(size >>> 0);
    }
  }

  private fieldHeader(compactType: number, id: number): void {
    const delta = id - this.lastFieldId;
    if (delta > 0 && delta <= 15) {
      this.byte((delta << 4) | compactType);
    } else {
      this.byte(compactType);
      this.writeI32(id);
    }
    this.lastFieldId = id;
  }

  private byte(value: number): void {
    const out = this.out;
    out.ensure(1);
    out.buf[out.pos++] = value;
  }

  /** An unsigned 32-bit varint (value in [0, 2^32)). */
  private varint32(value: number): void {
    const out = this.out;
    out.ensure(5);
    const buf = out.buf;
    let pos = out.pos;
    while (value >= 0x80) {
      buf[pos++] = (value & 0x7f) | 0x80;
      value >>>= 7;
    }
    buf[pos++] = value;
    out.pos = pos;
  }
}

/** TCompactProtocol. */
export const compactProtocol: ProtocolFactory = {
  name: 'compact',
  createReader: (maxLength) => new CompactReader(maxLength),
  createWriter: (out) => new CompactWriter(out),
  createScanner: (maxLength) => new CompactScanner(maxLength),
};
