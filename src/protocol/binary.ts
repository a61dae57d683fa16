/** TBinaryProtocol: big-endian fixed-width integers, length-prefixed strings, strict message headers. */
import { isUtf8 } from 'node:buffer';
import { ProtocolError } from '../errors';
import type { OutputBuffer } from './output-buffer';
import { MessageHeader, ProtocolFactory, ProtocolReader, ProtocolWriter, TType, Underrun } from './types';

const VERSION_1 = 0x80010000 | 0;
const VERSION_MASK = 0xffff0000 | 0;
const MAX_SKIP_DEPTH = 64;
const REPLACEMENT_CHAR = '\uFFFD';

/**
 * Whether `text`, decoded from buf[start, end), came from valid UTF-8. Node replaces invalid
 * sequences with U+FFFD, so the bytes are only checked when that character shows up.
 */
export function decodedValidUtf8(text: string, buf: Buffer, start: number, end: number): boolean {
  return !text.includes(REPLACEMENT_CHAR) || isUtf8(buf.subarray(start, end));
}

export class BinaryReader implements ProtocolReader {
  private buf: Buffer = Buffer.alloc(0);
  private pos = 0;
  private end = 0;
  fieldId = 0;
  containerSize = 0;
  mapValueType = 0;
  lastStringValid = true;

  constructor(public maxLength: number) {}

  reset(buf: Buffer, start: number, end: number): void {
    this.buf = buf;
    this.pos = start;
    this.end = end;
  }

  get offset(): number {
    return this.pos;
  }

  private need(bytes: number): void {
    if (this.pos + bytes > this.end) throw Underrun.instance;
  }

  private checkLength(length: number, what: string): void {
    if (length < 0) throw new ProtocolError(`negative ${what} length ${length}`);
    if (length > this.maxLength) {
      throw new ProtocolError(`${what} length ${length} exceeds the maximum message size ${this.maxLength}`);
    }
  }

  readMessageBegin(into: MessageHeader): void {
    const first = this.readI32();
    if (first < 0) {
      if ((first & VERSION_MASK) !== VERSION_1) throw new ProtocolError(`bad binary protocol version 0x${(first >>> 0).toString(16)}`);
      into.type = first & 0xff;
      into.name = this.readString();
      into.seqid = this.readI32();
    } else {
      // Old non-strict header: the name's length comes first.
      this.checkLength(first, 'method name');
      this.need(first);
      into.name = this.buf.toString('utf8', this.pos, this.pos + first);
      this.pos += first;
      into.type = this.readByte();
      into.seqid = this.readI32();
    }
  }

  readStructBegin(): void {}
  readStructEnd(): void {}

  readFieldBegin(): number {
    const type = this.readByte();
    if (type === TType.STOP) return type;
    this.fieldId = this.readI16();
    return type;
  }

  readBool(): boolean {
    return this.readByte() !== 0;
  }

  readByte(): number {
    this.need(1);
    return this.buf.readInt8(this.pos++);
  }

  readI16(): number {
    this.need(2);
    const value = this.buf.readInt16BE(this.pos);
    this.pos += 2;
    return value;
  }

  readI32(): number {
    this.need(4);
    const value = this.buf.readInt32BE(this.pos);
    this.pos += 4;
    return value;
  }

  readI64(): number {
    this.need(8);
    const high = this.buf.readInt32BE(this.pos);
    const low = this.buf.readUInt32BE(this.pos + 4);
    this.pos += 8;
    return high * 4294967296 + low;
  }

  readDouble(): number {
    this.need(8);
    const value = this.buf.readDoubleBE(this.pos);
    this.pos += 8;
    return value;
  }

  readString(): string {
    const length = this.readI32();
    this.checkLength(length, 'string');
    this.need(length);
    const start = this.pos;
    this.pos += length;
    const text = this.buf.toString('utf8', start, this.pos);
    this.lastStringValid = decodedValidUtf8(text, this.buf, start, this.pos);
    return text;
  }

  readBinary(): Buffer {
    const length = this.readI32();
    this.checkLength(length, 'binary');
    this.need(length);
    const bytes = Buffer.from(this.buf.subarray(this.pos, this.pos + length));
    this.pos += length;
    return bytes;
  }

  readListBegin(): number {
    const type = this.readByte();
    const size = this.readI32();
    this.checkLength(size, 'list');
    this.containerSize = size;
    return type;
  }

  readSetBegin(): number {
    return this.readListBegin();
  }

