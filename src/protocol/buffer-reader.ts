/**
 * What the binary and compact readers share: the Buffer window, the per-field state the codec
 * reads, and strings, binaries and skipping, written once over each protocol's `readLength`.
 */
import { isUtf8 } from 'node:buffer';
import { ProtocolError } from '../errors';
import { MessageHeader, ProtocolReader, TType, Underrun } from './types';

const MAX_SKIP_DEPTH = 64;
const REPLACEMENT_CHAR = '\uFFFD';

export abstract class BufferReader implements ProtocolReader {
  protected buf: Buffer = Buffer.alloc(0);
  protected pos = 0;
  protected end = 0;
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

  /** Reads a string or binary length prefix, refusing one above maxLength. */
  protected abstract readLength(what: string): number;

  /** Throws Underrun unless `bytes` more bytes are in the window. */
  protected need(bytes: number): void {
    if (this.pos + bytes > this.end) throw Underrun.instance;
  }

  /** Throws ProtocolError for a negative length or one above maxLength. */
  protected checkLength(length: number, what: string): void {
    if (length < 0) throw new ProtocolError(`negative ${what} length ${length}`);
    if (length > this.maxLength) {
      throw new ProtocolError(`${what} length ${length} exceeds the maximum message size ${this.maxLength}`);
    }
  }

  readString(): string {
    const length = this.readLength('string');
    this.need(length);
    const start = this.pos;
    this.pos += length;
    const text = this.buf.toString('utf8', start, this.pos);
    // Node replaces invalid UTF-8 with U+FFFD, so the bytes are only checked when it shows up.
    this.lastStringValid = !text.includes(REPLACEMENT_CHAR) || isUtf8(this.buf.subarray(start, this.pos));
    return text;
  }

  readBinary(): Buffer {
    const length = this.readLength('binary');
    this.need(length);
    const bytes = Buffer.from(this.buf.subarray(this.pos, this.pos + length));
    this.pos += length;
    return bytes;
  }

  skip(type: number): void {
    this.skipValue(type, 0);
  }

  private skipValue(type: number, depth: number): void {
    if (depth > MAX_SKIP_DEPTH) throw new ProtocolError(`values nested deeper than ${MAX_SKIP_DEPTH}`);
    switch (type) {
      case TType.BOOL: this.readBool(); return;
      case TType.BYTE: this.readByte(); return;
      case TType.I16: this.readI16(); return;
      case TType.I32: this.readI32(); return;
      case TType.I64: this.readI64(); return;
      case TType.DOUBLE: this.readDouble(); return;
      case TType.STRING: {
        const length = this.readLength('binary');
        this.need(length);
        this.pos += length;
        return;
      }
      case TType.STRUCT: {
        this.readStructBegin();
        for (;;) {
          const fieldType = this.readFieldBegin();
          if (fieldType === TType.STOP) break;
          this.skipValue(fieldType, depth + 1);
        }
        this.readStructEnd();
        return;
      }
      case TType.MAP: {
        const keyType = this.readMapBegin();
        const valueType = this.mapValueType;
        for (let i = this.containerSize; i > 0; i--) {
          this.skipValue(keyType, depth + 1);
          this.skipValue(valueType, depth + 1);
        }
        return;
      }
      case TType.SET:
      case TType.LIST: {
        const elementType = type === TType.LIST ? this.readListBegin() : this.readSetBegin();
        for (let i = this.containerSize; i > 0; i--) this.skipValue(elementType, depth + 1);
        return;
      }
      default:
        throw new ProtocolError(`unknown field type ${type}`);
    }
  }

  abstract readMessageBegin(into: MessageHeader): void;
  abstract readStructBegin(): void;
  abstract readStructEnd(): void;
  abstract readFieldBegin(): number;
  abstract readBool(): boolean;
  abstract readByte(): number;
  abstract readI16(): number;
  abstract readI32(): number;
  abstract readI64(): number;
  abstract readDouble(): number;
  abstract readListBegin(): number;
  abstract readSetBegin(): number;
  abstract readMapBegin(): number;
}
