/**
 * Typed LockService calls over one ThriftConnection: the wire API exactly as the IDL states it
 * (acquired = false replies, LockErrors as typed errors), and the client's only call encoder.
 * LockClient builds its friendlier API on these; the server's integration tests use them to pin
 * the wire behaviour.
 */
import { CALL_WRITERS, CallArgs, LockRequestFields, WireAcquireResult } from '../protocol/lock-service/client';
import type { WireClusterInfo, WireLease, WireLockInfo } from '../protocol/lock-service/structs';
import type { PendingCall, ThriftConnection } from './thrift-connection';

export type { WireAcquireResult, PendingCall };

/** The IDL's methods, one typed call each, over one ThriftConnection (no reconnect, no leases). */
export class LockServiceStub {
  /** @param callTimeoutMs how long a call may take beyond the wait it asks for. */
  constructor(
    readonly connection: ThriftConnection,
    readonly callTimeoutMs: number,
  ) {}

  /** acquire: the reply and the seqid (for cancelWait). */
  acquire(request: LockRequestFields): PendingCall<WireAcquireResult> {
    return this.connection.call('acquire', CALL_WRITERS.acquire, request, this.timeoutFor(request.waitMs));
  }

  /** The seed-compatible try-lock, bound to this connection. */
  acquireLock(request: LockRequestFields): PendingCall<boolean> {
    return this.connection.call('acquireLock', CALL_WRITERS.acquireLock, request, this.timeoutFor(request.waitMs));
  }

  /** The seed-compatible release. */
  releaseLock(request: LockRequestFields): Promise<boolean> {
    return this.connection.call('releaseLock', CALL_WRITERS.releaseLock, request, this.callTimeoutMs).reply;
  }

  /** Leaves a lease once; false for a wrong or stale token. */
  release(key: string, token: string): Promise<boolean> {
    return this.releaseLease({ key, token });
  }

  /** release() for something that already carries key and token (a Lease), without an argument object. */
  releaseLease(lease: CallArgs['release']): Promise<boolean> {
    return this.connection.call('release', CALL_WRITERS.release, lease, this.callTimeoutMs).reply;
  }

  /** Extends a live lease to now + ttlMs; without ttlMs, by the lease's own TTL. */
  renew(key: string, token: string, ttlMs?: number): Promise<WireLease> {
    return this.connection.call('renew', CALL_WRITERS.renew, { key, token, ttlMs }, this.callTimeoutMs).reply;
  }

  /** True while a live lease on lockKey carries fence. */
  checkFence(key: string, fence: number): Promise<boolean> {
    return this.connection.call('checkFence', CALL_WRITERS.checkFence, { key, fence }, this.callTimeoutMs).reply;
  }

  /** Holders and waiter count of one key. */
  inspect(key: string): Promise<WireLockInfo> {
    return this.connection.call('inspect', CALL_WRITERS.inspect, { key }, this.callTimeoutMs).reply;
  }

  /** Held keys starting with prefix; after startAfter when given (the next page). */
  listLocks(prefix: string, limit: number, startAfter?: string): Promise<WireLockInfo[]> {
    return this.connection.call('listLocks', CALL_WRITERS.listLocks, { prefix, limit, startAfter }, this.callTimeoutMs).reply;
  }

  /** Liveness: "pong". */
  ping(): Promise<string> {
    return this.connection.call('ping', CALL_WRITERS.ping, undefined, this.callTimeoutMs).reply;
  }

  /** The cluster's members and partition owners as the answering node sees them (a single lockd: a cluster of one). */
  clusterInfo(): Promise<WireClusterInfo> {
    return this.connection.call('clusterInfo', CALL_WRITERS.clusterInfo, undefined, this.callTimeoutMs).reply;
  }

  /** Declares this connection a peer link: keys the node does not own are answered UNAVAILABLE with their owner's address, never forwarded. */
  peerConnection(nodeId: string): Promise<string> {
    return this.connection.call('peerConnection', CALL_WRITERS.peerConnection, { nodeId }, this.callTimeoutMs).reply;
  }

  /** Gives up the parked wait that was sent with `waitSeqid` on this connection. */
  cancelWait(waitSeqid: number): Promise<boolean> {
    return this.connection.call('cancelWait', CALL_WRITERS.cancelWait, { waitSeqid }, this.callTimeoutMs).reply;
  }

  /** Binds `identity` to this connection when `secret` matches lockd's --auth-file; resolves to the identity. */
  authenticate(identity: string, secret: string): Promise<string> {
    return this.connection.call('authenticate', CALL_WRITERS.authenticate, { identity, secret }, this.callTimeoutMs).reply;
  }

  /** The call timeout of an acquire that waits `waitMs`: no bound for -1, else waitMs + callTimeoutMs. */
  timeoutFor(waitMs: number | undefined): number {
    if (waitMs === undefined || waitMs === 0) return this.callTimeoutMs;
    return waitMs < 0 ? Infinity : waitMs + this.callTimeoutMs;
  }
}
