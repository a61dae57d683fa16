/**
 * What the fuzzer sends: LockService calls that are valid, or valid and then mutated as trees
 * (wrong field types and ids, missing and repeated fields, lying lengths and sizes, deep nesting,
 * odd message types and names), or mutated as bytes (flips, truncations, insertions), or random
 * bytes. Values are drawn from the edges of every range, and keys and tokens from pools the
 * campaign fills with what lockd granted, so calls reach deep into the lock table.
 */
import { MessageType, TType } from '../../src/protocol/types';
import { calls, LockRequestArgs, METHODS, MethodName } from './lock-service';
import { Rng } from './rng';
import { encodeMessage, field, frame, i32, i64, Stack, str, TField, TMessage, TNode, ttypeOf } from './thrift-tree';

/** What lockd granted so far: keys, tokens and fences the next calls can use. */
export class Pools {
  readonly keys: string[] = Array.from({ length: 16 }, (_, i) => `fz/${i}`);
  readonly leases: Array<{ key: string; token: string; fence: number }> = [];
  /** Seqids of calls that may still be parked, for cancelWait. */
  readonly parkedSeqids: number[] = [];

  addLease(key: string, token: string, fence: number): void {
    this.leases.push({ key, token, fence });
    if (this.leases.length > 256) this.leases.splice(0, 128);
  }
}

export type CaseKind = 'valid' | 'tree' | 'bytes' | 'random';

/** One message on the wire, and how it was made. */
export interface FuzzCase {
  readonly kind: CaseKind;
  readonly bytes: Buffer;
  readonly method: string;
}

const TTL_VALUES = [0, -1, 1, 99, 100, 1_000, 30_000, 86_400_000, 86_400_001, 2 ** 31, 2 ** 53, -(2 ** 63), 2 ** 63];
const WAIT_VALUES = [0, 0, 0, 10, 50, -1, -2, 3_600_000, 3_600_001, 2 ** 62];
const MODE_VALUES = [1, 2, 0, 3, -1, 2 ** 31 - 1];
const LIMIT_VALUES = [0, -1, 1, 10, 100, 10_000, 10_001, 2 ** 31 - 1, -(2 ** 31)];
const TTYPES = [TType.BOOL, TType.BYTE, TType.DOUBLE, TType.I16, TType.I32, TType.I64, TType.STRING, TType.STRUCT, TType.MAP, TType.SET, TType.LIST];
const INVALID_UTF8 = Buffer.from([0x66, 0x7a, 0xc3, 0x28, 0xff, 0xfe, 0xed, 0xa0, 0x80]);
const KNOWN_NAMES = [...METHODS, 'getVersion', '', 'ACQUIRE', 'acquire\u0000'];
const METHOD_WEIGHTS: Array<[MethodName, number]> = [
  ['acquire', 30], ['release', 14], ['renew', 10], ['checkFence', 5], ['inspect', 5], ['listLocks', 8],
  ['ping', 6], ['cancelWait', 6], ['acquireLock', 9], ['releaseLock', 7],
];
/** How a connection's last message is made, and the ones before it. */
const LAST_MIX: Array<[CaseKind, number]> = [['valid', 40], ['tree', 30], ['bytes', 15], ['random', 15]];
const MIDDLE_MIX: Array<[CaseKind, number]> = [['valid', 80], ['tree', 20]];

/** Picks an item with probability proportional to its weight. */
function weighted<T>(r: Rng, choices: ReadonlyArray<readonly [T, number]>): T {
  let roll = r.int(choices.reduce((sum, [, w]) => sum + w, 0));
  for (const [item, weight] of choices) {
    if (roll < weight) return item;
    roll -= weight;
  }
  return choices[choices.length - 1][0];
}

export class CaseGenerator {
  constructor(
    private readonly rng: Rng,
    private readonly stack: Stack,
    private readonly pools: Pools,
  ) {}

