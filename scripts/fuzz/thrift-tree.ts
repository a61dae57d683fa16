/**
 * Thrift messages as trees, and an encoder for them in both protocols and both transports. It is
 * written apart from lockd's codec on purpose: the fuzzer and the abuse benchmark must be able to
 * say things lockd's writer never would (a field header of one type followed by a value of
 * another, a length or container size that lies, an unknown type nibble, a frame length that
 * does not match), and must not share a bug with the code under test.
 */
import { TType } from '../../src/protocol/types';

export type ProtocolName = 'binary' | 'compact';
export type TransportName = 'buffered' | 'framed';

/** One protocol + transport pair (what lockd's --protocol and --transport select). */
export interface Stack {
  readonly protocol: ProtocolName;
  readonly transport: TransportName;
}

/** Every stack lockd serves. */
export const STACKS: readonly Stack[] = [
  { protocol: 'binary', transport: 'buffered' },
  { protocol: 'binary', transport: 'framed' },
  { protocol: 'compact', transport: 'buffered' },
  { protocol: 'compact', transport: 'framed' },
];

/** A Thrift value. `declared` overrides the length or size written before the bytes or items. */
export type TNode =
  | { readonly kind: 'bool'; readonly value: boolean }
  | { readonly kind: 'byte' | 'i16' | 'i32'; readonly value: number }
  | { readonly kind: 'i64'; readonly value: bigint }
  | { readonly kind: 'double'; readonly value: number }
  | { readonly kind: 'string'; readonly bytes: Buffer; readonly declared?: number }
  | { readonly kind: 'struct'; readonly fields: readonly TField[] }
  | { readonly kind: 'list' | 'set'; readonly elementType: number; readonly items: readonly TNode[]; readonly declared?: number }
  | { readonly kind: 'map'; readonly keyType: number; readonly valueType: number; readonly entries: ReadonlyArray<readonly [TNode, TNode]>; readonly declared?: number };

/** A struct field: the TType its header announces (which may disagree with the node) and the node. */
export interface TField {
  readonly id: number;
  readonly type: number;
  readonly node: TNode;
}

/** A whole message: header and argument (or result) struct. */
export interface TMessage {
  readonly name: string | Buffer;
  readonly type: number;
  readonly seqid: number;
  readonly body: TNode;
}

/** The TType a node is naturally announced as. */
export function ttypeOf(node: TNode): number {
  switch (node.kind) {
    case 'bool': return TType.BOOL;
    case 'byte': return TType.BYTE;
    case 'i16': return TType.I16;
    case 'i32': return TType.I32;
    case 'i64': return TType.I64;
    case 'double': return TType.DOUBLE;
    case 'string': return TType.STRING;
    case 'struct': return TType.STRUCT;
    case 'list': return TType.LIST;
    case 'set': return TType.SET;
    case 'map': return TType.MAP;
  }
}

// Small constructors, so call builders read like the IDL.
export const str = (text: string | Buffer): TNode => ({ kind: 'string', bytes: typeof text === 'string' ? Buffer.from(text, 'utf8') : text });
export const i32 = (value: number): TNode => ({ kind: 'i32', value });
export const i64 = (value: number | bigint): TNode => ({ kind: 'i64', value: BigInt(value) });
export const bool = (value: boolean): TNode => ({ kind: 'bool', value });
export const struct = (fields: readonly TField[]): TNode => ({ kind: 'struct', fields });
/** A field announced as its node's own type. */
export const field = (id: number, node: TNode): TField => ({ id, type: ttypeOf(node), node });

/** TType -> compact type nibble (BOOL as BOOL_TRUE, as in container headers); unknown TTypes pass through. */
const COMPACT_OF: Record<number, number> = {
  [TType.BOOL]: 1, [TType.BYTE]: 3, [TType.I16]: 4, [TType.I32]: 5, [TType.I64]: 6, [TType.DOUBLE]: 7,
  [TType.STRING]: 8, [TType.LIST]: 9, [TType.SET]: 10, [TType.MAP]: 11, [TType.STRUCT]: 12,
};
const compactType = (ttype: number): number => COMPACT_OF[ttype] ?? ttype & 0x0f;

/** A growable byte sink. */
class Bytes {
  private buf = Buffer.allocUnsafe(256);
  length = 0;

  private room(n: number): void {
    if (this.length + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.length + n) size *= 2;
    const grown = Buffer.allocUnsafe(size);
    this.buf.copy(grown, 0, 0, this.length);
    this.buf = grown;
  }
  u8(value: number): void {
    this.room(1);
    this.buf[this.length++] = value & 0xff;
  }
  i16be(value: number): void {
    this.room(2);
    this.buf.writeInt16BE(((value << 16) >> 16), this.length);
    this.length += 2;
  }
  i32be(value: number): void {
    this.room(4);
    this.buf.writeInt32BE(value | 0, this.length);
    this.length += 4;
  }
  i64be(value: bigint): void {
    this.room(8);
    this.buf.writeBigInt64BE(BigInt.asIntN(64, value), this.length);
    this.length += 8;
  }
  f64(value: number, littleEndian: boolean): void {
    this.room(8);
    if (littleEndian) this.buf.writeDoubleLE(value, this.length);
    else this.buf.writeDoubleBE(value, this.length);
    this.length += 8;
  }
  raw(bytes: Buffer): void {
    this.room(bytes.length);
    bytes.copy(this.buf, this.length);
    this.length += bytes.length;
  }
  /** Unsigned LEB128 of a value in [0, 2^64). */
  varint(value: bigint): void {
    let v = BigInt.asUintN(64, value);
    while (v >= 0x80n) {
      this.u8(Number(v & 0x7fn) | 0x80);
      v >>= 7n;
    }
    this.u8(Number(v));
  }
  zigzag32(value: number): void {
    this.varint(BigInt(((value << 1) ^ (value >> 31)) >>> 0));
  }
  zigzag64(value: bigint): void {
    const v = BigInt.asIntN(64, value);
    this.varint(BigInt.asUintN(64, (v << 1n) ^ (v >> 63n)));
  }
  take(): Buffer {
    return Buffer.from(this.buf.subarray(0, this.length));
  }
}

