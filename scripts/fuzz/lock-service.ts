/**
 * LockService as the fuzzer and the abuse benchmark see it: each method's argument fields (to
 * build calls) and result type (to check replies), written from idl/lock_service.thrift, plus a
 * generic reply decoder and a strict checker: a reply is well-formed when it is a REPLY to a
 * LockService method carrying exactly one of its result or a LockError with a known code, or a
 * TApplicationException, and every struct in it has its required fields with the IDL's types.
 */
import type { LockRequestFields } from '../../src/protocol/lock-service/client';
import { MessageHeader, MessageType, ProtocolReader, TType } from '../../src/protocol/types';
import { bool, field, i32, i64, str, struct, TField, TMessage, TNode } from './thrift-tree';

/** A value type from the IDL, enough to check a decoded reply. */
export type TypeDesc =
  | { readonly t: 'bool' | 'i32' | 'i64' | 'string' }
  | { readonly t: 'struct'; readonly name: string; readonly fields: Readonly<Record<number, FieldDesc>> }
  | { readonly t: 'list'; readonly element: TypeDesc };

export interface FieldDesc {
  readonly name: string;
  readonly type: TypeDesc;
  readonly required: boolean;
}

const BOOL: TypeDesc = { t: 'bool' };
const I32: TypeDesc = { t: 'i32' };
const I64: TypeDesc = { t: 'i64' };
const STRING: TypeDesc = { t: 'string' };
const req = (name: string, type: TypeDesc): FieldDesc => ({ name, type, required: true });
const opt = (name: string, type: TypeDesc): FieldDesc => ({ name, type, required: false });

export const LEASE: TypeDesc = {
  t: 'struct',
  name: 'Lease',
  fields: { 1: req('lockKey', STRING), 2: req('token', STRING), 3: req('fence', I64), 4: req('ttlMs', I64), 5: req('expiresAtMs', I64), 6: req('mode', I32), 7: req('holdCount', I32) },
};
const HOLDER: TypeDesc = {
  t: 'struct',
  name: 'Holder',
  fields: { 1: opt('owner', STRING), 2: req('mode', I32), 3: req('fence', I64), 4: req('expiresAtMs', I64), 5: req('holdCount', I32) },
};
const LOCK_INFO: TypeDesc = {
  t: 'struct',
  name: 'LockInfo',
  fields: { 1: req('lockKey', STRING), 2: req('holders', { t: 'list', element: HOLDER }), 3: req('waiters', I32) },
};
const ACQUIRE_RESULT: TypeDesc = { t: 'struct', name: 'AcquireResult', fields: { 1: req('acquired', BOOL), 2: opt('lease', LEASE) } };
const LOCK_ERROR: TypeDesc = { t: 'struct', name: 'LockError', fields: { 1: req('code', I32), 2: req('message', STRING) } };
const APPLICATION_EXCEPTION: TypeDesc = { t: 'struct', name: 'TApplicationException', fields: { 1: opt('message', STRING), 2: opt('type', I32) } };

/** Each method's result type (field 0 of its result struct). */
export const RESULT_TYPES: Readonly<Record<string, TypeDesc>> = {
  acquireLock: BOOL,
  releaseLock: BOOL,
  acquire: ACQUIRE_RESULT,
  release: BOOL,
  renew: LEASE,
  checkFence: BOOL,
  inspect: LOCK_INFO,
  listLocks: { t: 'list', element: LOCK_INFO },
  ping: STRING,
  cancelWait: BOOL,
};

export type MethodName = keyof typeof RESULT_TYPES;
export const METHODS = Object.keys(RESULT_TYPES) as MethodName[];

// ---- Building calls ---------------------------------------------------------------------------

/** LockRequest fields; undefined ones are left out (the shape lockd's client sends). */
export type LockRequestArgs = LockRequestFields;

/** A LockRequest struct node. */
export function lockRequest(q: LockRequestArgs): TNode {
  const fields: TField[] = [field(1, str(q.lockKey))];
  if (q.owner !== undefined) fields.push(field(2, str(q.owner)));
  if (q.ttlMs !== undefined) fields.push(field(3, i64(q.ttlMs)));
  if (q.waitMs !== undefined) fields.push(field(4, i64(q.waitMs)));
  if (q.mode !== undefined) fields.push(field(5, i32(q.mode)));
  if (q.token !== undefined) fields.push(field(6, str(q.token)));
  if (q.ephemeral !== undefined) fields.push(field(7, bool(q.ephemeral)));
  return struct(fields);
}

/** A CALL message with the given argument fields. */
export function call(name: string, seqid: number, args: readonly TField[]): TMessage {
  return { name, type: MessageType.CALL, seqid, body: struct(args) };
}

