/**
 * Typed LockService calls over one ThriftConnection: the wire API exactly as the IDL states it
 * (acquired = false replies, LockErrors as typed errors). LockClient builds its friendlier API
 * on these; the server's integration tests use them to pin the wire behaviour.
 */
import * as codec from '../protocol/lock-service/client';
import type { WireLease, WireLockInfo } from '../protocol/lock-service/structs';
import { TType } from '../protocol/types';
import type { ThriftConnection } from './thrift-connection';

/** AcquireResult as decoded. */
export interface WireAcquireResult {
  acquired: boolean;
  lease: WireLease | undefined;
}

/** A call in flight whose seqid can be passed to cancelWait. */
export interface PendingCall<T> {
  seqid: number;
  reply: Promise<T>;
}

/** The IDL's methods, one typed call each, over one ThriftConnection (no reconnect, no leases). */
export class LockServiceStub {
  /** @param callTimeoutMs how long a call may take beyond the wait it asks for. */
  constructor(
    readonly connection: ThriftConnection,
    readonly callTimeoutMs: number,
  ) {}

  /** acquire: the reply and the seqid (for cancelWait). */
  acquire(request: codec.LockRequestFields): PendingCall<WireAcquireResult> {
    return this.connection.call('acquire', (w, seqid) => codec.writeRequestCall(w, 'acquire', seqid, request), this.timeoutFor(request.waitMs));
  }

  /** The seed-compatible try-lock, bound to this connection. */
  acquireLock(request: codec.LockRequestFields): PendingCall<boolean> {
    return this.connection.call('acquireLock', (w, seqid) => codec.writeRequestCall(w, 'acquireLock', seqid, request), this.timeoutFor(request.waitMs));
  }

  /** The seed-compatible release. */
  releaseLock(request: codec.LockRequestFields): Promise<boolean> {
    return this.connection.call<boolean>('releaseLock', (w, seqid) => codec.writeRequestCall(w, 'releaseLock', seqid, request), this.callTimeoutMs).reply;
  }

  /** Leaves a lease once; false for a wrong or stale token. */
  release(lockKey: string, token: string): Promise<boolean> {
    return this.args('release', [[1, TType.STRING, lockKey], [2, TType.STRING, token]]);
  }

  /** Extends a live lease to now + ttlMs. */
  renew(lockKey: string, token: string, ttlMs: number): Promise<WireLease> {
    return this.args('renew', [[1, TType.STRING, lockKey], [2, TType.STRING, token], [3, TType.I64, ttlMs]]);
  }

  /** True while a live lease on lockKey carries fence. */
  checkFence(lockKey: string, fence: number): Promise<boolean> {
    return this.args('checkFence', [[1, TType.STRING, lockKey], [2, TType.I64, fence]]);
  }

  /** Holders and waiter count of one key. */
  inspect(lockKey: string): Promise<WireLockInfo> {
    return this.args('inspect', [[1, TType.STRING, lockKey]]);
  }

  /** Held keys starting with prefix. */
  listLocks(prefix: string, limit: number, startAfter?: string): Promise<WireLockInfo[]> {
    const args: Array<[number, typeof TType.STRING | typeof TType.I32, string | number]> = [[1, TType.STRING, prefix], [2, TType.I32, limit]];
    if (startAfter !== undefined) args.push([3, TType.STRING, startAfter]);
    return this.args('listLocks', args);
  }

  /** Liveness: "pong". */
  ping(): Promise<string> {
    return this.args('ping', []);
  }

  /** Gives up the parked wait that was sent with `seqid` on this connection. */
  cancelWait(seqid: number): Promise<boolean> {
    return this.args('cancelWait', [[1, TType.I32, seqid]]);
  }

  /** Binds `identity` to this connection when `secret` matches lockd's --auth-file; resolves to the identity. */
  authenticate(identity: string, secret: string): Promise<string> {
    return this.args('authenticate', [[1, TType.STRING, identity], [2, TType.STRING, secret]]);
  }

  private args<T>(method: Parameters<typeof codec.writeArgsCall>[1], args: Parameters<typeof codec.writeArgsCall>[3]): Promise<T> {
    return this.connection.call<T>(method, (w, seqid) => codec.writeArgsCall(w, method, seqid, args), this.callTimeoutMs).reply;
  }

  /** The call timeout of an acquire that waits `waitMs`: no bound for -1, else waitMs + callTimeoutMs. */
  timeoutFor(waitMs: number | undefined): number {
    if (waitMs === undefined || waitMs === 0) return this.callTimeoutMs;
    return waitMs < 0 ? Infinity : waitMs + this.callTimeoutMs;
  }
}
