/**
 * TCompactProtocol conformance: lockd's reader and writer against the npm `thrift` runtime's
 * TCompactProtocol (each writes, the other reads, and the bytes must match), the spec's byte
 * layouts, and malformed input.
 */
import { ProtocolError } from '../../src/errors';
import { compactProtocol } from '../../src/protocol/compact';
import { MessageHeader, MessageType, ProtocolReader, TType } from '../../src/protocol/types';
import {
  expectGeneratedLockRequestReadsOurs,
  expectSkipPassesOverEveryType,
  consumed,
  everyTypeStruct,
  everyTypeStructOursCanWrite,
  field,
  genTypes,
  I64_VALUES,
  isUnderrun,
  list,
  oursReader,
  oursReadMessage,
  oursReadValue,
  oursWrite,
  oursWriteValue,
  runtimeReader,
  runtimeReadValue,
  runtimeWrite,
  runtimeWriteValue,
  STRINGS,
  struct,
  thrift,
  thrown,
  withoutEmptyMapTypes,
  ListValue,
  StructValue,
  Value,
} from './thrift-runtime';

const TCompactProtocol = thrift.TCompactProtocol;
const MESSAGE_TYPES = [MessageType.CALL, MessageType.REPLY, MessageType.EXCEPTION, MessageType.ONEWAY];
const SEQIDS = [0, 1, 127, 128, 16_383, 16_384, 2 ** 31 - 1, -1, -2, -(2 ** 31)];

function reader(bytes: Buffer | number[], maxLength = 1 << 24): ProtocolReader {
  return oursReader(compactProtocol, Buffer.from(bytes), maxLength);
}

/** Unsigned varint bytes of a bigint (for hand-built inputs). */
function varint(value: bigint): number[] {
  const bytes: number[] = [];
  do {
    const low = Number(value & 0x7fn);
    value >>= 7n;
    bytes.push(value > 0n ? low | 0x80 : low);
  } while (value > 0n);
  return bytes;
}

const hex = (b: Buffer): string => b.toString('hex');
const zigzag = (v: bigint): bigint => (v >= 0n ? v * 2n : -v * 2n - 1n);

/** thrift 0.24's compact readBool returns false for every bool inside a container (see the last test). */
function asTheRuntimeReadsIt(type: number, v: Value, inContainer = false): Value {
  if (type === TType.BOOL) return inContainer ? false : v;
  if (type === TType.STRUCT) return { fields: (v as StructValue).fields.map((f) => field(f.id, f.type, asTheRuntimeReadsIt(f.type, f.value))) };
  if (type === TType.LIST) {
    const l = v as ListValue;
    return list(l.elem, l.items.map((item) => asTheRuntimeReadsIt(l.elem, item, true)));
  }
  return v;
}