/** Builders of well-formed calls, one per method. */
export const calls = {
  acquire: (seqid: number, q: LockRequestArgs) => call('acquire', seqid, [field(1, lockRequest(q))]),
  acquireLock: (seqid: number, q: LockRequestArgs) => call('acquireLock', seqid, [field(1, lockRequest(q))]),
  releaseLock: (seqid: number, q: LockRequestArgs) => call('releaseLock', seqid, [field(1, lockRequest(q))]),
  release: (seqid: number, lockKey: string, token: string) => call('release', seqid, [field(1, str(lockKey)), field(2, str(token))]),
  renew: (seqid: number, lockKey: string, token: string, ttlMs: number) => call('renew', seqid, [field(1, str(lockKey)), field(2, str(token)), field(3, i64(ttlMs))]),
  checkFence: (seqid: number, lockKey: string, fence: number) => call('checkFence', seqid, [field(1, str(lockKey)), field(2, i64(fence))]),
  inspect: (seqid: number, lockKey: string) => call('inspect', seqid, [field(1, str(lockKey))]),
  listLocks: (seqid: number, prefix: string, limit: number, startAfter?: string) =>
    call('listLocks', seqid, [field(1, str(prefix)), field(2, i32(limit)), ...(startAfter === undefined ? [] : [field(3, str(startAfter))])]),
  ping: (seqid: number) => call('ping', seqid, []),
  cancelWait: (seqid: number, waitSeqid: number) => call('cancelWait', seqid, [field(1, i32(waitSeqid))]),
};

// ---- Decoding replies -------------------------------------------------------------------------

/** A decoded struct: field id -> its wire type and value. */
export type DStruct = Map<number, { type: number; value: DValue }>;
export interface DList {
  elementType: number;
  items: DValue[];
}
export interface DMap {
  keyType: number;
  valueType: number;
  entries: Array<[DValue, DValue]>;
}
export type DValue = boolean | number | string | DStruct | DList | DMap;

/** Deepest nesting the decoder follows; lockd's replies nest three levels. */
const MAX_DEPTH = 32;

/** Reads any Thrift value of `type` (throws the reader's Underrun / ProtocolError, or Error on odd input). */
export function readValue(r: ProtocolReader, type: number, depth = 0): DValue {
  if (depth > MAX_DEPTH) throw new Error(`reply nests deeper than ${MAX_DEPTH}`);
  switch (type) {
    case TType.BOOL: return r.readBool();
    case TType.BYTE: return r.readByte();
    case TType.I16: return r.readI16();
    case TType.I32: return r.readI32();
    case TType.I64: return r.readI64();
    case TType.DOUBLE: return r.readDouble();
    case TType.STRING: return r.readString();
    case TType.STRUCT: {
      const fields: DStruct = new Map();
      r.readStructBegin();
      for (;;) {
        const fieldType = r.readFieldBegin();
        if (fieldType === TType.STOP) break;
        const id = r.fieldId;
        if (fields.has(id)) throw new Error(`field ${id} appears twice`);
        fields.set(id, { type: fieldType, value: readValue(r, fieldType, depth + 1) });
      }
      r.readStructEnd();
      return fields;
    }
    case TType.LIST:
    case TType.SET: {
      const elementType = type === TType.LIST ? r.readListBegin() : r.readSetBegin();
      const items: DValue[] = [];
      for (let i = r.containerSize; i > 0; i--) items.push(readValue(r, elementType, depth + 1));
      return { elementType, items };
    }
    case TType.MAP: {
      const keyType = r.readMapBegin();
      const valueType = r.mapValueType;
      const entries: Array<[DValue, DValue]> = [];
      for (let i = r.containerSize; i > 0; i--) entries.push([readValue(r, keyType, depth + 1), readValue(r, valueType, depth + 1)]);
      return { keyType, valueType, entries };
    }
    default:
      throw new Error(`unknown type ${type}`);
  }
}

/** One decoded reply message. */
export interface DecodedReply {
  name: string;
  type: number;
  seqid: number;
  body: DStruct;
}

/** Reads one whole message (header and body struct). */
export function readReply(r: ProtocolReader): DecodedReply {
  const header: MessageHeader = { name: '', type: 0, seqid: 0 };
  r.readMessageBegin(header);
  return { ...header, body: readValue(r, TType.STRUCT) as DStruct };
}

const TTYPE_OF_DESC = { bool: TType.BOOL, i32: TType.I32, i64: TType.I64, string: TType.STRING, struct: TType.STRUCT, list: TType.LIST } as const;

