/**
 * etcd's KV.Txn over a bare HTTP/2 connection with hand-encoded protobuf, for journal appends
 * only: the one etcd call on the hot path of cluster mode. Measured on a 2-core machine under
 * the cluster benchmark, etcd3 + grpc-js spent 1.5-2.5 ms of CPU per txn, most of a lockd
 * node's CPU; this channel spends about half as much (HTTP/2 framing is node's own), which goes
 * to etcd instead. Small snapshots go this way too; everything else (claims, replays, large
 * snapshots, watches, leases) stays on etcd3.
 *
 * Encodes only what the journal sends: compares on CREATE / VERSION / MOD revisions, puts,
 * single-key ranges and range deletes; decodes `succeeded` and each range's key-values. One
 * member at a time: a call that times out or finds its member unreachable moves the channel to
 * the next member (a paused etcd leader costs one call deadline, not one per randomly chosen
 * call).
 */
import http2 from 'node:http2';
import { UnavailableError } from '../errors';

/** A comparison the journal guards a write with (etcd's Compare, the fields used here). */
export interface TxnCompare {
  key: Buffer;
  target: 'Create' | 'Version' | 'Mod';
  result: 'Equal' | 'Greater' | 'Less' | 'NotEqual';
  create_revision?: string | number;
  version?: string | number;
  mod_revision?: string | number;
}

/** One request of a txn branch: a put, a range of a single key, or a delete of a key range. */
export interface TxnOp {
  request_put?: { key: Buffer; value: Buffer };
  request_range?: { key: Buffer };
  request_delete_range?: { key: Buffer; range_end: Buffer };
}

export interface TxnRequest {
  compare: TxnCompare[];
  success: TxnOp[];
  failure: TxnOp[];
}

/** A key-value as a range returns it; revisions as decimal strings (etcd3's int64 form). */
export interface TxnKeyValue {
  key: Buffer;
  create_revision: string;
  mod_revision: string;
  version: string;
  value: Buffer;
}

export interface TxnResponse {
  succeeded: boolean;
  /** One per request of the branch taken; a put's has no kvs. */
  responses: Array<{ response_range: { kvs: TxnKeyValue[] } }>;
}

/** What the journal appends through: this channel, or etcd3's `client.kv`. */
export interface TxnSender {
  txn(request: TxnRequest): Promise<TxnResponse>;
}

const RESULTS = { Equal: 0, Greater: 1, Less: 2, NotEqual: 3 } as const;
const TARGETS = { Version: 0, Create: 1, Mod: 2 } as const;
/** gRPC status codes after which the member is left for the next one. */
const MEMBER_FAILED = new Set([4 /* DEADLINE_EXCEEDED */, 14 /* UNAVAILABLE */]);

export class EtcdTxnChannel implements TxnSender {
  private readonly sessions: Array<http2.ClientHttp2Session | undefined>;
  private index = 0;
  private closed = false;

  constructor(
    private readonly endpoints: string[],
    private readonly callTimeoutMs: number,
  ) {
    if (endpoints.length === 0) throw new Error('EtcdTxnChannel needs at least one endpoint');
    this.sessions = endpoints.map(() => undefined);
  }

  async txn(request: TxnRequest): Promise<TxnResponse> {
    return decodeTxnResponse(await this.call('/etcdserverpb.KV/Txn', encodeTxnRequest(request)));
  }

  close(): void {
    this.closed = true;
    for (const session of this.sessions) session?.close();
  }

  private session(member: number): http2.ClientHttp2Session {
    const existing = this.sessions[member];
    if (existing !== undefined && !existing.closed && !existing.destroyed) return existing;
    const session = http2.connect(this.endpoints[member]);
    const forget = () => {
      if (this.sessions[member] === session) this.sessions[member] = undefined;
    };
    session.on('error', forget);
    session.on('close', forget);
    session.on('goaway', forget);
    session.unref();
    this.sessions[member] = session;
    return session;
  }

  /** Leaves `member` for the next one, unless another call already did. */
  private memberFailed(member: number, session: http2.ClientHttp2Session | undefined): void {
    if (this.index === member) this.index = (member + 1) % this.endpoints.length;
    if (session !== undefined && this.sessions[member] === session) {
      this.sessions[member] = undefined;
      session.destroy();
    }
  }