describe('runtime writes, lockd reads', () => {
  test('a struct of every type, ids in both header forms, nesting and containers', () => {
    const model = everyTypeStruct();
    const bytes = runtimeWrite(TCompactProtocol, (p) => runtimeWriteValue(p, TType.STRUCT, model));
    const r = reader(bytes);
    expect(oursReadValue(r, TType.STRUCT)).toEqual(withoutEmptyMapTypes(TType.STRUCT, model));
    expect(consumed(r)).toBe(bytes.length);
  });

  test('message headers of every type, seqid and name', () => {
    for (const type of MESSAGE_TYPES) {
      for (const seqid of SEQIDS) {
        for (const name of ['', 'acquire', 'méthode ✓', 'n'.repeat(200)]) {
          const bytes = runtimeWrite(TCompactProtocol, (p) => {
            p.writeMessageBegin(name, type, seqid);
            runtimeWriteValue(p, TType.STRUCT, struct(field(1, TType.I32, seqid)));
            p.writeMessageEnd();
          });
          const r = reader(bytes);
          expect(oursReadMessage(r)).toEqual({ header: { name, type, seqid }, body: struct(field(1, TType.I32, seqid)) });
          expect(consumed(r)).toBe(bytes.length);
        }
      }
    }
  });

  test('i64 beyond 2^53 keeps its sign and loses only precision', () => {
    const big = [2n ** 53n + 1n, -(2n ** 53n) - 1n, 2n ** 60n + 12345n, -(2n ** 60n) - 12345n, 2n ** 63n - 1n, -(2n ** 63n), 2n ** 62n, -(2n ** 62n) + 1n];
    for (const value of big) {
      const bytes = runtimeWrite(TCompactProtocol, (p) => p.writeI64(thrift.fromBigInt(value)));
      expect(bytes).toEqual(Buffer.from(varint(zigzag(value))));
      const read = reader(bytes).readI64();
      expect(Math.sign(read)).toBe(value > 0n ? 1 : -1);
      expect(read).toBe(Number(value)); // the nearest double
    }
  });

  test('the generated LockRequest, field by field', () => {
    const full = new genTypes.LockRequest({
      lockKey: 'orders/42 ✓',
      owner: 'wörker-7',
      ttlMs: new thrift.Int64(30_000),
      waitMs: new thrift.Int64(-1),
      mode: 2,
      token: 'f'.repeat(32),
      ephemeral: true,
    });
    let r = reader(runtimeWrite(TCompactProtocol, (p) => full.write(p)));
    r.readStructBegin();
    expect([r.readFieldBegin(), r.fieldId, r.readString()]).toEqual([TType.STRING, 1, 'orders/42 ✓']);
    expect([r.readFieldBegin(), r.fieldId, r.readString()]).toEqual([TType.STRING, 2, 'wörker-7']);
    expect([r.readFieldBegin(), r.fieldId, r.readI64()]).toEqual([TType.I64, 3, 30_000]);
    expect([r.readFieldBegin(), r.fieldId, r.readI64()]).toEqual([TType.I64, 4, -1]);
    expect([r.readFieldBegin(), r.fieldId, r.readI32()]).toEqual([TType.I32, 5, 2]);
    expect([r.readFieldBegin(), r.fieldId, r.readString()]).toEqual([TType.STRING, 6, 'f'.repeat(32)]);
    expect([r.readFieldBegin(), r.fieldId, r.readBool()]).toEqual([TType.BOOL, 7, true]);
    expect(r.readFieldBegin()).toBe(TType.STOP);
    r.readStructEnd();

    // Optional fields left out: the deltas jump, and a false bool rides in its header.
    const sparse = new genTypes.LockRequest({ lockKey: 'k', waitMs: new thrift.Int64(2 ** 40), ephemeral: false });
    const bytes = runtimeWrite(TCompactProtocol, (p) => sparse.write(p));
    expect(bytes).toEqual(Buffer.from([0x18, 1, 0x6b, 0x36, ...varint(zigzag(2n ** 40n)), 0x32, 0]));
    r = reader(bytes);
    r.readStructBegin();
    expect([r.readFieldBegin(), r.fieldId, r.readString()]).toEqual([TType.STRING, 1, 'k']);
    expect([r.readFieldBegin(), r.fieldId, r.readI64()]).toEqual([TType.I64, 4, 2 ** 40]);
    expect([r.readFieldBegin(), r.fieldId, r.readBool()]).toEqual([TType.BOOL, 7, false]);
    expect(r.readFieldBegin()).toBe(TType.STOP);
    r.readStructEnd();
    expect(consumed(r)).toBe(bytes.length);
  });

  test('skip passes over every type the runtime writes', () => expectSkipPassesOverEveryType(TCompactProtocol, reader));
});

