/**
 * The client's side of LockService: one typed call encoder per method (CALL_WRITERS) and one
 * typed reply decoder per method (readReplyBody with RESULT_KIND), so callers never cast.
 */
import { ProtocolError } from '../../errors';
import { ApplicationErrorType, MessageHeader, MessageType, ProtocolReader, ProtocolWriter, TType } from '../types';
import type { MethodName } from './server';
import { expectType, readClusterInfo, readLease, readLockInfo, WireClusterInfo, WireLease, WireLockInfo } from './structs';

export type { MethodName };

/** LockRequest fields a client sends; undefined fields are left out. */
export interface LockRequestFields {
  lockKey: string;
  owner?: string;
  ttlMs?: number;
  waitMs?: number;
  mode?: number;
  token?: string;
  ephemeral?: boolean;
}

/** AcquireResult as decoded. */
export interface WireAcquireResult {
  acquired: boolean;
  lease: WireLease | undefined;
}

/** The arguments of each method, as a client passes them. */
export interface CallArgs {
  acquire: LockRequestFields;
  acquireLock: LockRequestFields;
  releaseLock: LockRequestFields;
  /** `key`/`token` (not lockKey) so a Lease can be passed as it is, without an argument object. */
  release: { readonly key: string; readonly token: string };
  /** ttlMs left out: lockd keeps the lease's own TTL. */
  renew: { readonly key: string; readonly token: string; readonly ttlMs?: number };
  checkFence: { readonly key: string; readonly fence: number };
  inspect: { readonly key: string };
  /** startAfter: the last key of the previous page (lockd pages in key order). */
  listLocks: { readonly prefix: string; readonly limit: number; readonly startAfter?: string };
  ping: undefined;
  cancelWait: { readonly waitSeqid: number };
  /** The secret is sent as is: use TLS when lockd is not on this machine. */
  authenticate: { readonly identity: string; readonly secret: string };
  clusterInfo: undefined;
  peerConnection: { readonly nodeId: string };
}

/** What a method's success value decodes to. */
export type ResultKind = 'bool' | 'acquireResult' | 'lease' | 'lockInfo' | 'lockInfoList' | 'string' | 'clusterInfo';

/** The decoded type of each result kind. */
export interface ResultValue {
  bool: boolean;
  acquireResult: WireAcquireResult;
  lease: WireLease;
  lockInfo: WireLockInfo;
  lockInfoList: WireLockInfo[];
  string: string;
  clusterInfo: WireClusterInfo;
}

/** The result kind of each method. */
export const RESULT_KIND = {
  acquireLock: 'bool',
  releaseLock: 'bool',
  acquire: 'acquireResult',
  release: 'bool',
  renew: 'lease',
  checkFence: 'bool',
  inspect: 'lockInfo',
  listLocks: 'lockInfoList',
  ping: 'string',
  cancelWait: 'bool',
  authenticate: 'string',
  clusterInfo: 'clusterInfo',
  peerConnection: 'string',
} as const satisfies Readonly<Record<MethodName, ResultKind>>;

/** The decoded success value of method M. */
export type ResultOf<M extends MethodName> = ResultValue[(typeof RESULT_KIND)[M]];

/** Writes one call message of a method (header, arguments struct). */
export type CallWriter<A> = (w: ProtocolWriter, seqid: number, args: A) => void;

/** Writes an acquire/acquireLock/releaseLock call. */
export function writeRequestCall(w: ProtocolWriter, method: 'acquire' | 'acquireLock' | 'releaseLock', seqid: number, q: LockRequestFields): void {
  w.writeMessageBegin(method, MessageType.CALL, seqid);
  w.writeStructBegin();
  w.writeFieldBegin(TType.STRUCT, 1);
  w.writeStructBegin();
  w.writeFieldBegin(TType.STRING, 1);
  w.writeString(q.lockKey);
  if (q.owner !== undefined) {
    w.writeFieldBegin(TType.STRING, 2);
    w.writeString(q.owner);
  }
  if (q.ttlMs !== undefined) {
    w.writeFieldBegin(TType.I64, 3);
    w.writeI64(q.ttlMs);
  }
  if (q.waitMs !== undefined) {
    w.writeFieldBegin(TType.I64, 4);
    w.writeI64(q.waitMs);
  }
  if (q.mode !== undefined) {
    w.writeFieldBegin(TType.I32, 5);
    w.writeI32(q.mode);
  }
  if (q.token !== undefined) {
    w.writeFieldBegin(TType.STRING, 6);
    w.writeString(q.token);
  }
  if (q.ephemeral !== undefined) {
    w.writeFieldBegin(TType.BOOL, 7);
    w.writeBool(q.ephemeral);
  }
  w.writeFieldStop();
  w.writeStructEnd();
  w.writeFieldStop();
  w.writeStructEnd();
}