  private call(path: string, message: Buffer): Promise<Buffer> {
    if (this.closed) return Promise.reject(new UnavailableError('the etcd txn channel is closed'));
    const member = this.index;
    const endpoint = this.endpoints[member];
    return new Promise<Buffer>((resolve, reject) => {
      let session: http2.ClientHttp2Session | undefined;
      let settled = false;
      const fail = (code: number, why: string) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        if (MEMBER_FAILED.has(code)) this.memberFailed(member, session);
        reject(new UnavailableError(`etcd ${endpoint}: ${why} (gRPC status ${code})`));
      };
      const timer = setTimeout(() => {
        stream?.close(http2.constants.NGHTTP2_CANCEL);
        fail(4, `no answer within ${this.callTimeoutMs} ms`);
      }, this.callTimeoutMs);
      let stream: http2.ClientHttp2Stream | undefined;
      try {
        session = this.session(member);
        stream = session.request({
          ':method': 'POST',
          ':path': path,
          'content-type': 'application/grpc',
          te: 'trailers',
          'grpc-timeout': `${this.callTimeoutMs}m`,
        });
      } catch (error) {
        fail(14, (error as Error).message);
        return;
      }
      const chunks: Buffer[] = [];
      let status: string | undefined;
      let statusMessage = '';
      const takeStatus = (headers: http2.IncomingHttpHeaders) => {
        const code = headers['grpc-status'];
        if (typeof code === 'string') {
          status = code;
          statusMessage = decodeURIComponent(String(headers['grpc-message'] ?? ''));
        }
      };
      stream.on('response', (headers) => {
        if (headers[':status'] !== 200) fail(14, `HTTP status ${headers[':status']}`);
        else takeStatus(headers); // a trailers-only answer (an error) carries its status here
      });
      stream.on('trailers', takeStatus);
      stream.on('data', (chunk: Buffer) => chunks.push(chunk));
      stream.on('error', (error) => fail(14, error.message));
      stream.on('close', () => {
        if (settled) return;
        if (status === undefined) return fail(14, 'the stream closed without a gRPC status');
        if (status !== '0') return fail(Number(status), statusMessage || 'etcd refused the call');
        const body = Buffer.concat(chunks);
        if (body.length < 5 || body[0] !== 0 || body.readUInt32BE(1) !== body.length - 5) return fail(13, `malformed gRPC answer (${body.length} bytes)`);
        settled = true;
        clearTimeout(timer);
        resolve(body.subarray(5));
      });
      const frame = Buffer.allocUnsafe(5 + message.length);
      frame[0] = 0;
      frame.writeUInt32BE(message.length, 1);
      message.copy(frame, 5);
      stream.end(frame);
    });
  }
}

// --- protobuf (proto3 wire format) -------------------------------------------------------------

/** Appends protobuf fields to a growing byte list. */
class ProtoWriter {
  private readonly parts: Buffer[] = [];
  private readonly scratch: number[] = [];

  varintField(field: number, value: bigint | number): this {
    this.tag(field, 0);
    this.varint(BigInt(value));
    return this;
  }

  bytesField(field: number, bytes: Buffer): this {
    this.tag(field, 2);
    this.varint(BigInt(bytes.length));
    this.flush();
    this.parts.push(bytes);
    return this;
  }

  finish(): Buffer {
    this.flush();
    return Buffer.concat(this.parts);
  }

  private tag(field: number, wireType: number): void {
    this.varint(BigInt((field << 3) | wireType));
  }

  private varint(value: bigint): void {
    // int64 negatives are ten bytes of two's complement; the journal sends none, but encode them right.
    let v = value < 0n ? value + (1n << 64n) : value;
    while (v > 127n) {
      this.scratch.push(Number(v & 127n) | 128);
      v >>= 7n;
    }
    this.scratch.push(Number(v));
  }

  private flush(): void {
    if (this.scratch.length === 0) return;
    this.parts.push(Buffer.from(this.scratch));
    this.scratch.length = 0;
  }
}

export function encodeTxnRequest(request: TxnRequest): Buffer {
  const txn = new ProtoWriter();
  for (const compare of request.compare) txn.bytesField(1, encodeCompare(compare));
  for (const op of request.success) txn.bytesField(2, encodeOp(op));
  for (const op of request.failure) txn.bytesField(3, encodeOp(op));
  return txn.finish();
}

function encodeCompare(compare: TxnCompare): Buffer {
  const out = new ProtoWriter().varintField(1, RESULTS[compare.result]).varintField(2, TARGETS[compare.target]).bytesField(3, compare.key);
  // The target_union oneof is written even when 0: "version == 0" (the key does not exist) is the journal's guard.
  const operand = compare.target === 'Create' ? compare.create_revision : compare.target === 'Version' ? compare.version : compare.mod_revision;
  if (operand === undefined) throw new Error(`compare on ${compare.target} without its operand`);
  const field = compare.target === 'Version' ? 4 : compare.target === 'Create' ? 5 : 6;
  return out.varintField(field, BigInt(operand)).finish();
}