function nameBytes(name: string | Buffer): Buffer {
  return typeof name === 'string' ? Buffer.from(name, 'utf8') : name;
}

class BinaryEncoder {
  constructor(readonly out: Bytes) {}

  message(m: TMessage): void {
    this.out.i32be(0x80010000 | (m.type & 0xff));
    const name = nameBytes(m.name);
    this.out.i32be(name.length);
    this.out.raw(name);
    this.out.i32be(m.seqid);
    this.value(m.body);
  }

  value(node: TNode): void {
    const out = this.out;
    switch (node.kind) {
      case 'bool': return out.u8(node.value ? 1 : 0);
      case 'byte': return out.u8(node.value);
      case 'i16': return out.i16be(node.value);
      case 'i32': return out.i32be(node.value);
      case 'i64': return out.i64be(node.value);
      case 'double': return out.f64(node.value, false);
      case 'string':
        out.i32be(node.declared ?? node.bytes.length);
        return out.raw(node.bytes);
      case 'struct':
        for (const f of node.fields) {
          out.u8(f.type);
          out.i16be(f.id);
          this.value(f.node);
        }
        return out.u8(TType.STOP);
      case 'list':
      case 'set':
        out.u8(node.elementType);
        out.i32be(node.declared ?? node.items.length);
        for (const item of node.items) this.value(item);
        return;
      case 'map':
        out.u8(node.keyType);
        out.u8(node.valueType);
        out.i32be(node.declared ?? node.entries.length);
        for (const [k, v] of node.entries) {
          this.value(k);
          this.value(v);
        }
        return;
    }
  }
}

class CompactEncoder {
  constructor(readonly out: Bytes) {}

  message(m: TMessage): void {
    this.out.u8(0x82);
    this.out.u8(((m.type & 0x07) << 5) | 1);
    this.out.varint(BigInt(m.seqid >>> 0));
    const name = nameBytes(m.name);
    this.out.varint(BigInt(name.length));
    this.out.raw(name);
    this.value(m.body);
  }

  value(node: TNode): void {
    const out = this.out;
    switch (node.kind) {
      case 'bool': return out.u8(node.value ? 1 : 2);
      case 'byte': return out.u8(node.value);
      case 'i16':
      case 'i32': return out.zigzag32(node.value);
      case 'i64': return out.zigzag64(node.value);
      case 'double': return out.f64(node.value, true);
      case 'string':
        out.varint(BigInt(node.declared ?? node.bytes.length));
        return out.raw(node.bytes);
      case 'struct': {
        let last = 0;
        for (const f of node.fields) {
          // A bool announced as bool carries its value in the header, as the spec says.
          const folded = f.type === TType.BOOL && f.node.kind === 'bool';
          const type = folded ? (f.node.kind === 'bool' && f.node.value ? 1 : 2) : compactType(f.type);
          const delta = f.id - last;
          if (delta > 0 && delta <= 15) out.u8((delta << 4) | type);
          else {
            out.u8(type);
            out.zigzag32(f.id);
          }
          last = f.id;
          if (!folded) this.value(f.node);
        }
        return out.u8(0);
      }
      case 'list':
      case 'set': {
        const size = node.declared ?? node.items.length;
        const type = compactType(node.elementType);
        if (size >= 0 && size < 15) out.u8((size << 4) | type);
        else {
          out.u8(0xf0 | type);
          out.varint(BigInt(size >>> 0));
        }
        for (const item of node.items) this.value(item);
        return;
      }
      case 'map': {
        const size = node.declared ?? node.entries.length;
        out.varint(BigInt(size >>> 0));
        if (size !== 0) out.u8((compactType(node.keyType) << 4) | compactType(node.valueType));
        for (const [k, v] of node.entries) {
          this.value(k);
          this.value(v);
        }
        return;
      }
    }
  }
}

/** The message's bytes in `protocol`, without transport framing. */
export function encodeMessage(message: TMessage, protocol: ProtocolName): Buffer {
  const out = new Bytes();
  if (protocol === 'binary') new BinaryEncoder(out).message(message);
  else new CompactEncoder(out).message(message);
  return out.take();
}

/** Puts message bytes on the wire for `transport`: framed gets a 4-byte length (or `declared`). */
export function frame(bytes: Buffer, transport: TransportName, declared?: number): Buffer {
  if (transport === 'buffered') return bytes;
  const header = Buffer.alloc(4);
  header.writeInt32BE(declared ?? bytes.length);
  return Buffer.concat([header, bytes]);
}

/** encodeMessage then frame, for one stack. */
export function encodeForStack(message: TMessage, stack: Stack): Buffer {
  return frame(encodeMessage(message, stack.protocol), stack.transport);
}
