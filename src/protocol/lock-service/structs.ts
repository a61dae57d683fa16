/**
 * LockService structs on the wire (LockRequest, Lease, Holder, LockInfo), written once against
 * ProtocolReader/ProtocolWriter so the server and the client share them for binary and compact.
 * Field ids and types follow idl/lock_service.thrift; the conformance tests check them against
 * the generated stubs.
 */
import { ProtocolError } from '../../errors';
import type { HolderView, LeaseView, LockInfoView } from '../../table/types';
import { ProtocolReader, ProtocolWriter, TType } from '../types';

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

export function writeLease(w: ProtocolWriter, lease: LeaseView): void {
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

export function writeHolder(w: ProtocolWriter, holder: HolderView): void {
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

export function writeLockInfo(w: ProtocolWriter, info: LockInfoView): void {
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

/** Throws unless a value has the type the IDL declares for it. */
export function expectType(actual: number, expected: number): void {
  if (actual !== expected) throw new ProtocolError(`result has type ${actual}, expected ${expected}`);
}

export function readLease(r: ProtocolReader): WireLease {
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

export function readLockInfo(r: ProtocolReader): WireLockInfo {
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

export function readHolder(r: ProtocolReader): WireHolder {
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

/** ClusterMember (see the IDL): one node, its address and the partitions it owns. */
export interface WireClusterMember {
  nodeId: string;
  address: string;
  partitions: number[];
}

/** ClusterInfo (see the IDL): the cluster as the answering node sees it. */
export interface WireClusterInfo {
  cluster: string;
  nodeId: string;
  partitions: number;
  members: WireClusterMember[];
  /** Owner node id per partition; "" while unowned. */
  owners: string[];
}

/** Writes a ClusterInfo struct. */
export function writeClusterInfo(w: ProtocolWriter, info: WireClusterInfo): void {
  w.writeStructBegin();
  w.writeFieldBegin(TType.STRING, 1);
  w.writeString(info.cluster);
  w.writeFieldBegin(TType.STRING, 2);
  w.writeString(info.nodeId);
  w.writeFieldBegin(TType.I32, 3);
  w.writeI32(info.partitions);
  w.writeFieldBegin(TType.LIST, 4);
  w.writeListBegin(TType.STRUCT, info.members.length);
  for (const member of info.members) {
    w.writeStructBegin();
    w.writeFieldBegin(TType.STRING, 1);
    w.writeString(member.nodeId);
    w.writeFieldBegin(TType.STRING, 2);
    w.writeString(member.address);
    w.writeFieldBegin(TType.LIST, 3);
    w.writeListBegin(TType.I32, member.partitions.length);
    for (const p of member.partitions) w.writeI32(p);
    w.writeFieldStop();
    w.writeStructEnd();
  }
  w.writeFieldBegin(TType.LIST, 5);
  w.writeListBegin(TType.STRING, info.owners.length);
  for (const owner of info.owners) w.writeString(owner);
  w.writeFieldStop();
  w.writeStructEnd();
}

/** Reads a ClusterInfo struct. */
export function readClusterInfo(r: ProtocolReader): WireClusterInfo {
  const info: WireClusterInfo = { cluster: '', nodeId: '', partitions: 0, members: [], owners: [] };
  r.readStructBegin();
  for (;;) {
    const type = r.readFieldBegin();
    if (type === TType.STOP) break;
    const id = r.fieldId;
    if (id === 1 && type === TType.STRING) info.cluster = r.readString();
    else if (id === 2 && type === TType.STRING) info.nodeId = r.readString();
    else if (id === 3 && type === TType.I32) info.partitions = r.readI32();
    else if (id === 4 && type === TType.LIST) {
      expectType(r.readListBegin(), TType.STRUCT);
      for (let i = r.containerSize; i > 0; i--) info.members.push(readClusterMember(r));
    } else if (id === 5 && type === TType.LIST) {
      expectType(r.readListBegin(), TType.STRING);
      for (let i = r.containerSize; i > 0; i--) info.owners.push(r.readString());
    } else r.skip(type);
  }
  r.readStructEnd();
  return info;
}

function readClusterMember(r: ProtocolReader): WireClusterMember {
  const member: WireClusterMember = { nodeId: '', address: '', partitions: [] };
  r.readStructBegin();
  for (;;) {
    const type = r.readFieldBegin();
    if (type === TType.STOP) break;
    const id = r.fieldId;
    if (id === 1 && type === TType.STRING) member.nodeId = r.readString();
    else if (id === 2 && type === TType.STRING) member.address = r.readString();
    else if (id === 3 && type === TType.LIST) {
      expectType(r.readListBegin(), TType.I32);
      for (let i = r.containerSize; i > 0; i--) member.partitions.push(r.readI32());
    } else r.skip(type);
  }
  r.readStructEnd();
  return member;
}