describe('lockd writes: the same bytes as the runtime, and the runtime reads them', () => {
  test('a struct of every type lockd can write', () => {
    const model = everyTypeStructOursCanWrite();
    const ours = oursWrite(compactProtocol, (w) => oursWriteValue(w, TType.STRUCT, model));
    expect(hex(ours)).toBe(hex(runtimeWrite(TCompactProtocol, (p) => runtimeWriteValue(p, TType.STRUCT, model))));
    const p = runtimeReader(TCompactProtocol, ours);
    expect(runtimeReadValue(p, TType.STRUCT)).toEqual(asTheRuntimeReadsIt(TType.STRUCT, model));
    expect(p.bytesLeft()).toBe(0);
    const r = reader(ours);
    expect(oursReadValue(r, TType.STRUCT)).toEqual(model);
    expect(consumed(r)).toBe(ours.length);
  });

  test('message headers of every type, seqid and name', () => {
    for (const type of MESSAGE_TYPES) {
      for (const seqid of SEQIDS) {
        for (const name of ['', 'release', 'méthode ✓', 'n'.repeat(200)]) {
          const ours = oursWrite(compactProtocol, (w) => {
            w.writeMessageBegin(name, type, seqid);
            oursWriteValue(w, TType.STRUCT, struct(field(0, TType.BOOL, true)));
          });
          const theirs = runtimeWrite(TCompactProtocol, (p) => {
            p.writeMessageBegin(name, type, seqid);
            runtimeWriteValue(p, TType.STRUCT, struct(field(0, TType.BOOL, true)));
          });
          expect(hex(ours)).toBe(hex(theirs));
          const p = runtimeReader(TCompactProtocol, ours);
          const head = p.readMessageBegin();
          // The runtime reads seqids as unsigned 32-bit numbers.
          expect({ name: head.fname, type: head.mtype, seqid: head.rseqid | 0 }).toEqual({ name, type, seqid });
          expect(runtimeReadValue(p, TType.STRUCT)).toEqual(struct(field(0, TType.BOOL, true)));
        }
      }
    }
  });

  test('i64 beyond 2^53 is written exactly (the number it is)', () => {
    for (const value of [2 ** 53 + 2, -(2 ** 53) - 2, 2 ** 60, -(2 ** 60), 2 ** 62 + 2 ** 40, -(2 ** 63), 2 ** 63 - 1024]) {
      const ours = oursWrite(compactProtocol, (w) => w.writeI64(value));
      expect(ours).toEqual(Buffer.from(varint(zigzag(BigInt(value)))));
      expect(thrift.toBigInt(runtimeReader(TCompactProtocol, ours).readI64())).toBe(BigInt(value));
      expect(reader(ours).readI64()).toBe(value);
    }
  });

  test('every i64, i32 and i16 boundary round-trips through both', () => {
    const cases: Array<[number, number[]]> = [
      [TType.I64, I64_VALUES],
      [TType.I32, [0, 1, -1, 63, -64, 64, -65, 8191, -8192, 2 ** 31 - 1, -(2 ** 31)]],
      [TType.I16, [0, 1, -1, 63, -64, 64, 32767, -32768]],
      [TType.BYTE, [0, 1, -1, 127, -128]],
    ];
    for (const [type, values] of cases) {
      for (const v of values) {
        const ours = oursWrite(compactProtocol, (w) => oursWriteValue(w, type, v));
        expect(hex(ours)).toBe(hex(runtimeWrite(TCompactProtocol, (p) => runtimeWriteValue(p, type, v))));
        expect(runtimeReadValue(runtimeReader(TCompactProtocol, ours), type)).toBe(v);
        expect(oursReadValue(reader(ours), type)).toBe(v);
      }
    }
  });

  test('doubles are little-endian, including -0 and NaN', () => {
    for (const v of [0, -0, 1, -2.5, Math.PI, 1e-310, NaN, Infinity]) {
      const ours = oursWrite(compactProtocol, (w) => w.writeDouble(v));
      const expected = Buffer.alloc(8);
      expected.writeDoubleLE(v);
      expect(ours).toEqual(expected);
      expect(Object.is(reader(ours).readDouble(), v)).toBe(true);
      if (!Object.is(v, -0)) expect(runtimeReadValue(runtimeReader(TCompactProtocol, ours), TType.DOUBLE)).toBe(v);
    }
  });

  test('strings: empty, long, multi-byte, around the one-byte length limit', () => {
    for (const s of STRINGS) {
      const ours = oursWrite(compactProtocol, (w) => w.writeString(s));
      const bytes = Buffer.byteLength(s);
      expect(hex(ours)).toBe(hex(Buffer.concat([Buffer.from(varint(BigInt(bytes))), Buffer.from(s)])));
      expect(runtimeReader(TCompactProtocol, ours).readString()).toBe(s);
      const r = reader(ours);
      expect(r.readString()).toBe(s);
      expect(r.lastStringValid).toBe(true);
    }
  });

  test('the generated LockRequest reads what lockd writes', () => expectGeneratedLockRequestReadsOurs(compactProtocol, TCompactProtocol));
});