/** Writes a call whose arguments are given as [fieldId, type, value] in id order (undefined values are left out). */
export function writeArgsCall(
  w: ProtocolWriter,
  method: Exclude<MethodName, 'acquire' | 'acquireLock' | 'releaseLock'>,
  seqid: number,
  args: ReadonlyArray<readonly [number, typeof TType.STRING | typeof TType.I64 | typeof TType.I32, string | number | undefined]>,
): void {
  w.writeMessageBegin(method, MessageType.CALL, seqid);
  w.writeStructBegin();
  for (const [id, type, value] of args) {
    if (value === undefined) continue;
    w.writeFieldBegin(type, id);
    if (type === TType.STRING) w.writeString(value as string);
    else if (type === TType.I64) w.writeI64(value as number);
    else w.writeI32(value as number);
  }
  w.writeFieldStop();
  w.writeStructEnd();
}

/** Writes a call whose only arguments are (1: string lockKey, 2: string token). */
function writeKeyTokenCall(w: ProtocolWriter, method: 'release' | 'renew', seqid: number, key: string, token: string): void {
  w.writeMessageBegin(method, MessageType.CALL, seqid);
  w.writeStructBegin();
  w.writeFieldBegin(TType.STRING, 1);
  w.writeString(key);
  w.writeFieldBegin(TType.STRING, 2);
  w.writeString(token);
}

/** The encoder of each method: the only place the client turns arguments into bytes. */
export const CALL_WRITERS: { readonly [M in MethodName]: CallWriter<CallArgs[M]> } = {
  acquire: (w, seqid, q) => writeRequestCall(w, 'acquire', seqid, q),
  acquireLock: (w, seqid, q) => writeRequestCall(w, 'acquireLock', seqid, q),
  releaseLock: (w, seqid, q) => writeRequestCall(w, 'releaseLock', seqid, q),
  release(w, seqid, a) {
    writeKeyTokenCall(w, 'release', seqid, a.key, a.token);
    w.writeFieldStop();
    w.writeStructEnd();
  },
  renew(w, seqid, a) {
    writeKeyTokenCall(w, 'renew', seqid, a.key, a.token);
    if (a.ttlMs !== undefined) {
      w.writeFieldBegin(TType.I64, 3);
      w.writeI64(a.ttlMs);
    }
    w.writeFieldStop();
    w.writeStructEnd();
  },
  checkFence: (w, seqid, a) => writeArgsCall(w, 'checkFence', seqid, [[1, TType.STRING, a.key], [2, TType.I64, a.fence]]),
  inspect: (w, seqid, a) => writeArgsCall(w, 'inspect', seqid, [[1, TType.STRING, a.key]]),
  listLocks: (w, seqid, a) => writeArgsCall(w, 'listLocks', seqid, [[1, TType.STRING, a.prefix], [2, TType.I32, a.limit], [3, TType.STRING, a.startAfter]]),
  ping: (w, seqid) => writeArgsCall(w, 'ping', seqid, []),
  cancelWait: (w, seqid, a) => writeArgsCall(w, 'cancelWait', seqid, [[1, TType.I32, a.waitSeqid]]),
  authenticate: (w, seqid, a) => writeArgsCall(w, 'authenticate', seqid, [[1, TType.STRING, a.identity], [2, TType.STRING, a.secret]]),
  clusterInfo: (w, seqid) => writeArgsCall(w, 'clusterInfo', seqid, []),
  peerConnection: (w, seqid, a) => writeArgsCall(w, 'peerConnection', seqid, [[1, TType.STRING, a.nodeId]]),
};