/** Why `value` (sent as `type`) is not a `desc`; undefined when it is. */
function checkValue(desc: TypeDesc, type: number, value: DValue, path: string): string | undefined {
  if (type !== TTYPE_OF_DESC[desc.t]) return `${path} has type ${type}, expected ${desc.t}`;
  if (desc.t === 'list') {
    const list = value as DList;
    const elementType = TTYPE_OF_DESC[desc.element.t];
    if (list.items.length > 0 && list.elementType !== elementType) return `${path} holds type ${list.elementType}, expected ${desc.element.t}`;
    for (let i = 0; i < list.items.length; i++) {
      const problem = checkValue(desc.element, elementType, list.items[i], `${path}[${i}]`);
      if (problem) return problem;
    }
    return undefined;
  }
  if (desc.t !== 'struct') return undefined;
  const fields = value as DStruct;
  for (const [id, f] of Object.entries(desc.fields)) {
    const got = fields.get(Number(id));
    if (got === undefined) {
      if (f.required) return `${path} (${desc.name}) lacks required field ${id} ${f.name}`;
      continue;
    }
    const problem = checkValue(f.type, got.type, got.value, `${path}.${f.name}`);
    if (problem) return problem;
  }
  for (const id of fields.keys()) if (!(id in desc.fields)) return `${path} (${desc.name}) has unknown field ${id}`;
  return semanticProblem(desc.name, fields, path);
}

/** The IDL's value rules beyond types: enum ranges, tokens, fences, acquired iff lease. */
function semanticProblem(name: string, fields: DStruct, path: string): string | undefined {
  const get = (id: number) => fields.get(id)?.value;
  const inRange = (v: DValue | undefined, lo: number, hi: number) => typeof v === 'number' && v >= lo && v <= hi;
  switch (name) {
    case 'Lease':
      if (!/^[0-9a-f]{32}$/.test(get(2) as string)) return `${path}.token is not 32 hex digits`;
      if (!((get(3) as number) > 0)) return `${path}.fence ${get(3)} is not positive`;
      if (!inRange(get(6), 1, 2)) return `${path}.mode ${get(6)} is not a LockMode`;
      if (!((get(7) as number) >= 1)) return `${path}.holdCount ${get(7)} is below 1`;
      return undefined;
    case 'Holder':
      if (!inRange(get(2), 1, 2)) return `${path}.mode ${get(2)} is not a LockMode`;
      if (!((get(5) as number) >= 1)) return `${path}.holdCount ${get(5)} is below 1`;
      return undefined;
    case 'LockInfo':
      if (!((get(3) as number) >= 0)) return `${path}.waiters ${get(3)} is negative`;
      return undefined;
    case 'AcquireResult':
      if ((get(1) === true) !== fields.has(2)) return `${path}: acquired = ${get(1)} but lease ${fields.has(2) ? 'present' : 'absent'}`;
      return undefined;
    case 'LockError':
      if (!inRange(get(1), 1, 6)) return `${path}.code ${get(1)} is not an ErrorCode`;
      return undefined;
    default:
      return undefined;
  }
}

/** Why a decoded reply is not a well-formed LockService reply; undefined when it is. */
export function replyProblem(reply: DecodedReply): string | undefined {
  if (reply.type === MessageType.EXCEPTION) return checkValue(APPLICATION_EXCEPTION, TType.STRUCT, reply.body, 'TApplicationException');
  if (reply.type !== MessageType.REPLY) return `message type ${reply.type} is neither REPLY nor EXCEPTION`;
  const result = RESULT_TYPES[reply.name];
  if (result === undefined) return `REPLY to unknown method ${JSON.stringify(reply.name)}`;
  if (reply.body.size !== 1) return `${reply.name} result carries ${reply.body.size} fields, expected exactly one`;
  const [[id, f]] = reply.body;
  if (id === 0) {
    const problem = checkValue(result, f.type, f.value, `${reply.name}.success`);
    if (problem) return problem;
    if (reply.name === 'ping' && f.value !== 'pong') return `ping answered ${JSON.stringify(f.value)}`;
    return undefined;
  }
  if (id === 1) return checkValue(LOCK_ERROR, f.type, f.value, `${reply.name}.error`);
  return `${reply.name} result has field ${id}`;
}

// ---- Reading values out of replies (for clients that know what they asked) -------------------

/** What a reply said, for a client: the success value, a LockError, or a TApplicationException. */
export type ReplyOutcome =
  | { kind: 'ok'; value: DValue }
  | { kind: 'lockError'; code: number; message: string }
  | { kind: 'applicationError'; message: string };

/** The outcome of a well-formed reply (check replyProblem first). */
export function outcomeOf(reply: DecodedReply): ReplyOutcome {
  if (reply.type === MessageType.EXCEPTION) return { kind: 'applicationError', message: String(reply.body.get(1)?.value ?? '') };
  const success = reply.body.get(0);
  if (success !== undefined) return { kind: 'ok', value: success.value };
  const error = reply.body.get(1)?.value as DStruct;
  return { kind: 'lockError', code: error.get(1)?.value as number, message: error.get(2)?.value as string };
}

/** Field `id` of a decoded struct. */
export function fieldOf<T extends DValue>(s: DValue, id: number): T | undefined {
  return (s as DStruct).get(id)?.value as T | undefined;
}
