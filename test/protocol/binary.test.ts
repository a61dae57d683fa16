/**
 * TBinaryProtocol conformance: lockd's reader and writer against the npm `thrift` runtime's
 * TBinaryProtocol (each writes, the other reads, and the bytes must match), and malformed input.
 */
import { ProtocolError } from '../../src/errors';
import { binaryProtocol } from '../../src/protocol/binary';
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
} from './thrift-runtime';

const TBinaryProtocol = thrift.TBinaryProtocol;
const MESSAGE_TYPES = [MessageType.CALL, MessageType.REPLY, MessageType.EXCEPTION, MessageType.ONEWAY];
const SEQIDS = [0, 1, 255, 256, 2 ** 31 - 1, -1, -(2 ** 31)];

function reader(bytes: Buffer | number[], maxLength = 1 << 24): ProtocolReader {
  return oursReader(binaryProtocol, Buffer.from(bytes), maxLength);
}

const i32 = (v: number): number[] => {
  const b = Buffer.alloc(4);
  b.writeInt32BE(v);
  return [...b];
};

const hex = (b: Buffer): string => b.toString('hex');

describe('runtime writes, lockd reads', () => {
  test('a struct of every type, nesting and containers', () => {
    const model = everyTypeStruct();
    const bytes = runtimeWrite(TBinaryProtocol, (p) => runtimeWriteValue(p, TType.STRUCT, model));
    const r = reader(bytes);
    expect(oursReadValue(r, TType.STRUCT)).toEqual(model);
    expect(consumed(r)).toBe(bytes.length);
  });

  test('strict message headers of every type, seqid and name', () => {
    for (const type of MESSAGE_TYPES) {
      for (const seqid of SEQIDS) {
        for (const name of ['', 'acquire', 'méthode ✓']) {
          const bytes = runtimeWrite(TBinaryProtocol, (p) => {
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

  test('old non-strict message headers (name length first)', () => {
    for (const type of MESSAGE_TYPES) {
      const bytes = runtimeWrite(
        TBinaryProtocol,
        (p) => {
          p.writeMessageBegin('méthode', type, -5);
          runtimeWriteValue(p, TType.STRUCT, struct());
          p.writeMessageEnd();
        },
        false,
        false,
      );
      expect(bytes.readInt32BE(0)).toBe(Buffer.byteLength('méthode'));
      const r = reader(bytes);
      expect(oursReadMessage(r)).toEqual({ header: { name: 'méthode', type, seqid: -5 }, body: struct() });
      expect(consumed(r)).toBe(bytes.length);
    }
  });

  test('i64 beyond 2^53 keeps its sign and reads as the nearest double', () => {
    for (const value of [2n ** 53n + 1n, -(2n ** 53n) - 1n, -(2n ** 53n) - 2n, 2n ** 60n + 12345n, -(2n ** 60n) - 12345n, 2n ** 63n - 1n, -(2n ** 63n)]) {
      const bytes = runtimeWrite(TBinaryProtocol, (p) => p.writeI64(thrift.fromBigInt(value)));
      expect(reader(bytes).readI64()).toBe(Number(value));
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
    const bytes = runtimeWrite(TBinaryProtocol, (p) => full.write(p));
    const r = reader(bytes);
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
    expect(consumed(r)).toBe(bytes.length);
  });

  test('skip passes over every type the runtime writes', () => expectSkipPassesOverEveryType(TBinaryProtocol, reader));
});

describe('lockd writes: the same bytes as the runtime, and the runtime reads them', () => {
  test('a struct of every type lockd can write', () => {
    const model = everyTypeStructOursCanWrite();
    const ours = oursWrite(binaryProtocol, (w) => oursWriteValue(w, TType.STRUCT, model));
    expect(hex(ours)).toBe(hex(runtimeWrite(TBinaryProtocol, (p) => runtimeWriteValue(p, TType.STRUCT, model))));
    const p = runtimeReader(TBinaryProtocol, ours);
    expect(runtimeReadValue(p, TType.STRUCT)).toEqual(model);
    expect(p.bytesLeft()).toBe(0);
  });

  test('message headers of every type, seqid and name', () => {
    for (const type of MESSAGE_TYPES) {
      for (const seqid of SEQIDS) {
        for (const name of ['', 'release', 'méthode ✓']) {
          const ours = oursWrite(binaryProtocol, (w) => w.writeMessageBegin(name, type, seqid));
          expect(hex(ours)).toBe(hex(runtimeWrite(TBinaryProtocol, (p) => p.writeMessageBegin(name, type, seqid))));
          const head = runtimeReader(TBinaryProtocol, ours).readMessageBegin();
          expect({ name: head.fname, type: head.mtype, seqid: head.rseqid }).toEqual({ name, type, seqid });
        }
      }
    }
  });

  test('every integer boundary, double and string round-trips through both', () => {
    const cases: Array<[number, Array<number | string>]> = [
      [TType.I64, [...I64_VALUES, 2 ** 60, -(2 ** 60), -(2 ** 63), 2 ** 63 - 1024, 2 ** 53 + 2, -(2 ** 53) - 2]],
      [TType.I32, [0, 1, -1, 2 ** 31 - 1, -(2 ** 31)]],
      [TType.I16, [0, -1, 32767, -32768]],
      [TType.BYTE, [0, -1, 127, -128]],
      [TType.DOUBLE, [0, 1, -2.5, Math.PI, 1e-310, Number.MAX_VALUE, Infinity, -Infinity]],
      [TType.STRING, STRINGS],
    ];
    for (const [type, values] of cases) {
      for (const v of values) {
        const ours = oursWrite(binaryProtocol, (w) => oursWriteValue(w, type, v));
        expect(hex(ours)).toBe(hex(runtimeWrite(TBinaryProtocol, (p) => runtimeWriteValue(p, type, v))));
        const read = type === TType.I64 ? Number(thrift.toBigInt(runtimeReader(TBinaryProtocol, ours).readI64())) : runtimeReadValue(runtimeReader(TBinaryProtocol, ours), type);
        expect(read).toBe(v);
        expect(oursReadValue(reader(ours), type)).toBe(v);
      }
    }
    for (const v of [-0, NaN]) {
      expect(Object.is(reader(oursWrite(binaryProtocol, (w) => w.writeDouble(v))).readDouble(), v)).toBe(true);
    }
  });

  test('the generated LockRequest reads what lockd writes', () => expectGeneratedLockRequestReadsOurs(binaryProtocol, TBinaryProtocol));
});

describe('malformed input', () => {
  function expectEveryCutUnderruns(bytes: Buffer, read: (r: ProtocolReader) => unknown): void {
    for (let end = 0; end < bytes.length; end++) {
      const error = thrown(() => read(oursReader(binaryProtocol, bytes, 1 << 24, end)));
      if (!isUnderrun(error)) throw new Error(`cut at ${end} of ${bytes.length}: ${String(error)}`);
    }
    expect(() => read(oursReader(binaryProtocol, bytes))).not.toThrow();
  }

  test('a message cut at any byte is an Underrun (the window is honoured, junk after it unread)', () => {
    const model = everyTypeStruct();
    model.fields = model.fields.filter((f) => f.id !== 110); // the 100 kB string: keeps the loop quick
    for (const strict of [true, false]) {
      const bytes = runtimeWrite(
        TBinaryProtocol,
        (p) => {
          p.writeMessageBegin('acquire', MessageType.CALL, -7);
          runtimeWriteValue(p, TType.STRUCT, model);
        },
        false,
        strict,
      );
      expectEveryCutUnderruns(bytes, oursReadMessage);
      expectEveryCutUnderruns(bytes, (r) => {
        r.readMessageBegin({ name: '', type: 0, seqid: 0 });
        r.skip(TType.STRUCT);
      });
    }
  });

  test('a declared length above maxLength is a ProtocolError before its bytes arrive', () => {
    const over = i32(101);
    const cases: Array<[string, number[], (r: ProtocolReader) => unknown]> = [
      ['string', over, (r) => r.readString()],
      ['binary', over, (r) => r.readBinary()],
      ['skipped string', over, (r) => r.skip(TType.STRING)],
      ['list', [TType.I32, ...over], (r) => r.readListBegin()],
      ['set', [TType.STRING, ...over], (r) => r.readSetBegin()],
      ['map', [TType.STRING, TType.I64, ...over], (r) => r.readMapBegin()],
      ['strict message name', [...i32(0x80010000 | MessageType.CALL), ...over], (r) => r.readMessageBegin({ name: '', type: 0, seqid: 0 })],
      ['non-strict message name', over, (r) => r.readMessageBegin({ name: '', type: 0, seqid: 0 })],
      ['huge string', i32(2 ** 31 - 1), (r) => r.readString()],
    ];
    for (const [what, bytes, read] of cases) {
      const error = thrown(() => read(reader(bytes, 100)));
      if (!(error instanceof ProtocolError)) throw new Error(`${what}: ${String(error)}`);
    }
    expect(isUnderrun(thrown(() => reader(i32(100), 100).readString()))).toBe(true);
    expect(reader([...i32(3), 0x61, 0x62, 0x63], 3).readString()).toBe('abc');
  });

  test('negative lengths are ProtocolErrors', () => {
    const reads: Array<[number[], (r: ProtocolReader) => unknown]> = [
      [i32(-1), (r) => r.readString()],
      [i32(-(2 ** 31)), (r) => r.readBinary()],
      [[TType.I32, ...i32(-1)], (r) => r.readListBegin()],
      [[TType.I32, TType.I32, ...i32(-1)], (r) => r.readMapBegin()],
      [[...i32(0x80010000 | 1), ...i32(-1)], (r) => r.readMessageBegin({ name: '', type: 0, seqid: 0 })],
    ];
    for (const [bytes, read] of reads) {
      expect(thrown(() => read(reader(bytes, Number.MAX_SAFE_INTEGER)))).toBeInstanceOf(ProtocolError);
    }
  });

  test('a bad version is a ProtocolError', () => {
    const header: MessageHeader = { name: '', type: 0, seqid: 0 };
    expect(thrown(() => reader([...i32(0x80020001 | 0), 0, 0, 0, 0]).readMessageBegin(header))).toBeInstanceOf(ProtocolError);
    expect(thrown(() => reader([0x82, 0x21, 0x01, 0x00]).readMessageBegin(header))).toBeInstanceOf(ProtocolError); // a compact header
  });

  test('unknown types are ProtocolErrors in skip', () => {
    for (const type of [TType.STOP, TType.VOID, 5, 7, 9, 16, 99, -1]) {
      expect(thrown(() => reader([0, 0, 0, 0, 0, 0, 0, 0]).skip(type))).toBeInstanceOf(ProtocolError);
    }
    expect(thrown(() => reader([99, 0, 1]).skip(TType.STRUCT))).toBeInstanceOf(ProtocolError);
    expect(thrown(() => reader([99, ...i32(1)]).skip(TType.LIST))).toBeInstanceOf(ProtocolError);
  });

  test('values nested deeper than 64 are a ProtocolError in skip, shallower ones are skipped', () => {
    const structLevel = [TType.STRUCT, 0, 1];
    const nestedStructs = (depth: number) => [...Array(depth).fill(structLevel).flat(), ...Array(depth + 1).fill(0)];
    const nestedLists = (depth: number) => [...Array(depth).fill([TType.LIST, ...i32(1)]).flat(), TType.I32, ...i32(0)];
    const nestedMaps = (depth: number) => [...Array(depth).fill([TType.BYTE, TType.MAP, ...i32(1), 7]).flat(), TType.BYTE, TType.BYTE, ...i32(0)];
    for (const [build, type] of [[nestedStructs, TType.STRUCT], [nestedLists, TType.LIST], [nestedMaps, TType.MAP]] as const) {
      const shallow = build(63);
      const r = reader(shallow);
      r.skip(type);
      expect(consumed(r)).toBe(shallow.length);
      expect(thrown(() => reader(build(100)).skip(type))).toBeInstanceOf(ProtocolError);
      const bytesPerLevel = build(2).length - build(1).length;
      expect(thrown(() => reader(build(100).slice(0, 70 * bytesPerLevel)).skip(type))).toBeInstanceOf(ProtocolError);
    }
  });

  test('invalid UTF-8 sets lastStringValid = false, and the next valid string resets it', () => {
    const invalid = [
      [0x61, 0xff, 0x62],
      [0xc0, 0x80],
      [0xed, 0xa0, 0x80],
      [0xe2, 0x82],
      [0xf4, 0x90, 0x80, 0x80],
    ];
    for (const bytes of invalid) {
      const r = reader([...i32(bytes.length), ...bytes, ...i32(2), 0x6f, 0x6b]);
      expect(r.readString()).toContain('\ufffd');
      expect(r.lastStringValid).toBe(false);
      expect(r.readString()).toBe('ok');
      expect(r.lastStringValid).toBe(true);
    }
    const replacement = Buffer.from('a\ufffdb');
    const r = reader([...i32(replacement.length), ...replacement]);
    expect(r.readString()).toBe('a\ufffdb');
    expect(r.lastStringValid).toBe(true);
  });
});