  readMapBegin(): number {
    const keyType = this.readByte();
    this.mapValueType = this.readByte();
    const size = this.readI32();
    this.checkLength(size, 'map');
    this.containerSize = size;
    return keyType;
  }

  skip(type: number): void {
    skipValue(this, type, 0);
  }
}

/** Skips one value with any ProtocolReader; shared by binary and compact. */
export function skipValue(reader: ProtocolReader, type: number, depth: number): void {
  if (depth > MAX_SKIP_DEPTH) throw new ProtocolError(`values nested deeper than ${MAX_SKIP_DEPTH}`);
  switch (type) {
    case TType.BOOL: reader.readBool(); return;
    case TType.BYTE: reader.readByte(); return;
    case TType.I16: reader.readI16(); return;
    case TType.I32: reader.readI32(); return;
    case TType.I64: reader.readI64(); return;
    case TType.DOUBLE: reader.readDouble(); return;
    case TType.STRING: reader.readBinary(); return;
    case TType.STRUCT: {
      reader.readStructBegin();
      for (;;) {
        const fieldType = reader.readFieldBegin();
        if (fieldType === TType.STOP) break;
        skipValue(reader, fieldType, depth + 1);
      }
      reader.readStructEnd();
      return;
    }
    case TType.MAP: {
      const keyType = reader.readMapBegin();
      const valueType = reader.mapValueType;
      for (let i = reader.containerSize; i > 0; i--) {
        skipValue(reader, keyType, depth + 1);
        skipValue(reader, valueType, depth + 1);
      }
      return;
    }
    case TType.SET:
    case TType.LIST: {
      const elementType = type === TType.LIST ? reader.readListBegin() : reader.readSetBegin();
      for (let i = reader.containerSize; i > 0; i--) skipValue(reader, elementType, depth + 1);
      return;
    }
    default:
      throw new ProtocolError(`unknown field type ${type}`);
  }
}

export class BinaryWriter implements ProtocolWriter {
  constructor(readonly out: OutputBuffer) {}

  writeMessageBegin(name: string, type: number, seqid: number): void {
    this.writeI32(VERSION_1 | type);
    this.writeString(name);
    this.writeI32(seqid);
  }

  writeStructBegin(): void {}
  writeStructEnd(): void {}

  writeFieldBegin(type: number, id: number): void {
    const out = this.out;
    out.ensure(3);
    out.buf[out.pos] = type;
    out.buf.writeInt16BE(id, out.pos + 1);
    out.pos += 3;
  }

  writeFieldStop(): void {
    this.writeByte(TType.STOP);
  }

  writeBool(value: boolean): void {
    this.writeByte(value ? 1 : 0);
  }

  writeByte(value: number): void {
    const out = this.out;
    out.ensure(1);
    out.buf[out.pos++] = value & 0xff;
  }

  writeI16(value: number): void {
    const out = this.out;
    out.ensure(2);
    out.buf.writeInt16BE(value, out.pos);
    out.pos += 2;
  }

  writeI32(value: number): void {
    const out = this.out;
    out.ensure(4);
    out.buf.writeInt32BE(value | 0, out.pos);
    out.pos += 4;
  }

  writeI64(value: number): void {
    const out = this.out;
    out.ensure(8);
    const high = Math.floor(value / 4294967296);
    out.buf.writeInt32BE(high | 0, out.pos);
    out.buf.writeUInt32BE((value - high * 4294967296) >>> 0, out.pos + 4);
    out.pos += 8;
  }

  writeDouble(value: number): void {
    const out = this.out;
    out.ensure(8);
    out.buf.writeDoubleBE(value, out.pos);
    out.pos += 8;
  }

  writeString(value: string): void {
    const out = this.out;
    // Latin-1 fast path for the common ASCII case would need a scan; Buffer.write is already native.
    const maxBytes = value.length * 3;
    out.ensure(4 + maxBytes);
    const written = out.buf.write(value, out.pos + 4, 'utf8');
    out.buf.writeInt32BE(written, out.pos);
    out.pos += 4 + written;
  }

  writeListBegin(elementType: number, size: number): void {
    this.writeByte(elementType);
    this.writeI32(size);
  }
}

/** TBinaryProtocol. */
export const binaryProtocol: ProtocolFactory = {
  name: 'binary',
  createReader: (maxLength) => new BinaryReader(maxLength),
  createWriter: (out) => new BinaryWriter(out),
};
