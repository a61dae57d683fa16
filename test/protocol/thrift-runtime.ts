/**
 * Conformance helpers: the npm `thrift` runtime's protocols over in-memory buffers, and one value
 * model written and read both by the runtime and by lockd's protocols, so each side can check the
 * other. (Not a test file: shared by binary.test.ts and compact.test.ts.)
 */
import { OutputBuffer } from '../../src/util/output-buffer';
import { MessageHeader, ProtocolFactory, ProtocolReader, ProtocolWriter, TType, Underrun } from '../../src/protocol/types';

// uuid 14 (a dependency of the runtime, used only for the UUID type) is ESM-only, which Jest's
// CommonJS loader cannot parse; Node itself loads it. The protocols here never touch UUIDs.
jest.mock('uuid', () => ({
  parse: () => {
    throw new Error('uuid is stubbed in protocol tests');
  },
  stringify: () => {
    throw new Error('uuid is stubbed in protocol tests');
  },
}));

/* eslint-disable @typescript-eslint/no-explicit-any */
// The runtime is plain JavaScript (and @types/thrift describes 0.10): typed loosely on purpose.
export const thrift: any = require('thrift');
export const genTypes: any = require('../../gen-nodejs/lock_service_types');

export type RuntimeProtocolClass = new (transport: any, ...rest: any[]) => any;

/** Bytes the runtime writes: `write` drives a runtime protocol over a TBufferedTransport. */
export function runtimeWrite(Protocol: RuntimeProtocolClass, write: (p: any) => void, ...protocolArgs: unknown[]): Buffer {
  let bytes = Buffer.alloc(0);
  const transport = new thrift.TBufferedTransport(undefined, (msg: Buffer) => {
    bytes = Buffer.concat([bytes, msg]);
  });
  write(new Protocol(transport, ...protocolArgs));
  transport.flush();
  return bytes;
}

/** A runtime protocol reading `bytes` (the way TBufferedTransport.receiver fills its buffer). */
export function runtimeReader(Protocol: RuntimeProtocolClass, bytes: Buffer): any {
  const transport = new thrift.TBufferedTransport();
  transport.inBuf = Buffer.from(bytes);
  transport.readCursor = 0;
  transport.writeCursor = bytes.length;
  const protocol = new Protocol(transport);
  protocol.bytesLeft = () => transport.writeCursor - transport.readCursor;
  return protocol;
}

/** Bytes lockd's writer produces (starting from a tiny OutputBuffer, so growth is exercised). */
export function oursWrite(protocol: ProtocolFactory, write: (w: ProtocolWriter) => void): Buffer {
  const out = new OutputBuffer(8);
  write(protocol.createWriter(out));
  return out.take();
}

/** A reader of lockd's over `bytes`, placed inside a larger buffer with junk on both sides. */
export function oursReader(protocol: ProtocolFactory, bytes: Buffer, maxLength = 1 << 24, end = bytes.length): ProtocolReader {
  const padded = Buffer.concat([Buffer.from([0xff, 0x0c, 0x8b]), bytes, Buffer.from([0x1c, 0x80, 0xff, 0x01])]);
  const r = protocol.createReader(maxLength);
  r.reset(padded, 3, 3 + end);
  return r;
}

/** Relative offset of the reader, for readers built by oursReader. */
export function consumed(r: ProtocolReader): number {
  return r.offset - 3;
}

/** What `fn` threw (undefined if nothing). */
export function thrown(fn: () => unknown): unknown {
  try {
    fn();
  } catch (error) {
    return error;
  }
  return undefined;
}

export function isUnderrun(error: unknown): boolean {
  return error === Underrun.instance;
}

// ---- The value model ----

export interface FieldValue {
  id: number;
  type: number;
  value: Value;
}
export interface StructValue {
  fields: FieldValue[];
}
export interface ListValue {
  elem: number;
  items: Value[];
}
export interface MapValue {
  key: number;
  val: number;
  entries: Array<[Value, Value]>;
}
export type Value = boolean | number | string | StructValue | ListValue | MapValue;