  /**
   * The next message. A connection's last message is ~40% valid, ~30% tree-mutated, ~15%
   * byte-mutated and ~15% random bytes; the ones before it are valid or tree-mutated (4:1), since
   * lockd reads nothing after a malformed message and the calls after it would be wasted.
   */
  next(seqid: number, last: boolean): FuzzCase {
    const r = this.rng;
    const kind = weighted(r, last ? LAST_MIX : MIDDLE_MIX);
    if (kind === 'random') return { kind, bytes: this.randomBytes(), method: '?' };
    const message = this.validCall(seqid);
    const method = typeof message.name === 'string' ? message.name : '?';
    const encoded = () => frame(encodeMessage(message, this.stack.protocol), this.stack.transport);
    switch (kind) {
      case 'valid':
        return { kind, bytes: encoded(), method };
      case 'bytes':
        return { kind, bytes: this.mutateBytes(encoded()), method };
      case 'tree': {
        let mutated = message;
        for (let i = r.between(1, 3); i > 0; i--) mutated = this.mutateTree(mutated);
        return { kind, bytes: this.frameMaybeLying(encodeMessage(mutated, this.stack.protocol)), method };
      }
    }
  }

  /** A well-formed call of a random method with values from the edges of each range. */
  validCall(seqid: number): TMessage {
    const method = this.method();
    const r = this.rng;
    switch (method) {
      case 'acquire':
      case 'acquireLock':
      case 'releaseLock':
        return calls[method](seqid, this.request());
      case 'release': {
        const lease = this.lease();
        return calls.release(seqid, lease.key, lease.token);
      }
      case 'renew': {
        const lease = this.lease();
        return calls.renew(seqid, lease.key, lease.token, r.pick(TTL_VALUES));
      }
      case 'checkFence': {
        const lease = this.lease();
        return calls.checkFence(seqid, lease.key, r.chance(0.5) ? lease.fence : r.pick([0, -1, 1, 2 ** 53]));
      }
      case 'inspect':
        return calls.inspect(seqid, this.key());
      case 'listLocks':
        return calls.listLocks(seqid, r.pick(['', 'fz/', 'fz/1', 'zz', this.key()]), r.pick(LIMIT_VALUES), r.chance(0.3) ? this.key() : undefined);
      case 'ping':
        return calls.ping(seqid);
      case 'cancelWait':
        return calls.cancelWait(seqid, this.pools.parkedSeqids.length > 0 && r.chance(0.7) ? r.pick(this.pools.parkedSeqids) : r.int(2 ** 31));
    }
    throw new Error(`no builder for ${method}`);
  }

  private method(): MethodName {
    return weighted(this.rng, METHOD_WEIGHTS);
  }

  private key(): string {
    const r = this.rng;
    const roll = r.next();
    if (roll < 0.8) return r.pick(this.pools.keys);
    if (roll < 0.85) return '';
    if (roll < 0.9) return 'k'.repeat(r.pick([1023, 1024, 1025, 4096]));
    if (roll < 0.95) return `fz/ü/${r.int(100)}/\u{1f512}`;
    return r.bytes(r.int(12)).toString('latin1');
  }

  private lease(): { key: string; token: string; fence: number } {
    const r = this.rng;
    if (this.pools.leases.length > 0 && r.chance(0.7)) return r.pick(this.pools.leases);
    return { key: this.key(), token: r.chance(0.5) ? r.bytes(16).toString('hex') : r.pick(['', 'x', '0'.repeat(32), 'g'.repeat(64)]), fence: r.int(1000) };
  }

  private request(): LockRequestArgs {
    const r = this.rng;
    const q: LockRequestArgs = { lockKey: this.key() };
    if (r.chance(0.3)) q.owner = r.pick(['fuzz', '', 'o'.repeat(5000), 'ü\u{1f512}']);
    if (r.chance(0.6)) q.ttlMs = r.pick(TTL_VALUES);
    if (r.chance(0.5)) q.waitMs = r.pick(WAIT_VALUES);
    if (r.chance(0.4)) q.mode = r.pick(MODE_VALUES);
    if (r.chance(0.15) && this.pools.leases.length > 0) q.token = r.pick(this.pools.leases).token;
    if (r.chance(0.3)) q.ephemeral = r.chance(0.5);
    return q;
  }

