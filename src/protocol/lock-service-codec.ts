/**
 * LockService messages on the wire, written once against ProtocolReader/ProtocolWriter so the
 * server and the client share them for binary and compact. Field ids and types follow
 * idl/lock_service.thrift; the conformance tests check them against the generated stubs.
 */
import { ProtocolError } from '../errors';
import type { HolderView, LeaseView, LockInfoView } from '../table/types';
import { ApplicationErrorType, MessageHeader, MessageType, ProtocolReader, ProtocolWriter, TType } from './types';

/** LockRequest as decoded; `keyValid` is false when lockKey's bytes were not UTF-8. */
export interface WireLockRequest {
  lockKey: string | undefined;
  keyValid: boolean;
  owner: string | undefined;
  ttlMs: number | undefined;
  waitMs: number | undefined;
  mode: number | undefined;
  token: string | undefined;
  ephemeral: boolean | undefined;
}

/** One decoded call. Required arguments the caller left out are undefined. */
export type ServiceCall =
  | { method: 'acquireLock' | 'releaseLock' | 'acquire'; seqid: number; request: WireLockRequest | undefined }
  | { method: 'release'; seqid: number; lockKey: string | undefined; keyValid: boolean; token: string | undefined }
  | { method: 'renew'; seqid: number; lockKey: string | undefined; keyValid: boolean; token: string | undefined; ttlMs: number | undefined }
  | { method: 'checkFence'; seqid: number; lockKey: string | undefined; keyValid: boolean; fence: number | undefined }
  | { method: 'inspect'; seqid: number; lockKey: string | undefined; keyValid: boolean }
  | { method: 'listLocks'; seqid: number; prefix: string | undefined; limit: number | undefined }
  | { method: 'ping'; seqid: number }
  | { method: 'cancelWait'; seqid: number; waitSeqid: number | undefined }
  | { method: 'unknown'; seqid: number; name: string; messageType: number };

export type MethodName = Exclude<ServiceCall['method'], 'unknown'>;

const header: MessageHeader = { name: '', type: 0, seqid: 0 };

// ---------------------------------------------------------------------------------------------
// Server side: read calls, write replies.

/** Reads one whole call message. Unknown methods are skipped and returned as 'unknown'. */
export function readCall(r: ProtocolReader): ServiceCall {
  r.readMessageBegin(header);
  const { name, seqid, type } = header;
  if (type !== MessageType.CALL && type !== MessageType.ONEWAY) {
    r.skip(TType.STRUCT);
    return { method: 'unknown', seqid, name, messageType: type };
  }
  switch (name) {
    case 'acquire':
    case 'acquireLock':
    case 'releaseLock':
      return { method: name, seqid, request: readRequestArgs(r) };
    case 'release':
    case 'renew':
    case 'checkFence':
    case 'inspect':
      return readKeyedArgs(r, name, seqid);
    case 'listLocks':
      return readListArgs(r, seqid);
    case 'ping':
      r.skip(TType.STRUCT);
      return { method: 'ping', seqid };
    case 'cancelWait':
      return { method: 'cancelWait', seqid, waitSeqid: readSingleI32Arg(r) };
    default:
      r.skip(TType.STRUCT);
      return { method: 'unknown', seqid, name, messageType: type };
  }
}

function readRequestArgs(r: ProtocolReader): WireLockRequest | undefined {
  let request: WireLockRequest | undefined;
  r.readStructBegin();
  for (;;) {
    const type = r.readFieldBegin();
    if (type === TType.STOP) break;
    if (r.fieldId === 1 && type === TType.STRUCT) request = readLockRequest(r);
    else r.skip(type);
  }
  r.readStructEnd();
  return request;
}

