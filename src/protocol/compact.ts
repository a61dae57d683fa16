/**
 * TCompactProtocol: zigzag varints, field-id deltas, booleans folded into field headers,
 * little-endian doubles. Reads from a Buffer window like BinaryReader (Underrun when bytes run
 * out, ProtocolError for malformed input or lengths above maxLength).
 */
import { ProtocolError } from '../errors';
import { BufferReader } from './buffer-reader';
import type { OutputBuffer } from './output-buffer';
import { MessageHeader, ProtocolFactory, ProtocolWriter, TType, Underrun } from './types';

const PROTOCOL_ID = 0x82;
const VERSION = 1;
const VERSION_MASK = 0x1f;
const TYPE_SHIFT = 5;

/** Compact type ids. */
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

const FROM_COMPACT: number[] = [
  TType.STOP,
  TType.BOOL,
  TType.BOOL,
  TType.BYTE,
  TType.I16,
  TType.I32,
  TType.I64,
  TType.DOUBLE,
  TType.STRING,
  TType.LIST,
  TType.SET,
  TType.MAP,
  TType.STRUCT,
];

/** TType -> compact type id (BOOL as BOOL_TRUE: the value travels separately). */
const TO_COMPACT: number[] = [];
FROM_COMPACT.forEach((ttype, compactType) => (TO_COMPACT[ttype] ??= compactType));

function fromCompact(type: number): number {
  const ttype = FROM_COMPACT[type];
  if (ttype === undefined) throw new ProtocolError(`unknown compact type ${type}`);
  return ttype;
}

export class CompactReader extends BufferReader {
  private lastFieldId = 0;
  private readonly fieldIdStack: number[] = [];
  /** The value of a bool field, carried in its header. */
  private pendingBool: boolean | undefined;

  override reset(buf: Buffer, start: number, end: number): void {
    super.reset(buf, start, end);
    this.lastFieldId = 0;
    this.fieldIdStack.length = 0;
    this.pendingBool = undefined;
  }

  private byte(): number {
    if (this.pos >= this.end) throw Underrun.instance;
    return this.buf[this.pos++];
  }

  /** An unsigned varint of at most `maxBytes` bytes, as an exact number below 2^53. */
  private varint(maxBytes: number): number {
    let result = 0;
    let factor = 1;
    for (let i = 0; i < maxBytes; i++) {
      const b = this.byte();
      result += (b & 0x7f) * factor;
      if ((b & 0x80) === 0) return result;
      factor *= 128;
    }
    throw new ProtocolError(`varint longer than ${maxBytes} bytes`);
  }

  private zigzag(maxBytes: number): number {
    const z = this.varint(maxBytes);
    return z % 2 === 0 ? z / 2 : -(z + 1) / 2;
  }

  protected readLength(what: string): number {
    const length = this.varint(5);
    this.checkLength(length, what);
    return length;
  }

  readMessageBegin(into: MessageHeader): void {
    const id = this.byte();
    if (id !== PROTOCOL_ID) throw new ProtocolError(`bad compact protocol id 0x${id.toString(16)}`);
    const versionAndType = this.byte();
    if ((versionAndType & VERSION_MASK) !== VERSION) throw new ProtocolError(`bad compact protocol version ${versionAndType & VERSION_MASK}`);
    into.type = (versionAndType >> TYPE_SHIFT) & 0x07;
    into.seqid = this.varint(5) | 0;
    into.name = this.readString();
  }

  readStructBegin(): void {
    this.fieldIdStack.push(this.lastFieldId);
    this.lastFieldId = 0;
  }

  readStructEnd(): void {
    this.lastFieldId = this.fieldIdStack.pop() ?? 0;
  }

  readFieldBegin(): number {
    const header = this.byte();
    const type = header & 0x0f;
    if (type === C.STOP) return TType.STOP;
    const delta = header >> 4;
    this.fieldId = delta === 0 ? this.zigzag(3) : this.lastFieldId + delta;
    this.lastFieldId = this.fieldId;
    if (type === C.BOOL_TRUE || type === C.BOOL_FALSE) this.pendingBool = type === C.BOOL_TRUE;
    return fromCompact(type);
  }

  readBool(): boolean {
    const pending = this.pendingBool;
    if (pending !== undefined) {
      this.pendingBool = undefined;
      return pending;
    }
    return this.byte() === C.BOOL_TRUE;
  }

  readByte(): number {
    const b = this.byte();
    return b > 127 ? b - 256 : b;
  }

  readI16(): number {
    return this.zigzag(3);
  }

  readI32(): number {
    return this.zigzag(5);
  }