  // ---- Tree mutations -------------------------------------------------------------------------

  mutateTree(message: TMessage): TMessage {
    const r = this.rng;
    switch (r.int(8)) {
      case 0:
        return { ...message, type: r.pick([MessageType.REPLY, MessageType.EXCEPTION, MessageType.ONEWAY, 0, 5, 7]) };
      case 1:
        return { ...message, name: r.chance(0.5) ? r.pick(KNOWN_NAMES) : r.chance(0.5) ? INVALID_UTF8 : 'm'.repeat(r.pick([200, 70_000])) };
      case 2:
        return { ...message, seqid: r.pick([0, -1, 2 ** 31 - 1, -(2 ** 31), r.int(2 ** 31)]) };
      default:
        return { ...message, body: this.mutateNode(message.body, 0) };
    }
  }

  /** Mutates one place in the tree under `node` (a struct descends into a random field). */
  private mutateNode(node: TNode, depth: number): TNode {
    const r = this.rng;
    if (node.kind === 'struct' && node.fields.length > 0 && depth < 4 && r.chance(0.6)) {
      const at = r.int(node.fields.length);
      const fields = [...node.fields];
      fields[at] = { ...fields[at], node: this.mutateNode(fields[at].node, depth + 1) };
      return { kind: 'struct', fields };
    }
    switch (node.kind) {
      case 'struct':
        return { kind: 'struct', fields: this.mutateFields(node.fields) };
      case 'string':
        return r.chance(0.5)
          ? { ...node, declared: r.pick([node.bytes.length + 1, node.bytes.length - 1, -1, 2 ** 31 - 1, 1024 * 1024, 1024 * 1024 + 1, 0]) }
          : { kind: 'string', bytes: r.chance(0.5) ? INVALID_UTF8 : r.bytes(r.int(40)) };
      case 'i64':
        return { kind: 'i64', value: r.pick([0n, -1n, 2n ** 63n - 1n, -(2n ** 63n), 2n ** 53n + 1n, BigInt(r.int(2 ** 31))]) };
      case 'i32':
      case 'i16':
      case 'byte':
        return { kind: node.kind, value: r.pick([0, -1, 2 ** 31 - 1, -(2 ** 31), r.int(256)]) };
      default:
        return this.randomNode(r.int(3));
    }
  }

  private mutateFields(fields: readonly TField[]): TField[] {
    const r = this.rng;
    const out = [...fields];
    const at = r.int(Math.max(1, out.length));
    switch (r.int(6)) {
      case 0: // announce the wrong type (or one that does not exist)
        if (out.length > 0) out[at] = { ...out[at], type: r.chance(0.8) ? r.pick(TTYPES) : r.pick([5, 7, 9, 14, 17, 0x3f]) };
        break;
      case 1: // another field id
        if (out.length > 0) out[at] = { ...out[at], id: r.pick([0, -1, 32767, -32768, 100, at + 1]) };
        break;
      case 2: // drop a field (often a required one)
        out.splice(at, 1);
        break;
      case 3: // repeat a field
        if (out.length > 0) out.splice(at, 0, out[at]);
        break;
      case 4: // an unknown field lockd must skip, possibly deeply nested
        out.splice(at, 0, field(r.between(8, 200), r.chance(0.2) ? this.deepNode(r.between(50, 80)) : this.randomNode(r.int(4))));
        break;
      default: // a container whose size lies
        out.splice(at, 0, field(r.between(8, 200), { kind: r.pick(['list', 'set'] as const), elementType: r.pick(TTYPES), items: [i32(1)], declared: r.pick([-1, 2 ** 31 - 1, 1_000_000, 3]) }));
    }
    return out;
  }

