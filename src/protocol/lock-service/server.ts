/**
 * The server's side of LockService: reads calls, writes replies.
 */
import type { LeaseView, LockInfoView } from '../../table/types';
import { MessageHeader, MessageType, ProtocolReader, ProtocolWriter, TType } from '../types';
import { readLockRequest, WireClusterInfo, WireLockRequest, writeClusterInfo, writeLease, writeLockInfo } from './structs';

/** One decoded call. Required arguments the caller left out are undefined. */
export type ServiceCall =
  | { method: 'acquireLock' | 'releaseLock' | 'acquire'; seqid: number; request: WireLockRequest | undefined }
  | { method: 'release'; seqid: number; lockKey: string | undefined; keyValid: boolean; token: string | undefined }
  | { method: 'renew'; seqid: number; lockKey: string | undefined; keyValid: boolean; token: string | undefined; ttlMs: number | undefined }
  | { method: 'checkFence'; seqid: number; lockKey: string | undefined; keyValid: boolean; fence: number | undefined }
  | { method: 'inspect'; seqid: number; lockKey: string | undefined; keyValid: boolean }
  /** listLocks, or listLocksPage (`name`): the same call, the reply carries the name it was asked by. */
  | { method: 'listLocks'; name: 'listLocks' | 'listLocksPage'; seqid: number; prefix: string | undefined; limit: number | undefined; startAfter: string | undefined }
  | { method: 'ping'; seqid: number }
  | { method: 'cancelWait'; seqid: number; waitSeqid: number | undefined }
  | { method: 'authenticate'; seqid: number; identity: string | undefined; secret: string | undefined }
  | { method: 'clusterInfo'; seqid: number }
  | { method: 'peerConnection'; seqid: number; nodeId: string | undefined }
  | { method: 'unknown'; seqid: number; name: string; messageType: number };

export type MethodName = Exclude<ServiceCall['method'], 'unknown'>;

const header: MessageHeader = { name: '', type: 0, seqid: 0 };

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
    case 'listLocksPage':
      return readListArgs(r, name, seqid);
    case 'ping':
      r.skip(TType.STRUCT);
      return { method: 'ping', seqid };
    case 'cancelWait':
      return { method: 'cancelWait', seqid, waitSeqid: readSingleI32Arg(r) };
    case 'authenticate':
      return readAuthenticateArgs(r, seqid);
    case 'clusterInfo':
      r.skip(TType.STRUCT);
      return { method: 'clusterInfo', seqid };
    case 'peerConnection':
      return { method: 'peerConnection', seqid, nodeId: readSingleStringArg(r) };
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

function readSingleStringArg(r: ProtocolReader): string | undefined {
  let value: string | undefined;
  r.readStructBegin();
  for (;;) {
    const type = r.readFieldBegin();
    if (type === TType.STOP) break;
    if (r.fieldId === 1 && type === TType.STRING) value = r.readString();
    else r.skip(type);
  }
  r.readStructEnd();
  return value;
}

function readAuthenticateArgs(r: ProtocolReader, seqid: number): ServiceCall {
  let identity: string | undefined;
  let secret: string | undefined;
  r.readStructBegin();
  for (;;) {
    const type = r.readFieldBegin();
    if (type === TType.STOP) break;
    if (r.fieldId === 1 && type === TType.STRING) identity = r.readString();
    else if (r.fieldId === 2 && type === TType.STRING) secret = r.readString();
    else r.skip(type);
  }
  r.readStructEnd();
  return { method: 'authenticate', seqid, identity, secret };
}

// listLocks reads field 3 too: the Node client sends it there (older lockd ignore it).
function readListArgs(r: ProtocolReader, name: 'listLocks' | 'listLocksPage', seqid: number): ServiceCall {
  let prefix: string | undefined;
  let limit: number | undefined;
  let startAfter: string | undefined;
  r.readStructBegin();
  for (;;) {
    const type = r.readFieldBegin();
    if (type === TType.STOP) break;
    if (r.fieldId === 1 && type === TType.STRING) prefix = r.readString();
    else if (r.fieldId === 2 && type === TType.I32) limit = r.readI32();
    else if (r.fieldId === 3 && type === TType.STRING) startAfter = r.readString();
    else r.skip(type);
  }
  r.readStructEnd();
  return { method: 'listLocks', name, seqid, prefix, limit, startAfter };
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

/** Replies list<LockInfo> (listLocks, listLocksPage: `name`). */
export function writeLockInfoListReply(w: ProtocolWriter, seqid: number, infos: readonly LockInfoView[], name: 'listLocks' | 'listLocksPage' = 'listLocks'): void {
  beginReply(w, name, seqid);
  w.writeFieldBegin(TType.LIST, 0);
  w.writeListBegin(TType.STRUCT, infos.length);
  for (const info of infos) writeLockInfo(w, info);
  endReply(w);
}

/** Replies a string (ping, authenticate). */
export function writeStringReply(w: ProtocolWriter, name: string, seqid: number, value: string): void {
  beginReply(w, name, seqid);
  w.writeFieldBegin(TType.STRING, 0);
  w.writeString(value);
  endReply(w);
}

/** Replies a ClusterInfo (clusterInfo). */
export function writeClusterInfoReply(w: ProtocolWriter, seqid: number, info: WireClusterInfo): void {
  beginReply(w, 'clusterInfo', seqid);
  w.writeFieldBegin(TType.STRUCT, 0);
  writeClusterInfo(w, info);
  endReply(w);
}

/** Replies the declared LockError (result field 1); `ownerAddress` only for cluster redirects. */
export function writeLockErrorReply(w: ProtocolWriter, name: string, seqid: number, code: number, message: string, ownerAddress?: string): void {
  beginReply(w, name, seqid);
  w.writeFieldBegin(TType.STRUCT, 1);
  w.writeStructBegin();
  w.writeFieldBegin(TType.I32, 1);
  w.writeI32(code);
  w.writeFieldBegin(TType.STRING, 2);
  w.writeString(message);
  if (ownerAddress !== undefined) {
    w.writeFieldBegin(TType.STRING, 3);
    w.writeString(ownerAddress);
  }
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