describe('the byte layout of the spec', () => {
  test('a bool field is one header byte: the value is its type', () => {
    const bytes = oursWrite(compactProtocol, (w) => {
      w.writeStructBegin();
      w.writeFieldBegin(TType.BOOL, 1);
      w.writeBool(true);
      w.writeFieldBegin(TType.BOOL, 2);
      w.writeBool(false);
      w.writeFieldBegin(TType.BOOL, 100);
      w.writeBool(true);
      w.writeFieldBegin(TType.BOOL, -1);
      w.writeBool(false);
      w.writeFieldStop();
      w.writeStructEnd();
    });
    expect([...bytes]).toEqual([0x11, 0x12, 0x01, 0xc8, 0x01, 0x02, 0x01, 0x00]);
  });

  test('a bool in a list is one byte: 1 for true, 2 for false', () => {
    const bytes = oursWrite(compactProtocol, (w) => oursWriteValue(w, TType.LIST, list(TType.BOOL, [true, false])));
    expect([...bytes]).toEqual([0x21, 0x01, 0x02]);
    const r = reader([0x21, 0x01, 0x02]);
    expect(oursReadValue(r, TType.LIST)).toEqual(list(TType.BOOL, [true, false]));
    // A list header naming BOOL_FALSE as the element type is still a bool list.
    expect(oursReadValue(reader([0x22, 0x01, 0x02]), TType.LIST)).toEqual(list(TType.BOOL, [true, false]));
  });

  test('deltas: 1..15 in the header, anything else a zigzag i16 after it, per struct level', () => {
    const bytes = oursWrite(compactProtocol, (w) => {
      w.writeStructBegin();
      w.writeFieldBegin(TType.I32, 15); // delta 15
      w.writeI32(0);
      w.writeFieldBegin(TType.I32, 31); // delta 16: long form
      w.writeI32(0);
      w.writeFieldBegin(TType.STRUCT, 30); // delta -1: long form
      w.writeStructBegin();
      w.writeFieldBegin(TType.BYTE, 1); // delta from 0 inside
      w.writeByte(-1);
      w.writeFieldStop();
      w.writeStructEnd();
      w.writeFieldBegin(TType.BYTE, 32); // delta 2 from the outer 30
      w.writeByte(5);
      w.writeFieldStop();
      w.writeStructEnd();
    });
    expect([...bytes]).toEqual([0xf5, 0, 0x05, 62, 0, 0x0c, 60, 0x13, 0xff, 0, 0x23, 5, 0]);
  });

  test('lists: size in the high nibble below 15, else 0xF plus a varint', () => {
    const header = (size: number) => [...oursWrite(compactProtocol, (w) => w.writeListBegin(TType.I32, size))];
    expect(header(0)).toEqual([0x05]);
    expect(header(14)).toEqual([0xe5]);
    expect(header(15)).toEqual([0xf5, 15]);
    expect(header(300)).toEqual([0xf5, 0xac, 0x02]);
    const r = reader([0xf5, 0xac, 0x02]);
    expect([r.readListBegin(), r.containerSize]).toEqual([TType.I32, 300]);
    const s = reader([0x38]);
    expect([s.readSetBegin(), s.containerSize]).toEqual([TType.STRING, 3]);
  });

  test('maps: a lone 0 byte when empty, else a varint size and a key/value type byte', () => {
    const r = reader([0x00, 0x02, 0x58]);
    expect([r.readMapBegin(), r.mapValueType, r.containerSize]).toEqual([TType.STOP, TType.STOP, 0]);
    expect([r.readMapBegin(), r.mapValueType, r.containerSize]).toEqual([TType.I32, TType.STRING, 2]);
    expect(runtimeWrite(TCompactProtocol, (p) => p.writeMapBegin(TType.I32, TType.STRING, 0))).toEqual(Buffer.from([0]));
  });

  test('message header: 0x82, version 1 with the type in the top 3 bits, varint seqid, then the name', () => {
    const bytes = oursWrite(compactProtocol, (w) => w.writeMessageBegin('ab', MessageType.ONEWAY, 300));
    expect([...bytes]).toEqual([0x82, 0x81, 0xac, 0x02, 2, 0x61, 0x62]);
  });
});

