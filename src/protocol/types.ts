/**
 * The Thrift protocol vocabulary lockd's codec is written against. Two implementations exist:
 * binary (TBinaryProtocol) and compact (TCompactProtocol); both read from one Buffer window and
 * write into an OutputBuffer, so the service codec is written once for both.
 */
import type { OutputBuffer } from '../util/output-buffer';
import type { MessageScanner } from './message-scanner';

/** Thrift field and element types (the TType enumeration shared by every Thrift language). */
export const TType = {
  STOP: 0,
  VOID: 1,
  BOOL: 2,
  BYTE: 3,
  DOUBLE: 4,
  I16: 6,
  I32: 8,
  I64: 10,
  STRING: 11,
  STRUCT: 12,
  MAP: 13,
  SET: 14,
  LIST: 15,
} as const;

/** Thrift message types. */
export const MessageType = { CALL: 1, REPLY: 2, EXCEPTION: 3, ONEWAY: 4 } as const;

/** TApplicationException types (the standard Thrift ones). */
export const ApplicationErrorType = {
  UNKNOWN: 0,
  UNKNOWN_METHOD: 1,
  INVALID_MESSAGE_TYPE: 2,
  WRONG_METHOD_NAME: 3,
  BAD_SEQUENCE_ID: 4,
  MISSING_RESULT: 5,
  INTERNAL_ERROR: 6,
  PROTOCOL_ERROR: 7,
} as const;

/**
 * Thrown (as one shared instance, without a stack) when the bytes at hand end inside a message:
 * the caller keeps them and parses again from the message start when more arrive.
 */
export class Underrun extends Error {
  static readonly instance = new Underrun();
  private constructor() {
    super('incomplete message');
    this.stack = undefined;
  }
}

/** Filled by readMessageBegin; reused so reading a header allocates only the name. */
export interface MessageHeader {
  name: string;
  type: number;
  seqid: number;
}

/**
 * Reads Thrift values from buf[start, end). Throws Underrun when the window ends too early and
 * ProtocolError when the bytes are malformed or a declared length exceeds `maxLength`.
 */
export interface ProtocolReader {
  /** Points the reader at buf[start, end); resets any per-message state. */
  reset(buf: Buffer, start: number, end: number): void;
  /** Offset of the next unread byte in the buffer. */
  readonly offset: number;
  /** Largest string, binary or container length accepted. */
  maxLength: number;
  /** Field id of the last readFieldBegin. */
  readonly fieldId: number;
  /** Element count of the last readListBegin / readSetBegin / readMapBegin. */
  readonly containerSize: number;
  /** True when the last readString's bytes were valid UTF-8. */
  readonly lastStringValid: boolean;

  readMessageBegin(into: MessageHeader): void;
  readStructBegin(): void;
  readStructEnd(): void;
  /** Returns the field's TType, or TType.STOP after the last field. */
  readFieldBegin(): number;
  readBool(): boolean;
  readByte(): number;
  readI16(): number;
  readI32(): number;
  /** i64 as a JS number: exact up to 2^53; larger values lose precision (and fail range checks). */
  readI64(): number;
  readDouble(): number;
  /** UTF-8 text; invalid sequences become U+FFFD and set lastStringValid = false. */
  readString(): string;
  readBinary(): Buffer;
  /** Returns the element TType; count in containerSize. */
  readListBegin(): number;
  readSetBegin(): number;
  /** Returns the key TType; the value TType in mapValueType; count in containerSize. */
  readMapBegin(): number;
  readonly mapValueType: number;
  /** Skips one value of the given type (depth-limited against hostile nesting). */
  skip(type: number): void;
}

/** Writes Thrift values into an OutputBuffer. */
export interface ProtocolWriter {
  readonly out: OutputBuffer;
  writeMessageBegin(name: string, type: number, seqid: number): void;
  writeStructBegin(): void;
  writeStructEnd(): void;
  writeFieldBegin(type: number, id: number): void;
  writeFieldStop(): void;
  writeBool(value: boolean): void;
  writeByte(value: number): void;
  writeI16(value: number): void;
  writeI32(value: number): void;
  /** Writes a safe integer as i64. */
  writeI64(value: number): void;
  writeDouble(value: number): void;
  writeString(value: string): void;
  writeListBegin(elementType: number, size: number): void;
}

/** Builds a reader and writer pair for one connection. */
export interface ProtocolFactory {
  readonly name: 'binary' | 'compact';
  createReader(maxLength: number): ProtocolReader;
  createWriter(out: OutputBuffer): ProtocolWriter;
  /** A scanner that finds where a message ends as its bytes trickle in (see message-scanner.ts). */
  createScanner(maxLength: number): MessageScanner;
}
