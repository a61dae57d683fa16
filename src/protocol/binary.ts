/** TBinaryProtocol: big-endian fixed-width integers, length-prefixed strings, strict message headers. */
import { ProtocolError } from '../errors';
import { BufferReader } from './buffer-reader';
import type { OutputBuffer } from '../util/output-buffer';
import { BinaryScanner } from './message-scanner';
import { MessageHeader, ProtocolFactory, ProtocolWriter, TType } from './types';

const VERSION_1 = 0x80010000 | 0;
const VERSION_MASK = 0xffff0000 | 0;

export class BinaryReader extends BufferReader {
  protected readLength(what: string): number {
    const length = this.readI32();
    this.checkLength(length, what);
    return length;
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
  createScanner: (maxLength) => new BinaryScanner(maxLength),
};
