/**
 * This node's liveness in the cluster: one etcd lease for the whole node (not one per lock), kept
 * alive on lockd's own loop, and the local ownership deadline D (design study §4.2, I6).
 *
 * Each keep-alive's send time is taken on the monotonic clock; when etcd answers with TTL > 0,
 * D = max(D, sentAt + TTL × (1 − ρ) − δ). etcd cannot expire the lease before sentAt + TTL on
 * its own clock (a leader change only lengthens it), so this node stops answering for its
 * partitions before any other node can claim them. A response with TTL ≤ 0 (the lease is gone)
 * ends the session at once. etcd3's Lease 'lost' event is not used: it fires only after 2 × TTL
 * and measures from response time.
 */
import { hostname } from 'node:os';
import type { Etcd3, IDuplexStream, ILeaseKeepAliveRequest, ILeaseKeepAliveResponse } from 'etcd3';
import type { ClusterKeys } from './keys';

/** Where keep-alive streams go: one member at a time, the next one when it stalls (see MemberClients). */
export interface KeepAliveMembers {
  readonly current: Etcd3;
  next(): void;
}

/** Clock-rate bound between this node and etcd's leader (ρ). */
const CLOCK_RATE_BOUND = 1e-3;
/** Fixed margin (δ) under the deadline, ms: covers scheduling between a check and an answer. */
const DEADLINE_MARGIN_MS = 100;

export interface NodeSessionOptions {
  nodeId: string;
  /** host:port written in nodes/<id> for other nodes and clients. */
  advertise: string;
  /** Asked TTL of the node lease, ms (etcd counts whole seconds; the granted TTL is what counts). */
  nodeTtlMs: number;
  /**
   * A keep-alive unanswered this long means the stream's member is stalled (paused, cut off):
   * the stream is dropped and the next keep-alive opens a new one on the next member (see
   * keepAliveMembers). Default 1000 ms.
   */
  keepAliveStallMs?: number;
  /**
   * Members for the keep-alive stream, one at a time. Default: the session's client (etcd3 picks
   * a random member for each new stream, which may be the stalled one again).
   */
  keepAliveMembers?: KeepAliveMembers;
  /** Monotonic clock, ms. Default performance.now. */
  monotonicNow?: () => number;
}

/**
 * Keep-alives are sent every TTL / 8 (625 ms at the default 5 s), within these bounds: often
 * enough that a stalled member is left, and a new member reached, well before the deadline.
 */
const KEEP_ALIVE_EVERY_MIN_MS = 100;
const KEEP_ALIVE_EVERY_MAX_MS = 1_000;

/** What ended a session. */
export type SessionEnd = 'deadline' | 'lease-gone' | 'closed';

export class NodeSession {
  private leaseId: string | undefined;
  /** The lease of the last session if it ended without a revoke (deadline passed). */
  private staleLease: string | undefined;
  private grantedTtlMs = 0;
  private deadlineAt = -Infinity;
  private incarnation = 0;
  private keepAliveTimer: NodeJS.Timeout | undefined;
  private deadlineTimer: NodeJS.Timeout | undefined;
  private stream: IDuplexStream<ILeaseKeepAliveRequest, ILeaseKeepAliveResponse> | undefined;
  private opening: Promise<void> | undefined;
  /** Send times of keep-alives not answered yet, oldest first (responses come in order). */
  private sentAt: number[] = [];
  private readonly endListeners: Array<(why: SessionEnd) => void> = [];
  private readonly now: () => number;
  /** Keep-alives answered with TTL > 0, for tests and metrics. */
  keepAlivesAnswered = 0;
  /** Times the keep-alive stream left a member that stalled or failed, for tests and logs. */
  memberSwitches = 0;

  constructor(
    private readonly client: Etcd3,
    private readonly keys: ClusterKeys,
    private readonly options: NodeSessionOptions,
  ) {
    this.now = options.monotonicNow ?? (() => performance.now());
  }

  /** The node lease's id while the session lives. */
  get lease(): string | undefined {
    return this.live() ? this.leaseId : undefined;
  }

  /** TTL etcd granted, ms. */
  get ttlMs(): number {
    return this.grantedTtlMs;
  }

  /** Monotonic ms until which this node may answer for its partitions. */
  get deadline(): number {
    return this.deadlineAt;
  }

  /** True while the ownership deadline has not passed: the node may answer for its partitions. */
  live(): boolean {
    return this.leaseId !== undefined && this.now() < this.deadlineAt;
  }

  /** Calls `listener` each time a session ends (deadline passed, lease gone, closed). */
  onEnd(listener: (why: SessionEnd) => void): void {
    this.endListeners.push(listener);
  }