/** Reads a LockRequest struct. */
export function readLockRequest(r: ProtocolReader): WireLockRequest {
  const q: WireLockRequest = {
    lockKey: undefined,
    keyValid: true,
    owner: undefined,
    ttlMs: undefined,
    waitMs: undefined,
    mode: undefined,
    token: undefined,
    ephemeral: undefined,
  };
  r.readStructBegin();
  for (;;) {
    const type = r.readFieldBegin();
    if (type === TType.STOP) break;
    switch (r.fieldId) {
      case 1:
        if (type !== TType.STRING) break;
        q.lockKey = r.readString();
        q.keyValid = r.lastStringValid;
        continue;
      case 2:
        if (type !== TType.STRING) break;
        q.owner = r.readString();
        continue;
      case 3:
        if (type !== TType.I64) break;
        q.ttlMs = r.readI64();
        continue;
      case 4:
        if (type !== TType.I64) break;
        q.waitMs = r.readI64();
        continue;
      case 5:
        if (type !== TType.I32) break;
        q.mode = r.readI32();
        continue;
      case 6:
        if (type !== TType.STRING) break;
        q.token = r.readString();
        continue;
      case 7:
        if (type !== TType.BOOL) break;
        q.ephemeral = r.readBool();
        continue;
    }
    r.skip(type);
  }
  r.readStructEnd();
  return q;
}

function readKeyedArgs(r: ProtocolReader, method: 'release' | 'renew' | 'checkFence' | 'inspect', seqid: number): ServiceCall {
  let lockKey: string | undefined;
  let keyValid = true;
  let token: string | undefined;
  let number: number | undefined;
  r.readStructBegin();
  for (;;) {
    const type = r.readFieldBegin();
    if (type === TType.STOP) break;
    const id = r.fieldId;
    if (id === 1 && type === TType.STRING) {
      lockKey = r.readString();
      keyValid = r.lastStringValid;
    } else if (id === 2 && method === 'checkFence' && type === TType.I64) {
      number = r.readI64();
    } else if (id === 2 && (method === 'release' || method === 'renew') && type === TType.STRING) {
      token = r.readString();
    } else if (id === 3 && method === 'renew' && type === TType.I64) {
      number = r.readI64();
    } else {
      r.skip(type);
    }
  }
  r.readStructEnd();
  switch (method) {
    case 'release': return { method, seqid, lockKey, keyValid, token };
    case 'renew': return { method, seqid, lockKey, keyValid, token, ttlMs: number };
    case 'checkFence': return { method, seqid, lockKey, keyValid, fence: number };
    case 'inspect': return { method, seqid, lockKey, keyValid };
  }
}

function readSingleI32Arg(r: ProtocolReader): number | undefined {
  let value: number | undefined;
  r.readStructBegin();
  for (;;) {
    const type = r.readFieldBegin();
    if (type === TType.STOP) break;
    if (r.fieldId === 1 && type === TType.I32) value = r.readI32();
    else r.skip(type);
  }
  r.readStructEnd();
  return value;
}

function readListArgs(r: ProtocolReader, seqid: number): ServiceCall {
  let prefix: string | undefined;
  let limit: number | undefined;
  r.readStructBegin();
  for (;;) {
    const type = r.readFieldBegin();
    if (type === TType.STOP) break;
    if (r.fieldId === 1 && type === TType.STRING) prefix = r.readString();
    else if (r.fieldId === 2 && type === TType.I32) limit = r.readI32();
    else r.skip(type);
  }
  r.readStructEnd();
  return { method: 'listLocks', seqid, prefix, limit };
}

function beginReply(w: ProtocolWriter, name: string, seqid: number): void {
  w.writeMessageBegin(name, MessageType.REPLY, seqid);
  w.writeStructBegin();
}

function endReply(w: ProtocolWriter): void {
  w.writeFieldStop();
  w.writeStructEnd();
}

/** Replies `bool` (acquireLock, releaseLock, release, checkFence). */
export function writeBoolReply(w: ProtocolWriter, name: string, seqid: number, value: boolean): void {
  beginReply(w, name, seqid);
  w.writeFieldBegin(TType.BOOL, 0);
  w.writeBool(value);
  endReply(w);
}