function encodeOp(op: TxnOp): Buffer {
  if (op.request_put !== undefined) return new ProtoWriter().bytesField(2, new ProtoWriter().bytesField(1, op.request_put.key).bytesField(2, op.request_put.value).finish()).finish();
  if (op.request_range !== undefined) return new ProtoWriter().bytesField(1, new ProtoWriter().bytesField(1, op.request_range.key).finish()).finish();
  if (op.request_delete_range !== undefined) {
    const { key, range_end } = op.request_delete_range;
    return new ProtoWriter().bytesField(3, new ProtoWriter().bytesField(1, key).bytesField(2, range_end).finish()).finish();
  }
  throw new Error('a txn op must be a put, a range or a delete range');
}

/** Reads protobuf fields off a buffer. */
class ProtoReader {
  private pos = 0;

  constructor(private readonly buf: Buffer) {}

  get done(): boolean {
    return this.pos >= this.buf.length;
  }

  /** Next field's number and wire type. */
  tag(): { field: number; wireType: number } {
    const tag = Number(this.varint());
    return { field: tag >>> 3, wireType: tag & 7 };
  }

  varint(): bigint {
    let result = 0n;
    for (let shift = 0n; shift < 70n; shift += 7n) {
      if (this.pos >= this.buf.length) throw new Error('truncated varint in an etcd answer');
      const byte = this.buf[this.pos++];
      result |= BigInt(byte & 127) << shift;
      if (byte < 128) return result;
    }
    throw new Error('overlong varint in an etcd answer');
  }

  bytes(): Buffer {
    const length = Number(this.varint());
    if (this.pos + length > this.buf.length) throw new Error('truncated field in an etcd answer');
    const bytes = this.buf.subarray(this.pos, this.pos + length);
    this.pos += length;
    return bytes;
  }

  skip(wireType: number): void {
    if (wireType === 0) this.varint();
    else if (wireType === 2) this.bytes();
    else if (wireType === 1) this.pos += 8;
    else if (wireType === 5) this.pos += 4;
    else throw new Error(`unknown protobuf wire type ${wireType} in an etcd answer`);
  }
}

/** Reads every field of `buf`, handing each to `visit` (which reads or skips it). */
function readFields(buf: Buffer, visit: (reader: ProtoReader, field: number, wireType: number) => boolean): void {
  const reader = new ProtoReader(buf);
  while (!reader.done) {
    const { field, wireType } = reader.tag();
    if (!visit(reader, field, wireType)) reader.skip(wireType);
  }
}

export function decodeTxnResponse(buf: Buffer): TxnResponse {
  const response: TxnResponse = { succeeded: false, responses: [] };
  readFields(buf, (reader, field, wireType) => {
    if (field === 2 && wireType === 0) response.succeeded = reader.varint() !== 0n;
    else if (field === 3 && wireType === 2) response.responses.push(decodeResponseOp(reader.bytes()));
    else return false;
    return true;
  });
  return response;
}

function decodeResponseOp(buf: Buffer): TxnResponse['responses'][number] {
  const kvs: TxnKeyValue[] = [];
  readFields(buf, (reader, field, wireType) => {
    if (field !== 1 || wireType !== 2) return false; // a put's (or delete's) answer: nothing the journal reads
    readFields(reader.bytes(), (range, rangeField, rangeWire) => {
      if (rangeField !== 2 || rangeWire !== 2) return false;
      kvs.push(decodeKeyValue(range.bytes()));
      return true;
    });
    return true;
  });
  return { response_range: { kvs } };
}

function decodeKeyValue(buf: Buffer): TxnKeyValue {
  const kv: TxnKeyValue = { key: Buffer.alloc(0), create_revision: '0', mod_revision: '0', version: '0', value: Buffer.alloc(0) };
  readFields(buf, (reader, field, wireType) => {
    if (wireType === 2 && field === 1) kv.key = Buffer.from(reader.bytes());
    else if (wireType === 2 && field === 5) kv.value = Buffer.from(reader.bytes());
    else if (wireType === 0 && field === 2) kv.create_revision = reader.varint().toString();
    else if (wireType === 0 && field === 3) kv.mod_revision = reader.varint().toString();
    else if (wireType === 0 && field === 4) kv.version = reader.varint().toString();
    else return false;
    return true;
  });
  return kv;
}