  /** A random value up to `depth` levels of nesting. */
  private randomNode(depth: number): TNode {
    const r = this.rng;
    const kinds = depth > 0 ? 11 : 7;
    switch (r.int(kinds)) {
      case 0: return { kind: 'bool', value: r.chance(0.5) };
      case 1: return { kind: 'byte', value: r.int(256) - 128 };
      case 2: return { kind: 'i16', value: r.int(65536) - 32768 };
      case 3: return i32(r.int(2 ** 32) - 2 ** 31);
      case 4: return i64(BigInt(r.int(2 ** 31)) * BigInt(r.int(2 ** 31)) * (r.chance(0.5) ? -1n : 1n));
      case 5: return { kind: 'double', value: r.pick([0, -0, NaN, Infinity, 1.5, -1e308]) };
      case 6: return str(r.bytes(r.int(64)));
      case 7: return { kind: 'struct', fields: Array.from({ length: r.int(4) }, () => field(r.between(1, 30), this.randomNode(depth - 1))) };
      case 8: {
        const element = this.randomNode(0);
        return { kind: r.chance(0.5) ? 'list' : 'set', elementType: ttypeOf(element), items: Array.from({ length: r.int(20) }, () => element) };
      }
      case 9: {
        const k = this.randomNode(0);
        const v = this.randomNode(depth - 1);
        return { kind: 'map', keyType: ttypeOf(k), valueType: ttypeOf(v), entries: Array.from({ length: r.int(5) }, () => [k, v] as const) };
      }
      default:
        return str('x'.repeat(r.int(300)));
    }
  }

  /** Structs or lists nested `levels` deep (lockd refuses more than 64 levels while skipping). */
  private deepNode(levels: number): TNode {
    let node: TNode = i32(7);
    const asList = this.rng.chance(0.5);
    for (let i = 0; i < levels; i++) {
      node = asList ? { kind: 'list', elementType: ttypeOf(node), items: [node] } : { kind: 'struct', fields: [field(1, node)] };
    }
    return node;
  }

  // ---- Byte mutations -------------------------------------------------------------------------

  private mutateBytes(bytes: Buffer): Buffer {
    const r = this.rng;
    let out = Buffer.from(bytes);
    for (let i = r.between(1, 4); i > 0 && out.length > 0; i--) {
      const at = r.int(out.length);
      switch (r.int(6)) {
        case 0:
          out[at] ^= 1 << r.int(8);
          break;
        case 1:
          out[at] = r.pick([0x00, 0xff, 0x7f, 0x80, 0x0f, 0xf0]);
          break;
        case 2:
          out = Buffer.concat([out.subarray(0, at), r.bytes(r.between(1, 8)), out.subarray(at)]);
          break;
        case 3:
          out = Buffer.concat([out.subarray(0, at), out.subarray(Math.min(out.length, at + r.between(1, 8)))]);
          break;
        case 4:
          out = out.subarray(0, at); // truncated: the rest of the stream continues inside it
          break;
        default:
          out = Buffer.concat([out.subarray(0, at), out.subarray(at, at + r.between(1, 16)), out.subarray(at)]);
      }
    }
    return out;
  }

  /** Framed stacks sometimes get a frame length that lies. */
  private frameMaybeLying(bytes: Buffer): Buffer {
    const r = this.rng;
    if (this.stack.transport === 'framed' && r.chance(0.15)) {
      return frame(bytes, 'framed', r.pick([0, -1, bytes.length + 1, bytes.length - 1, 2 ** 31 - 1, 1024 * 1024 + 1]));
    }
    return frame(bytes, this.stack.transport);
  }

  private randomBytes(): Buffer {
    const r = this.rng;
    const body = r.bytes(r.between(1, 300));
    // Half of them start like a real message, so the bytes after the header get exercised too.
    if (r.chance(0.5)) {
      const header = encodeMessage({ name: r.pick(METHODS), type: MessageType.CALL, seqid: r.int(1000), body: { kind: 'struct', fields: [] } }, this.stack.protocol);
      return frame(Buffer.concat([header.subarray(0, header.length - 1), body]), this.stack.transport);
    }
    return body;
  }
}