export const field = (id: number, type: number, value: Value): FieldValue => ({ id, type, value });
export const struct = (...fields: FieldValue[]): StructValue => ({ fields });
export const list = (elem: number, items: Value[]): ListValue => ({ elem, items });
export const map = (key: number, val: number, entries: Array<[Value, Value]>): MapValue => ({ key, val, entries });

/** Writes a value with a runtime protocol. */
export function runtimeWriteValue(p: any, type: number, v: Value): void {
  switch (type) {
    case TType.BOOL: p.writeBool(v); return;
    case TType.BYTE: p.writeByte(v); return;
    case TType.I16: p.writeI16(v); return;
    case TType.I32: p.writeI32(v); return;
    case TType.I64: p.writeI64(new thrift.Int64(v as number)); return;
    case TType.DOUBLE: p.writeDouble(v); return;
    case TType.STRING: p.writeString(v); return;
    case TType.STRUCT: {
      p.writeStructBegin('S');
      for (const f of (v as StructValue).fields) {
        p.writeFieldBegin(`f${f.id}`, f.type, f.id);
        runtimeWriteValue(p, f.type, f.value);
        p.writeFieldEnd();
      }
      p.writeFieldStop();
      p.writeStructEnd();
      return;
    }
    case TType.LIST:
    case TType.SET: {
      const l = v as ListValue;
      if (type === TType.LIST) p.writeListBegin(l.elem, l.items.length);
      else p.writeSetBegin(l.elem, l.items.length);
      for (const item of l.items) runtimeWriteValue(p, l.elem, item);
      if (type === TType.LIST) p.writeListEnd();
      else p.writeSetEnd();
      return;
    }
    case TType.MAP: {
      const m = v as MapValue;
      p.writeMapBegin(m.key, m.val, m.entries.length);
      for (const [k, val] of m.entries) {
        runtimeWriteValue(p, m.key, k);
        runtimeWriteValue(p, m.val, val);
      }
      p.writeMapEnd();
      return;
    }
    default:
      throw new Error(`no such type ${type}`);
  }
}

/** Reads a value with a runtime protocol (i64 as a number: the model keeps them safe). */
export function runtimeReadValue(p: any, type: number): Value {
  switch (type) {
    case TType.BOOL: return p.readBool();
    case TType.BYTE: return p.readByte();
    case TType.I16: return p.readI16();
    case TType.I32: return p.readI32();
    case TType.I64: return Number(thrift.toBigInt(p.readI64()));
    case TType.DOUBLE: return p.readDouble();
    case TType.STRING: return p.readString();
    case TType.STRUCT: {
      const fields: FieldValue[] = [];
      p.readStructBegin();
      for (;;) {
        const { ftype, fid } = p.readFieldBegin();
        if (ftype === TType.STOP) break;
        fields.push(field(fid, ftype, runtimeReadValue(p, ftype)));
        p.readFieldEnd();
      }
      p.readStructEnd();
      return { fields };
    }
    case TType.LIST:
    case TType.SET: {
      const { etype, size } = type === TType.LIST ? p.readListBegin() : p.readSetBegin();
      const items: Value[] = [];
      for (let i = 0; i < size; i++) items.push(runtimeReadValue(p, etype));
      return list(etype, items);
    }
    case TType.MAP: {
      const { ktype, vtype, size } = p.readMapBegin();
      const entries: Array<[Value, Value]> = [];
      for (let i = 0; i < size; i++) entries.push([runtimeReadValue(p, ktype), runtimeReadValue(p, vtype)]);
      return map(ktype, vtype, entries);
    }
    default:
      throw new Error(`no such type ${type}`);
  }
}