/** What one reply carried; `T` is the success value's type. */
export type ServiceReply<T = unknown> =
  | { kind: 'ok'; seqid: number; value: T }
  | { kind: 'lockError'; seqid: number; code: number; message: string; ownerAddress?: string }
  | { kind: 'applicationError'; seqid: number; type: number; message: string };

/** Reads the header of one reply; then call readReplyBody with the kind its seqid expects. */
export function readReplyHeader(r: ProtocolReader): MessageHeader {
  const into: MessageHeader = { name: '', type: 0, seqid: 0 };
  r.readMessageBegin(into);
  return into;
}

/** Reads a reply's body: the success value (decoded as `kind`), the LockError, or a TApplicationException. */
export function readReplyBody<K extends ResultKind>(r: ProtocolReader, head: MessageHeader, kind: K): ServiceReply<ResultValue[K]> {
  if (head.type === MessageType.EXCEPTION) {
    let message = '';
    let type: number = ApplicationErrorType.UNKNOWN;
    r.readStructBegin();
    for (;;) {
      const t = r.readFieldBegin();
      if (t === TType.STOP) break;
      if (r.fieldId === 1 && t === TType.STRING) message = r.readString();
      else if (r.fieldId === 2 && t === TType.I32) type = r.readI32();
      else r.skip(t);
    }
    r.readStructEnd();
    return { kind: 'applicationError', seqid: head.seqid, type, message };
  }
  if (head.type !== MessageType.REPLY) throw new ProtocolError(`unexpected message type ${head.type} in a reply`);
  let reply: ServiceReply<ResultValue[K]> | undefined;
  r.readStructBegin();
  for (;;) {
    const t = r.readFieldBegin();
    if (t === TType.STOP) break;
    if (r.fieldId === 0) {
      reply = { kind: 'ok', seqid: head.seqid, value: RESULT_READERS[kind](r, t) };
    } else if (r.fieldId === 1 && t === TType.STRUCT) {
      let code = 0;
      let message = '';
      let ownerAddress: string | undefined;
      r.readStructBegin();
      for (;;) {
        const ft = r.readFieldBegin();
        if (ft === TType.STOP) break;
        const id: number = r.fieldId;
        if (id === 1 && ft === TType.I32) code = r.readI32();
        else if (id === 2 && ft === TType.STRING) message = r.readString();
        else if (id === 3 && ft === TType.STRING) ownerAddress = r.readString();
        else r.skip(ft);
      }
      r.readStructEnd();
      reply = { kind: 'lockError', seqid: head.seqid, code, message, ...(ownerAddress !== undefined && { ownerAddress }) };
    } else {
      r.skip(t);
    }
  }
  r.readStructEnd();
  if (reply === undefined) throw new ProtocolError(`reply to ${head.name} carries no result`);
  return reply;
}

/** One decoder per result kind: reads field 0 (of wire type `type`) of a reply. */
const RESULT_READERS: { readonly [K in ResultKind]: (r: ProtocolReader, type: number) => ResultValue[K] } = {
  bool(r, type) {
    expectType(type, TType.BOOL);
    return r.readBool();
  },
  string(r, type) {
    expectType(type, TType.STRING);
    return r.readString();
  },
  clusterInfo(r, type) {
    expectType(type, TType.STRUCT);
    return readClusterInfo(r);
  },
  lease(r, type) {
    expectType(type, TType.STRUCT);
    return readLease(r);
  },
  lockInfo(r, type) {
    expectType(type, TType.STRUCT);
    return readLockInfo(r);
  },
  lockInfoList(r, type) {
    expectType(type, TType.LIST);
    const elementType = r.readListBegin();
    expectType(elementType, TType.STRUCT);
    const infos: WireLockInfo[] = [];
    for (let i = r.containerSize; i > 0; i--) infos.push(readLockInfo(r));
    return infos;
  },
  acquireResult(r, type) {
    expectType(type, TType.STRUCT);
    let acquired = false;
    let lease: WireLease | undefined;
    r.readStructBegin();
    for (;;) {
      const t = r.readFieldBegin();
      if (t === TType.STOP) break;
      if (r.fieldId === 1 && t === TType.BOOL) acquired = r.readBool();
      else if (r.fieldId === 2 && t === TType.STRUCT) lease = readLease(r);
      else r.skip(t);
    }
    r.readStructEnd();
    return { acquired, lease };
  },
};