/** Replies an AcquireResult: the lease, or acquired = false. */
export function writeAcquireReply(w: ProtocolWriter, seqid: number, lease: LeaseView | undefined): void {
  beginReply(w, 'acquire', seqid);
  w.writeFieldBegin(TType.STRUCT, 0);
  w.writeStructBegin();
  w.writeFieldBegin(TType.BOOL, 1);
  w.writeBool(lease !== undefined);
  if (lease !== undefined) {
    w.writeFieldBegin(TType.STRUCT, 2);
    writeLease(w, lease);
  }
  w.writeFieldStop();
  w.writeStructEnd();
  endReply(w);
}

/** Replies a Lease (renew). */
export function writeLeaseReply(w: ProtocolWriter, seqid: number, lease: LeaseView): void {
  beginReply(w, 'renew', seqid);
  w.writeFieldBegin(TType.STRUCT, 0);
  writeLease(w, lease);
  endReply(w);
}

/** Replies a LockInfo (inspect). */
export function writeLockInfoReply(w: ProtocolWriter, seqid: number, info: LockInfoView): void {
  beginReply(w, 'inspect', seqid);
  w.writeFieldBegin(TType.STRUCT, 0);
  writeLockInfo(w, info);
  endReply(w);
}

/** Replies list<LockInfo> (listLocks). */
export function writeLockInfoListReply(w: ProtocolWriter, seqid: number, infos: readonly LockInfoView[]): void {
  beginReply(w, 'listLocks', seqid);
  w.writeFieldBegin(TType.LIST, 0);
  w.writeListBegin(TType.STRUCT, infos.length);
  for (const info of infos) writeLockInfo(w, info);
  endReply(w);
}

/** Replies a string (ping). */
export function writeStringReply(w: ProtocolWriter, name: string, seqid: number, value: string): void {
  beginReply(w, name, seqid);
  w.writeFieldBegin(TType.STRING, 0);
  w.writeString(value);
  endReply(w);
}

/** Replies the declared LockError (result field 1). */
export function writeLockErrorReply(w: ProtocolWriter, name: string, seqid: number, code: number, message: string): void {
  beginReply(w, name, seqid);
  w.writeFieldBegin(TType.STRUCT, 1);
  w.writeStructBegin();
  w.writeFieldBegin(TType.I32, 1);
  w.writeI32(code);
  w.writeFieldBegin(TType.STRING, 2);
  w.writeString(message);
  w.writeFieldStop();
  w.writeStructEnd();
  endReply(w);
}

/** Replies a TApplicationException (unknown method, internal error). */
export function writeApplicationException(w: ProtocolWriter, name: string, seqid: number, type: number, message: string): void {
  w.writeMessageBegin(name, MessageType.EXCEPTION, seqid);
  w.writeStructBegin();
  w.writeFieldBegin(TType.STRING, 1);
  w.writeString(message);
  w.writeFieldBegin(TType.I32, 2);
  w.writeI32(type);
  w.writeFieldStop();
  w.writeStructEnd();
}

function writeLease(w: ProtocolWriter, lease: LeaseView): void {
  w.writeStructBegin();
  w.writeFieldBegin(TType.STRING, 1);
  w.writeString(lease.key);
  w.writeFieldBegin(TType.STRING, 2);
  w.writeString(lease.token);
  w.writeFieldBegin(TType.I64, 3);
  w.writeI64(lease.fence);
  w.writeFieldBegin(TType.I64, 4);
  w.writeI64(lease.ttlMs);
  w.writeFieldBegin(TType.I64, 5);
  w.writeI64(lease.expiresAtMs);
  w.writeFieldBegin(TType.I32, 6);
  w.writeI32(lease.mode);
  w.writeFieldBegin(TType.I32, 7);
  w.writeI32(lease.holdCount);
  w.writeFieldStop();
  w.writeStructEnd();
}

function writeHolder(w: ProtocolWriter, holder: HolderView): void {
  w.writeStructBegin();
  if (holder.owner !== undefined) {
    w.writeFieldBegin(TType.STRING, 1);
    w.writeString(holder.owner);
  }
  w.writeFieldBegin(TType.I32, 2);
  w.writeI32(holder.mode);
  w.writeFieldBegin(TType.I64, 3);
  w.writeI64(holder.fence);
  w.writeFieldBegin(TType.I64, 4);
  w.writeI64(holder.expiresAtMs);
  w.writeFieldBegin(TType.I32, 5);
  w.writeI32(holder.holdCount);
  w.writeFieldStop();
  w.writeStructEnd();
}