/** Writes a value with one of lockd's writers (which write structs, lists and scalars only). */
export function oursWriteValue(w: ProtocolWriter, type: number, v: Value): void {
  switch (type) {
    case TType.BOOL: w.writeBool(v as boolean); return;
    case TType.BYTE: w.writeByte(v as number); return;
    case TType.I16: w.writeI16(v as number); return;
    case TType.I32: w.writeI32(v as number); return;
    case TType.I64: w.writeI64(v as number); return;
    case TType.DOUBLE: w.writeDouble(v as number); return;
    case TType.STRING: w.writeString(v as string); return;
    case TType.STRUCT: {
      w.writeStructBegin();
      for (const f of (v as StructValue).fields) {
        w.writeFieldBegin(f.type, f.id);
        oursWriteValue(w, f.type, f.value);
      }
      w.writeFieldStop();
      w.writeStructEnd();
      return;
    }
    case TType.LIST: {
      const l = v as ListValue;
      w.writeListBegin(l.elem, l.items.length);
      for (const item of l.items) oursWriteValue(w, l.elem, item);
      return;
    }
    default:
      throw new Error(`lockd's writers have no type ${type}`);
  }
}

/** Reads a value with one of lockd's readers. */
export function oursReadValue(r: ProtocolReader, type: number): Value {
  switch (type) {
    case TType.BOOL: return r.readBool();
    case TType.BYTE: return r.readByte();
    case TType.I16: return r.readI16();
    case TType.I32: return r.readI32();
    case TType.I64: return r.readI64();
    case TType.DOUBLE: return r.readDouble();
    case TType.STRING: return r.readString();
    case TType.STRUCT: {
      const fields: FieldValue[] = [];
      r.readStructBegin();
      for (;;) {
        const fieldType = r.readFieldBegin();
        if (fieldType === TType.STOP) break;
        const id = r.fieldId;
        fields.push(field(id, fieldType, oursReadValue(r, fieldType)));
      }
      r.readStructEnd();
      return { fields };
    }
    case TType.LIST:
    case TType.SET: {
      const elem = type === TType.LIST ? r.readListBegin() : r.readSetBegin();
      const items: Value[] = [];
      for (let i = r.containerSize; i > 0; i--) items.push(oursReadValue(r, elem));
      return list(elem, items);
    }
    case TType.MAP: {
      const key = r.readMapBegin();
      const val = r.mapValueType;
      const entries: Array<[Value, Value]> = [];
      for (let i = r.containerSize; i > 0; i--) entries.push([oursReadValue(r, key), oursReadValue(r, val)]);
      return map(key, val, entries);
    }
    default:
      throw new Error(`no such type ${type}`);
  }
}

/** The model as the compact protocol carries it: an empty map has no key and value types. */
export function withoutEmptyMapTypes(type: number, v: Value): Value {
  switch (type) {
    case TType.STRUCT:
      return { fields: (v as StructValue).fields.map((f) => field(f.id, f.type, withoutEmptyMapTypes(f.type, f.value))) };
    case TType.LIST:
    case TType.SET: {
      const l = v as ListValue;
      return list(l.elem, l.items.map((item) => withoutEmptyMapTypes(l.elem, item)));
    }
    case TType.MAP: {
      const m = v as MapValue;
      if (m.entries.length === 0) return map(TType.STOP, TType.STOP, []);
      return map(m.key, m.val, m.entries.map(([k, val]) => [withoutEmptyMapTypes(m.key, k), withoutEmptyMapTypes(m.val, val)]));
    }
    default:
      return v;
  }
}

/** Whether the model uses only what lockd's writers can write (no sets, no maps). */
export function writableByOurs(type: number, v: Value): boolean {
  switch (type) {
    case TType.SET:
    case TType.MAP:
      return false;
    case TType.STRUCT:
      return (v as StructValue).fields.every((f) => writableByOurs(f.type, f.value));
    case TType.LIST:
      return (v as ListValue).items.every((item) => writableByOurs((v as ListValue).elem, item));
    default:
      return true;
  }
}

/** Reads a whole message (header and one struct) with one of lockd's readers. */
export function oursReadMessage(r: ProtocolReader): { header: MessageHeader; body: Value } {
  const header: MessageHeader = { name: '', type: 0, seqid: 0 };
  r.readMessageBegin(header);
  return { header, body: oursReadValue(r, TType.STRUCT) };
}