  /**
   * Grants a new node lease (a new incarnation) and registers nodes/<id> on it. Throws when etcd
   * does not answer; the caller tries again later.
   */
  async start(): Promise<void> {
    // The lease of a session that ended at its deadline may still live in etcd, holding our owner
    // keys: revoke it, so our partitions are free at once instead of after its TTL.
    if (this.staleLease !== undefined) {
      await this.client.leaseClient.leaseRevoke({ ID: this.staleLease }).catch(() => undefined);
      this.staleLease = undefined;
    }
    const ttlSeconds = Math.max(1, Math.ceil(this.options.nodeTtlMs / 1000));
    const sentAt = this.now();
    const grant = await this.client.leaseClient.leaseGrant({ TTL: ttlSeconds });
    this.leaseId = grant.ID;
    this.grantedTtlMs = Number(grant.TTL) * 1000;
    this.deadlineAt = -Infinity;
    this.extend(sentAt, this.grantedTtlMs);
    this.incarnation++;
    const info = { addr: this.options.advertise, incarnation: this.incarnation, startedAt: Date.now(), pid: process.pid, host: hostname() };
    await this.client.kv.put({ key: Buffer.from(this.keys.node(this.options.nodeId)), value: Buffer.from(JSON.stringify(info)), lease: grant.ID });
    this.scheduleKeepAlive();
  }

  /** Stops keeping the lease alive and revokes it (a graceful leave: nodes/ and owners/ keys go at once). */
  async close(): Promise<void> {
    const lease = this.leaseId;
    this.end('closed');
    if (lease !== undefined) await this.client.leaseClient.leaseRevoke({ ID: lease }).catch(() => undefined);
  }

  /** Stops keeping the lease alive without revoking it: what a crash looks like to etcd (for tests and hand-over). */
  abandon(): void {
    this.end('closed');
  }

  private scheduleKeepAlive(): void {
    clearTimeout(this.keepAliveTimer);
    const every = Math.min(KEEP_ALIVE_EVERY_MAX_MS, Math.max(KEEP_ALIVE_EVERY_MIN_MS, this.grantedTtlMs / 8));
    this.keepAliveTimer = setTimeout(() => void this.keepAlive(), every);
    this.keepAliveTimer.unref();
  }

  private async keepAlive(): Promise<void> {
    const lease = this.leaseId;
    if (lease === undefined) return;
    this.scheduleKeepAlive();
    const oldest = this.sentAt[0];
    if (oldest !== undefined && this.now() - oldest > (this.options.keepAliveStallMs ?? 1000)) this.leaveMember();
    try {
      const stream = await this.openStream();
      if (stream === undefined || this.leaseId !== lease) return;
      this.sentAt.push(this.now());
      stream.write({ ID: lease });
    } catch {
      // Member unreachable: the next one is tried at the next tick; the deadline timer ends the session if none answers.
      this.leaveMember();
    }
  }

  private async openStream(): Promise<IDuplexStream<ILeaseKeepAliveRequest, ILeaseKeepAliveResponse> | undefined> {
    if (this.stream !== undefined) return this.stream;
    this.opening ??= (async () => {
      const stream = await (this.options.keepAliveMembers?.current ?? this.client).leaseClient.leaseKeepAlive();
      this.sentAt = [];
      stream.on('data', (response: ILeaseKeepAliveResponse) => this.onKeepAlive(stream, response));
      stream.on('error', () => this.stream === stream && this.leaveMember());
      stream.on('end', () => this.stream === stream && this.leaveMember());
      this.stream = stream;
    })().finally(() => (this.opening = undefined));
    await this.opening;
    return this.stream;
  }

  private onKeepAlive(stream: IDuplexStream<ILeaseKeepAliveRequest, ILeaseKeepAliveResponse>, response: ILeaseKeepAliveResponse): void {
    if (stream !== this.stream) return;
    const sentAt = this.sentAt.shift();
    if (response.ID !== this.leaseId || sentAt === undefined) return;
    const ttl = Number(response.TTL);
    if (!(ttl > 0)) {
      this.end('lease-gone');
      return;
    }
    this.keepAlivesAnswered++;
    this.extend(sentAt, ttl * 1000);
  }

  private extend(sentAt: number, ttlMs: number): void {
    const candidate = sentAt + ttlMs * (1 - CLOCK_RATE_BOUND) - DEADLINE_MARGIN_MS;
    if (candidate <= this.deadlineAt) return;
    this.deadlineAt = candidate;
    clearTimeout(this.deadlineTimer);
    this.deadlineTimer = setTimeout(this.checkDeadline, Math.max(0, candidate - this.now()));
    this.deadlineTimer.unref();
  }

  private readonly checkDeadline = (): void => {
    if (this.leaseId === undefined) return;
    const left = this.deadlineAt - this.now();
    if (left > 0) {
      this.deadlineTimer = setTimeout(this.checkDeadline, left);
      this.deadlineTimer.unref();
      return;
    }
    this.end('deadline');
  };

  /** Drops the stream and moves on to the next member: this one stalled or failed. */
  private leaveMember(): void {
    this.resetStream();
    if (this.options.keepAliveMembers === undefined) return;
    this.options.keepAliveMembers.next();
    this.memberSwitches++;
  }

  private resetStream(): void {
    const stream = this.stream;
    this.stream = undefined;
    this.sentAt = [];
    if (stream !== undefined) {
      // Its late answers are ignored (onKeepAlive checks the stream).
      stream.on('error', () => {});
      stream.end();
    }
  }

  private end(why: SessionEnd): void {
    if (this.leaseId === undefined) return;
    if (why === 'deadline') this.staleLease = this.leaseId;
    this.leaseId = undefined;
    this.deadlineAt = -Infinity;
    clearTimeout(this.keepAliveTimer);
    clearTimeout(this.deadlineTimer);
    this.resetStream();
    for (const listener of this.endListeners) listener(why);
  }
}