describe('malformed input', () => {
  function expectEveryCutUnderruns(bytes: Buffer, read: (r: ProtocolReader) => unknown): void {
    for (let end = 0; end < bytes.length; end++) {
      const error = thrown(() => read(oursReader(compactProtocol, bytes, 1 << 24, end)));
      if (!isUnderrun(error)) throw new Error(`cut at ${end} of ${bytes.length}: ${String(error)}`);
    }
    expect(() => read(oursReader(compactProtocol, bytes))).not.toThrow();
  }

  test('a message cut at any byte is an Underrun (the window is honoured, junk after it unread)', () => {
    const model = everyTypeStruct();
    model.fields = model.fields.filter((f) => f.id !== 110); // the 100 kB string: keeps the loop quick
    const bytes = runtimeWrite(TCompactProtocol, (p) => {
      p.writeMessageBegin('acquire', MessageType.CALL, -7);
      runtimeWriteValue(p, TType.STRUCT, model);
    });
    expectEveryCutUnderruns(bytes, oursReadMessage);
    expectEveryCutUnderruns(bytes, (r) => {
      r.readMessageBegin({ name: '', type: 0, seqid: 0 });
      r.skip(TType.STRUCT);
    });
  });

  test('a declared length above maxLength is a ProtocolError before its bytes arrive', () => {
    const over = varint(101n);
    const cases: Array<[string, number[], (r: ProtocolReader) => unknown]> = [
      ['string', over, (r) => r.readString()],
      ['binary', over, (r) => r.readBinary()],
      ['skipped string', over, (r) => r.skip(TType.STRING)],
      ['list', [0xf5, ...over], (r) => r.readListBegin()],
      ['set', [0xf8, ...over], (r) => r.readSetBegin()],
      ['map', [...over, 0x55], (r) => r.readMapBegin()],
      ['message name', [0x82, 0x21, 0x01, ...over], (r) => r.readMessageBegin({ name: '', type: 0, seqid: 0 })],
      ['huge string', varint(2n ** 31n - 1n), (r) => r.readString()],
      ['huge list, only part of its varint', [0xf5, 0xff, 0xff], (r) => r.readListBegin()],
    ];
    for (const [what, bytes, read] of cases) {
      const error = thrown(() => read(reader(bytes, 100)));
      if (!(error instanceof ProtocolError)) throw new Error(`${what}: ${String(error)}`);
    }
    // At the limit it is only waiting for the bytes.
    expect(isUnderrun(thrown(() => reader(varint(100n), 100).readString()))).toBe(true);
    expect(reader([...varint(3n), 0x61, 0x62, 0x63], 3).readString()).toBe('abc');
    // A short list above a tiny limit is refused too.
    expect(thrown(() => reader([0xe5], 10).readListBegin())).toBeInstanceOf(ProtocolError);
  });

  test('negative lengths (32-bit, or sign-extended to 64 bits) are ProtocolErrors', () => {
    const minusOne32 = varint(0xffffffffn);
    const minusOne64 = varint(2n ** 64n - 1n);
    const beyondInt32 = varint(2n ** 31n);
    for (const bytes of [minusOne32, minusOne64, beyondInt32, [0xf9, ...minusOne64]]) {
      const r = reader(bytes, Number.MAX_SAFE_INTEGER);
      const read = bytes[0] === 0xf9 ? () => r.readListBegin() : () => r.readString();
      expect(thrown(read)).toBeInstanceOf(ProtocolError);
    }
    expect(thrown(() => reader(minusOne64, Number.MAX_SAFE_INTEGER).readMapBegin())).toBeInstanceOf(ProtocolError);
  });

  test('varints over 10 bytes are ProtocolErrors; 10-byte ones are accepted', () => {
    const overlong = [...Array(10).fill(0x80), 0x00];
    const reads: Array<[string, (r: ProtocolReader) => unknown]> = [
      ['i16', (r) => r.readI16()],
      ['i32', (r) => r.readI32()],
      ['i64', (r) => r.readI64()],
      ['string length', (r) => r.readString()],
      ['map size', (r) => r.readMapBegin()],
      ['skipped i64', (r) => r.skip(TType.I64)],
    ];
    for (const [what, read] of reads) {
      const error = thrown(() => read(reader(overlong)));
      if (!(error instanceof ProtocolError)) throw new Error(`${what}: ${String(error)}`);
    }
    expect(thrown(() => reader([0x82, 0x21, ...overlong]).readMessageBegin({ name: '', type: 0, seqid: 0 }))).toBeInstanceOf(ProtocolError);
    expect(thrown(() => reader([0x05, ...overlong]).readFieldBegin())).toBeInstanceOf(ProtocolError);
    expect(thrown(() => reader([0xf5, ...overlong]).readListBegin())).toBeInstanceOf(ProtocolError);

    // Ten bytes: Go's writer sign-extends a 32-bit zigzag value that has its top bit set.
    const goMinInt32 = varint(2n ** 64n - 1n);
    expect(goMinInt32).toHaveLength(10);
    expect(reader(goMinInt32).readI32()).toBe(-(2 ** 31));
    expect(reader(goMinInt32).readI64()).toBe(-(2 ** 63));
    const header: MessageHeader = { name: '', type: 0, seqid: 0 };
    reader([0x82, 0x21, ...goMinInt32, 0]).readMessageBegin(header);
    expect(header).toEqual({ name: '', type: MessageType.CALL, seqid: -1 });
    // A padded (non-minimal) varint is still its value.
    expect(reader([0x82, 0x80, 0x80, 0x00]).readI32()).toBe(1);
  });

  test('bad protocol id or version is a ProtocolError as soon as the byte is there', () => {
    const read = (bytes: number[]) => thrown(() => reader(bytes).readMessageBegin({ name: '', type: 0, seqid: 0 }));
    expect(read([0x80])).toBeInstanceOf(ProtocolError); // a binary-protocol header
    expect(read([0x82, 0x22, 0, 0])).toBeInstanceOf(ProtocolError); // version 2
    expect(isUnderrun(read([0x82]))).toBe(true);
    expect(isUnderrun(read([]))).toBe(true);
  });

  test('unknown types are ProtocolErrors: in field headers, container headers and skip', () => {
    for (const type of [13, 14, 15]) {
      expect(thrown(() => reader([0x10 | type]).readFieldBegin())).toBeInstanceOf(ProtocolError);
      expect(thrown(() => reader([0x10 | type]).readListBegin())).toBeInstanceOf(ProtocolError);
      expect(thrown(() => reader([0x01, 0x50 | type]).readMapBegin())).toBeInstanceOf(ProtocolError);
      expect(thrown(() => reader([0x01, (type << 4) | 5]).readMapBegin())).toBeInstanceOf(ProtocolError);
      expect(thrown(() => reader([0x1c, 0x10 | type]).skip(TType.STRUCT))).toBeInstanceOf(ProtocolError);
    }
    for (const type of [TType.STOP, TType.VOID, 5, 7, 9, 16, 99, -1]) {
      expect(thrown(() => reader([0, 0, 0, 0, 0, 0, 0, 0]).skip(type))).toBeInstanceOf(ProtocolError);
    }
  });

  test('values nested deeper than 64 are a ProtocolError in skip, shallower ones are skipped', () => {
    const nestedStructs = (depth: number) => [...Array(depth).fill(0x1c), ...Array(depth + 1).fill(0x00)];
    const nestedLists = (depth: number) => [...Array(depth).fill(0x19), 0x05];
    const nestedMaps = (depth: number) => [...Array(depth).fill([0x01, 0x3b, 0x07]).flat(), 0x00]; // byte key -> map
    for (const [build, type] of [[nestedStructs, TType.STRUCT], [nestedLists, TType.LIST], [nestedMaps, TType.MAP]] as const) {
      const shallow = build(63);
      const r = reader(shallow);
      r.skip(type);
      expect(consumed(r)).toBe(shallow.length);
      expect(thrown(() => reader(build(100)).skip(type))).toBeInstanceOf(ProtocolError);
      // Deep and truncated: the depth limit, not a wait for more bytes.
      const bytesPerLevel = build(2).length - build(1).length;
      expect(thrown(() => reader(build(100).slice(0, 70 * bytesPerLevel)).skip(type))).toBeInstanceOf(ProtocolError);
    }
  });

  test('invalid UTF-8 sets lastStringValid = false, and the next valid string resets it', () => {
    const invalid = [
      [0x61, 0xff, 0x62],
      [0xc0, 0x80], // overlong NUL
      [0xed, 0xa0, 0x80], // a UTF-16 surrogate
      [0xe2, 0x82], // cut short
      [0xf4, 0x90, 0x80, 0x80], // above U+10FFFF
    ];
    for (const bytes of invalid) {
      const r = reader([bytes.length, ...bytes, 2, 0x6f, 0x6b]);
      expect(r.readString()).toContain('\ufffd');
      expect(r.lastStringValid).toBe(false);
      expect(r.readString()).toBe('ok');
      expect(r.lastStringValid).toBe(true);
    }
    const replacement = Buffer.from('a\ufffdb');
    const r = reader([replacement.length, ...replacement]);
    expect(r.readString()).toBe('a\ufffdb');
    expect(r.lastStringValid).toBe(true);
  });

  test('reset forgets the previous message: struct levels and a pending bool', () => {
    const r = compactProtocol.createReader(1 << 20);
    const first = Buffer.from([0x1c, 0x51]); // a struct field holding bool field 5 (true): abandoned unread
    r.reset(first, 0, first.length);
    r.readStructBegin();
    r.readFieldBegin();
    r.readStructBegin();
    r.readFieldBegin();
    const second = Buffer.from([0x15, 0x02, 0x00, 0x22, 0x02, 0x02]);
    r.reset(second, 0, second.length);
    r.readStructBegin();
    expect([r.readFieldBegin(), r.fieldId, r.readI32()]).toEqual([TType.I32, 1, 1]);
    expect(r.readFieldBegin()).toBe(TType.STOP);
    r.readStructEnd();
    expect([r.readListBegin(), r.containerSize]).toEqual([TType.BOOL, 2]);
    expect([r.readBool(), r.readBool()]).toEqual([false, false]);
  });
});

test('the runtime mis-reads bools inside containers (runtime bug; lockd does not)', () => {
  // thrift 0.24's TCompactProtocol.readBool compares `byte.value` for a list element: always false.
  const bytes = runtimeWrite(TCompactProtocol, (p) => runtimeWriteValue(p, TType.LIST, list(TType.BOOL, [true, true])));
  expect([...bytes]).toEqual([0x21, 1, 1]);
  expect(runtimeReadValue(runtimeReader(TCompactProtocol, bytes), TType.LIST)).toEqual(list(TType.BOOL, [false, false]));
  expect(oursReadValue(reader(bytes), TType.LIST)).toEqual(list(TType.BOOL, [true, true]));
});