// ---- Shared fixtures ----

export const I64_VALUES = [
  0, 1, -1, 63, -64, 64, -65, 2 ** 31 - 1, -(2 ** 31), 2 ** 31, -(2 ** 31) - 1, 2 ** 32, -(2 ** 32), 2 ** 32 + 1,
  2 ** 52, -(2 ** 52), 2 ** 52 + 1, -(2 ** 52) - 1, Number.MAX_SAFE_INTEGER, -Number.MAX_SAFE_INTEGER, 2 ** 53, -(2 ** 53),
  1_700_000_000_123, -1_700_000_000_123, 86_400_000,
];

export const STRINGS = [
  '',
  'a',
  'lock/orders/42',
  'ключ ✓ 😀 日本語 ñ',
  'x'.repeat(42),
  'x'.repeat(43),
  '✓'.repeat(42),
  '✓'.repeat(43),
  '😀'.repeat(21),
  'é'.repeat(64),
  'long '.repeat(20_000) + 'é',
];

/** A struct using every type, field ids that need both header forms, nesting and containers. */
export function everyTypeStruct(): StructValue {
  const inner = (n: number): StructValue =>
    struct(field(1, TType.STRING, `inner-${n}`), field(2, TType.I64, -1 - n * 1_000_000_007), field(3, TType.BOOL, n % 2 === 0), field(40, TType.I32, n));
  return struct(
    field(1, TType.BOOL, true),
    field(2, TType.BOOL, false),
    field(3, TType.BYTE, -128),
    field(4, TType.BYTE, 127),
    field(5, TType.I16, -32768),
    field(6, TType.I16, 32767),
    field(7, TType.I32, -(2 ** 31)),
    field(8, TType.I32, 2 ** 31 - 1),
    field(9, TType.I32, -1),
    ...I64_VALUES.map((v, i) => field(20 + i * 3, TType.I64, v)),
    ...STRINGS.map((s, i) => field(100 + i, TType.STRING, s)),
    field(300, TType.DOUBLE, 1.5),
    field(301, TType.DOUBLE, -1e300),
    field(302, TType.DOUBLE, Number.MIN_VALUE),
    field(303, TType.DOUBLE, 2 ** -1030),
    field(304, TType.DOUBLE, Number.MAX_VALUE),
    field(305, TType.DOUBLE, Infinity),
    field(306, TType.DOUBLE, -Infinity),
    field(307, TType.DOUBLE, Math.PI),
    // Ids going down, negative ids, the i16 extremes, and a bool with a long-form header.
    field(10, TType.STRING, 'back to ten'),
    field(-1, TType.I32, 7),
    field(-32768, TType.BOOL, true),
    field(32767, TType.BOOL, false),
    field(-5, TType.BOOL, true),
    field(11, TType.STRUCT, inner(0)),
    // The outer struct's delta continues from 11 after the nested struct's own ids.
    field(12, TType.BOOL, true),
    field(13, TType.STRUCT, struct(field(15, TType.STRUCT, struct(field(1, TType.STRUCT, struct()))), field(31, TType.BOOL, false))),
    field(14, TType.LIST, list(TType.STRUCT, [inner(1), inner(2), inner(3)])),
    field(15, TType.LIST, list(TType.BOOL, [true, false, true, true, false])),
    field(16, TType.LIST, list(TType.I64, I64_VALUES)),
    field(17, TType.LIST, list(TType.STRING, [])),
    field(18, TType.LIST, list(TType.LIST, [list(TType.I32, [1, -2, 3]), list(TType.I32, []), list(TType.BYTE, Array.from({ length: 15 }, (_, i) => i - 7))])),
    field(19, TType.LIST, list(TType.DOUBLE, [0.25, -2.5])),
    field(33, TType.LIST, list(TType.BOOL, Array.from({ length: 15 }, (_, i) => i % 3 === 0))),
    field(34, TType.LIST, list(TType.STRUCT, Array.from({ length: 14 }, (_, i) => inner(i)))),
    field(35, TType.LIST, list(TType.I16, Array.from({ length: 300 }, (_, i) => i * 97 - 15000))),
    field(50, TType.SET, list(TType.STRING, ['a', 'b', 'ключ'])),
    field(51, TType.SET, list(TType.I32, [])),
    field(52, TType.MAP, map(TType.STRING, TType.I64, [['one', 1], ['minus', -(2 ** 40)]])),
    field(53, TType.MAP, map(TType.I32, TType.STRING, [])),
    field(54, TType.MAP, map(TType.I16, TType.STRUCT, [[3, inner(3)], [-4, inner(4)]])),
    field(55, TType.MAP, map(TType.STRING, TType.LIST, [['bools', list(TType.BOOL, [false, true])]])),
    field(56, TType.MAP, map(TType.BOOL, TType.MAP, [[true, map(TType.I64, TType.DOUBLE, [[5, 0.5]])], [false, map(TType.BYTE, TType.BOOL, [])]])),
    field(57, TType.STRUCT, struct()),
    field(58, TType.BOOL, false),
  );
}