  readI64(): number {
    return this.zigzag(10);
  }

  readDouble(): number {
    this.need(8);
    const value = this.buf.readDoubleLE(this.pos);
    this.pos += 8;
    return value;
  }

  readListBegin(): number {
    const header = this.byte();
    const shortSize = header >> 4;
    const size = shortSize === 15 ? this.readLength('list') : shortSize;
    if (size > this.maxLength) throw new ProtocolError(`list length ${size} exceeds the maximum message size ${this.maxLength}`);
    this.containerSize = size;
    return fromCompact(header & 0x0f);
  }

  readSetBegin(): number {
    return this.readListBegin();
  }

  readMapBegin(): number {
    const size = this.readLength('map');
    this.containerSize = size;
    if (size === 0) {
      this.mapValueType = TType.STOP;
      return TType.STOP;
    }
    const types = this.byte();
    this.mapValueType = fromCompact(types & 0x0f);
    return fromCompact(types >> 4);
  }

}

export class CompactWriter implements ProtocolWriter {
  private lastFieldId = 0;
  private readonly fieldIdStack: number[] = [];
  /** A bool field's id, waiting for writeBool to fold the value into its header. */
  private pendingBoolField = -1;

  constructor(readonly out: OutputBuffer) {}

  writeMessageBegin(name: string, type: number, seqid: number): void {
    this.lastFieldId = 0;
    this.fieldIdStack.length = 0;
    this.pendingBoolField = -1;
    this.byte(PROTOCOL_ID);
    this.byte(VERSION | (type << TYPE_SHIFT));
    this.varint(seqid >>> 0);
    this.writeString(name);
  }

  writeStructBegin(): void {
    this.fieldIdStack.push(this.lastFieldId);
    this.lastFieldId = 0;
  }

  writeStructEnd(): void {
    this.lastFieldId = this.fieldIdStack.pop() ?? 0;
  }

  writeFieldBegin(type: number, id: number): void {
    if (type === TType.BOOL) {
      this.pendingBoolField = id;
      return;
    }
    this.fieldHeader(TO_COMPACT[type], id);
  }

  writeFieldStop(): void {
    this.byte(C.STOP);
  }

  writeBool(value: boolean): void {
    const compactType = value ? C.BOOL_TRUE : C.BOOL_FALSE;
    if (this.pendingBoolField >= 0) {
      this.fieldHeader(compactType, this.pendingBoolField);
      this.pendingBoolField = -1;
    } else {
      this.byte(compactType);
    }
  }

  writeByte(value: number): void {
    this.byte(value & 0xff);
  }

  writeI16(value: number): void {
    this.zigzag(value);
  }

  writeI32(value: number): void {
    this.zigzag(value | 0);
  }

  writeI64(value: number): void {
    this.zigzag(value);
  }

  writeDouble(value: number): void {
    const out = this.out;
    out.ensure(8);
    out.buf.writeDoubleLE(value, out.pos);
    out.pos += 8;
  }

  writeString(value: string): void {
    const out = this.out;
    out.ensure(5 + value.length * 3);
    const bytes = Buffer.byteLength(value, 'utf8');
    this.varint(bytes);
    out.pos += out.buf.write(value, out.pos, 'utf8');
  }

  writeListBegin(elementType: number, size: number): void {
    const compactType = TO_COMPACT[elementType];
    if (size < 15) {
      this.byte((size << 4) | compactType);
    } else {
      this.byte(0xf0 | compactType);
      this.varint(size);
    }
  }

  private fieldHeader(compactType: number, id: number): void {
    const delta = id - this.lastFieldId;
    if (delta > 0 && delta <= 15) {
      this.byte((delta << 4) | compactType);
    } else {
      this.byte(compactType);
      this.zigzag(id);
    }
    this.lastFieldId = id;
  }

  private byte(value: number): void {
    const out = this.out;
    out.ensure(1);
    out.buf[out.pos++] = value;
  }

  /** An unsigned varint of a non-negative integer below 2^53. */
  private varint(value: number): void {
    const out = this.out;
    out.ensure(10);
    while (value >= 128) {
      out.buf[out.pos++] = (value % 128) | 0x80;
      value = Math.floor(value / 128);
    }
    out.buf[out.pos++] = value;
  }

  private zigzag(value: number): void {
    this.varint(value >= 0 ? value * 2 : -value * 2 - 1);
  }
}

/** TCompactProtocol. */
export const compactProtocol: ProtocolFactory = {
  name: 'compact',
  createReader: (maxLength) => new CompactReader(maxLength),
  createWriter: (out) => new CompactWriter(out),
};