function writeLockInfo(w: ProtocolWriter, info: LockInfoView): void {
  w.writeStructBegin();
  w.writeFieldBegin(TType.STRING, 1);
  w.writeString(info.key);
  w.writeFieldBegin(TType.LIST, 2);
  w.writeListBegin(TType.STRUCT, info.holders.length);
  for (const holder of info.holders) writeHolder(w, holder);
  w.writeFieldBegin(TType.I32, 3);
  w.writeI32(info.waiters);
  w.writeFieldStop();
  w.writeStructEnd();
}

// ---------------------------------------------------------------------------------------------
// Client side: write calls, read replies.

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

/** Writes a call whose arguments are given as [fieldId, type, value] in id order. */
export function writeArgsCall(
  w: ProtocolWriter,
  method: 'release' | 'renew' | 'checkFence' | 'inspect' | 'listLocks' | 'ping' | 'cancelWait',
  seqid: number,
  args: ReadonlyArray<readonly [number, typeof TType.STRING | typeof TType.I64 | typeof TType.I32, string | number]>,
): void {
  w.writeMessageBegin(method, MessageType.CALL, seqid);
  w.writeStructBegin();
  for (const [id, type, value] of args) {
    w.writeFieldBegin(type, id);
    if (type === TType.STRING) w.writeString(value as string);
    else if (type === TType.I64) w.writeI64(value as number);
    else w.writeI32(value as number);
  }
  w.writeFieldStop();
  w.writeStructEnd();
}

/** A decoded Lease (IDL names). */
export interface WireLease {
  lockKey: string;
  token: string;
  fence: number;
  ttlMs: number;
  expiresAtMs: number;
  mode: number;
  holdCount: number;
}

/** A decoded Holder (IDL names). */
export interface WireHolder {
  owner: string | undefined;
  mode: number;
  fence: number;
  expiresAtMs: number;
  holdCount: number;
}

/** A decoded LockInfo (IDL names). */
export interface WireLockInfo {
  lockKey: string;
  holders: WireHolder[];
  waiters: number;
}

/** What one reply carried. */
export type ServiceReply =
  | { kind: 'ok'; seqid: number; value: unknown }
  | { kind: 'lockError'; seqid: number; code: number; message: string }
  | { kind: 'applicationError'; seqid: number; type: number; message: string };

/** What a method's success value decodes to; the client picks the decoder by the call's method. */
export type ResultKind = 'bool' | 'acquireResult' | 'lease' | 'lockInfo' | 'lockInfoList' | 'string';

/** The result kind of each method. */
export const RESULT_KIND: Readonly<Record<MethodName, ResultKind>> = {
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
};

/** Reads the header of one reply; then call readReplyBody with the kind its seqid expects. */
export function readReplyHeader(r: ProtocolReader): MessageHeader {
  const into: MessageHeader = { name: '', type: 0, seqid: 0 };
  r.readMessageBegin(into);
  return into;
}

/** Reads a reply's body: the success value, the LockError, or a TApplicationException. */
export function readReplyBody(r: ProtocolReader, head: MessageHeader, kind: ResultKind): ServiceReply {
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
  let reply: ServiceReply | undefined;
  r.readStructBegin();
  for (;;) {
    const t = r.readFieldBegin();
    if (t === TType.STOP) break;
    if (r.fieldId === 0) {
      reply = { kind: 'ok', seqid: head.seqid, value: readValue(r, t, kind) };
    } else if (r.fieldId === 1 && t === TType.STRUCT) {
      let code = 0;
      let message = '';
      r.readStructBegin();
      for (;;) {
        const ft = r.readFieldBegin();
        if (ft === TType.STOP) break;
        const id: number = r.fieldId;
        if (id === 1 && ft === TType.I32) code = r.readI32();
        else if (id === 2 && ft === TType.STRING) message = r.readString();
        else r.skip(ft);
      }
      r.readStructEnd();
      reply = { kind: 'lockError', seqid: head.seqid, code, message };
    } else {
      r.skip(t);
    }
  }
  r.readStructEnd();
  if (reply === undefined) throw new ProtocolError(`reply to ${head.name} carries no result`);
  return reply;
}