/** The every-type struct with sets and maps left out (what lockd's writers can produce). */
export function everyTypeStructOursCanWrite(): StructValue {
  return { fields: everyTypeStruct().fields.filter((f) => writableByOurs(f.type, f.value)) };
}

/**
 * Checks that lockd's reader can skip a struct of every type the runtime writes (with
 * `Protocol`), and lands exactly on the fields after it.
 */
export function expectSkipPassesOverEveryType(Protocol: RuntimeProtocolClass, reader: (bytes: Buffer) => ProtocolReader): void {
  const bytes = runtimeWrite(Protocol, (p) =>
    runtimeWriteValue(p, TType.STRUCT, struct(field(1, TType.STRUCT, everyTypeStruct()), field(2, TType.BOOL, true), field(3, TType.STRING, 'after'))),
  );
  const r = reader(bytes);
  r.readStructBegin();
  expect(r.readFieldBegin()).toBe(TType.STRUCT);
  r.skip(TType.STRUCT);
  expect(r.readFieldBegin()).toBe(TType.BOOL);
  r.skip(TType.BOOL);
  expect([r.readFieldBegin(), r.fieldId, r.readString()]).toEqual([TType.STRING, 3, 'after']);
  expect(r.readFieldBegin()).toBe(TType.STOP);
  r.readStructEnd();
  expect(consumed(r)).toBe(bytes.length);
}

/**
 * Checks that the generated LockRequest (read with the runtime's `Protocol`) reads a request
 * lockd's writer of `protocol` produces, skipping a field it does not know.
 */
export function expectGeneratedLockRequestReadsOurs(protocol: ProtocolFactory, Protocol: RuntimeProtocolClass): void {
  const ours = oursWrite(protocol, (w) => {
    w.writeStructBegin();
    w.writeFieldBegin(TType.STRING, 1);
    w.writeString('orders/42');
    w.writeFieldBegin(TType.I64, 3);
    w.writeI64(86_400_000);
    w.writeFieldBegin(TType.I64, 4);
    w.writeI64(-1);
    w.writeFieldBegin(TType.I32, 5);
    w.writeI32(1);
    w.writeFieldBegin(TType.BOOL, 7);
    w.writeBool(true);
    w.writeFieldBegin(TType.STRING, 99); // unknown to LockRequest: skipped by the generated reader
    w.writeString('extra');
    w.writeFieldStop();
    w.writeStructEnd();
  });
  const request = new genTypes.LockRequest();
  request.read(runtimeReader(Protocol, ours));
  expect(request.lockKey).toBe('orders/42');
  expect(request.owner).toBeNull();
  expect(Number(thrift.toBigInt(request.ttlMs))).toBe(86_400_000);
  expect(Number(thrift.toBigInt(request.waitMs))).toBe(-1);
  expect(request.mode).toBe(1);
  expect(request.ephemeral).toBe(true);
}
