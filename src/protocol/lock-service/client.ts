/**
 * The client's side of LockService: writes calls, reads replies.
 */
import { ProtocolError } from '../../errors';
import { ApplicationErrorType, MessageHeader, MessageType, ProtocolReader, ProtocolWriter, TType } from '../types';
import type { MethodName } from './server';

export type { MethodName };
import { expectType, readLease, readLockInfo, WireLease, WireLockInfo } from './structs';

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
  method: 'release' | 'renew' | 'checkFence' | 'inspect' | 'listLocks' | 'ping' | 'cancelWait' | 'authenticate',
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
  authenticate: 'string',
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