function readValue(r: ProtocolReader, type: number, kind: ResultKind): unknown {
  switch (kind) {
    case 'bool':
      expectType(type, TType.BOOL);
      return r.readBool();
    case 'string':
      expectType(type, TType.STRING);
      return r.readString();
    case 'lease':
      expectType(type, TType.STRUCT);
      return readLease(r);
    case 'lockInfo':
      expectType(type, TType.STRUCT);
      return readLockInfo(r);
    case 'lockInfoList': {
      expectType(type, TType.LIST);
      const elementType = r.readListBegin();
      expectType(elementType, TType.STRUCT);
      const infos: WireLockInfo[] = [];
      for (let i = r.containerSize; i > 0; i--) infos.push(readLockInfo(r));
      return infos;
    }
    case 'acquireResult': {
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
    }
  }
}

function expectType(actual: number, expected: number): void {
  if (actual !== expected) throw new ProtocolError(`result has type ${actual}, expected ${expected}`);
}

function readLease(r: ProtocolReader): WireLease {
  const lease: WireLease = { lockKey: '', token: '', fence: 0, ttlMs: 0, expiresAtMs: 0, mode: 1, holdCount: 0 };
  r.readStructBegin();
  for (;;) {
    const t = r.readFieldBegin();
    if (t === TType.STOP) break;
    const id = r.fieldId;
    if (id === 1 && t === TType.STRING) lease.lockKey = r.readString();
    else if (id === 2 && t === TType.STRING) lease.token = r.readString();
    else if (id === 3 && t === TType.I64) lease.fence = r.readI64();
    else if (id === 4 && t === TType.I64) lease.ttlMs = r.readI64();
    else if (id === 5 && t === TType.I64) lease.expiresAtMs = r.readI64();
    else if (id === 6 && t === TType.I32) lease.mode = r.readI32();
    else if (id === 7 && t === TType.I32) lease.holdCount = r.readI32();
    else r.skip(t);
  }
  r.readStructEnd();
  return lease;
}

function readLockInfo(r: ProtocolReader): WireLockInfo {
  const info: WireLockInfo = { lockKey: '', holders: [], waiters: 0 };
  r.readStructBegin();
  for (;;) {
    const t = r.readFieldBegin();
    if (t === TType.STOP) break;
    const id = r.fieldId;
    if (id === 1 && t === TType.STRING) info.lockKey = r.readString();
    else if (id === 2 && t === TType.LIST) {
      const elementType = r.readListBegin();
      expectType(elementType, TType.STRUCT);
      for (let i = r.containerSize; i > 0; i--) info.holders.push(readHolder(r));
    } else if (id === 3 && t === TType.I32) info.waiters = r.readI32();
    else r.skip(t);
  }
  r.readStructEnd();
  return info;
}

function readHolder(r: ProtocolReader): WireHolder {
  const holder: WireHolder = { owner: undefined, mode: 1, fence: 0, expiresAtMs: 0, holdCount: 0 };
  r.readStructBegin();
  for (;;) {
    const t = r.readFieldBegin();
    if (t === TType.STOP) break;
    const id = r.fieldId;
    if (id === 1 && t === TType.STRING) holder.owner = r.readString();
    else if (id === 2 && t === TType.I32) holder.mode = r.readI32();
    else if (id === 3 && t === TType.I64) holder.fence = r.readI64();
    else if (id === 4 && t === TType.I64) holder.expiresAtMs = r.readI64();
    else if (id === 5 && t === TType.I32) holder.holdCount = r.readI32();
    else r.skip(t);
  }
  r.readStructEnd();
  return holder;
}
