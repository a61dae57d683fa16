/**
 * The HTTP API's keyed lock calls and its list, wherever the key lives. A single lockd serves
 * them all with its gateway and backend. A cluster node does so for the keys it serves and sends
 * the others to their owner over a peer link, waiting out failovers as the Thrift port does
 * (src/backend/route-call.ts); the list merges every node's keys (src/backend/cluster-list.ts).
 * An owner's answers and refusals come back as the same views and LockdErrors a local call
 * gives, so routes.ts maps them to the same statuses and bodies on every node.
 */
import type { Backend } from '../backend/backend';
import { mergeListPages, type NodePage, peerListPages } from '../backend/cluster-list';
import { callOwner, leaseView, lockInfoView, routeCall, unavailableFrom } from '../backend/route-call';
import type { ClusterRouting, PeerLinks } from '../backend/routing';
import { AbortedError } from '../errors';
import type { AcquireRequest, LeaseView, LockInfoView } from '../table/types';
import type { GatewayAcquireResult, HttpGateway } from './gateway';

/** What GET /v1/locks asks for: one page of `count` keys and about `maxBytes` as `sizeOf` counts them. */
export interface ListAsk {
  readonly prefix: string;
  readonly startAfter: string | undefined;
  readonly count: number;
  readonly maxBytes: number;
  readonly sizeOf: (info: LockInfoView) => number;
}

export class HttpLocks {
  /**
   * The links to other nodes, ONE for this HTTP API, shared by every request and opened on first
   * use. That is enough because HTTP leases are not bound to a connection: HTTP grants are never
   * ephemeral, so nothing an owner ties to a link's session outlives a request (a wait parked at
   * an owner is answered UNAVAILABLE if its link drops, as on the Thrift port). A dropped link is
   * reopened by the next call to that node (ThriftPeerLinks forgets it when it closes).
   */
  private links: PeerLinks | undefined;
  /** Set by close(): calls waiting out a failover stop waiting. */
  private closed = false;
  /** How long an owner may take beyond a call's own wait (as the Thrift Forwarder allows). */
  private readonly answerWithinMs: number;

  constructor(
    private readonly gateway: HttpGateway,
    private readonly backend: Backend,
    private readonly routing: ClusterRouting | undefined,
  ) {
    this.answerWithinMs = routing?.failoverWaitMs ?? 0;
  }

  /** Acquires (see HttpGateway.acquire); `signal` aborts when the client goes away. */
  acquire(request: Omit<AcquireRequest, 'session' | 'ephemeral'>, signal: AbortSignal): Promise<GatewayAcquireResult> {
    const routing = this.routing;
    if (routing === undefined) return this.gateway.acquire(request, signal);
    // A wait that moves (its partition failed over or was handed off) keeps only the time it had left.
    const startedAt = performance.now();
    const left = (): typeof request => {
      const waitMs = request.waitMs;
      if (waitMs === undefined || waitMs <= 0) return request;
      return { ...request, waitMs: Math.max(1, Math.round(waitMs - (performance.now() - startedAt))) };
    };
    return routeCall(
      routing,
      request.key,
      'acquire',
      { local: () => this.gateway.acquire(left(), signal), remote: (address) => this.acquireAt(address, left(), signal) },
      () => signal.aborted || this.closed,
    );
  }

  /** Renews (answered once durable at the key's owner). */
  renew(key: string, token: string, ttlMs: number | undefined): Promise<LeaseView> {
    return this.routed(key, 'renew', () => this.gateway.renew(key, token, ttlMs), async (address) =>
      leaseView(await callOwner(this.linksOpen(), address, 'renew', { key, token, ...(ttlMs !== undefined && { ttlMs }) }, this.answerWithinMs)),
    );
  }

  /** Releases once; false when the token names no live lease on the key. */
  release(key: string, token: string): Promise<boolean> {
    return this.routed(key, 'release', () => this.gateway.release(key, token), (address) =>
      callOwner(this.linksOpen(), address, 'release', { key, token }, this.answerWithinMs),
    );
  }

  inspect(key: string): Promise<LockInfoView> {
    return this.routed(key, 'inspect', () => this.backend.inspect(key), async (address) =>
      lockInfoView(await callOwner(this.linksOpen(), address, 'inspect', { key }, this.answerWithinMs)),
    );
  }

  checkFence(key: string, fence: number): Promise<boolean> {
    return this.routed(key, 'checkFence', () => this.backend.checkFence(key, fence), (address) =>
      callOwner(this.linksOpen(), address, 'checkFence', { key, fence }, this.answerWithinMs),
    );
  }

  /**
   * One page of held keys in key order; `complete` when no key after it was left out. In cluster
   * mode every other live node is asked for its page and the pages are merged (as Thrift listLocks does).
   */
  async list(ask: ListAsk): Promise<NodePage> {
    const local = this.localPage(ask);
    const routing = this.routing;
    if (routing === undefined) return local;
    const request = { prefix: ask.prefix, startAfter: ask.startAfter, count: ask.count, maxListBytes: ask.maxBytes };
    const remote = await peerListPages(routing, this.linksOpen(), request, this.answerWithinMs).catch((error: unknown) => {
      throw unavailableFrom(error, 'listLocks');
    });
    return mergeListPages([local, ...remote], ask);
  }

  /** Stops failover waits and closes the links (shutdown): waits parked at owners end there. */
  close(): void {
    this.closed = true;
    this.links?.close();
    this.links = undefined;
  }

  /** This node's page: the first key always fits (a page that could hold nothing would stop every caller). */
  private localPage({ prefix, startAfter, count, maxBytes, sizeOf }: ListAsk): NodePage {
    const page: LockInfoView[] = [];
    let bytes = 0;
    for (const info of this.backend.scan(prefix, startAfter)) {
      bytes += sizeOf(info);
      if (page.length >= count || (bytes > maxBytes && page.length > 0)) return { page, complete: false };
      page.push(info);
    }
    return { page, complete: true };
  }

  private routed<T>(key: string, method: string, local: () => T | Promise<T>, remote: (address: string) => Promise<T>): Promise<T> {
    const routing = this.routing;
    if (routing === undefined) return Promise.resolve().then(local);
    return routeCall(routing, key, method, { local, remote }, () => this.closed);
  }

  /**
   * An acquire at the owner. A client that goes away has its wait there cancelled (cancelWait on
   * the same link), and a grant that arrives after that is released: nobody would learn its token.
   */
  private async acquireAt(address: string, request: Omit<AcquireRequest, 'session' | 'ephemeral'>, signal: AbortSignal): Promise<GatewayAcquireResult> {
    const links = this.linksOpen();
    const waitMs = request.waitMs ?? 0;
    let upstream: { seqid: number; address: string } | undefined;
    const cancel = () => {
      if (upstream !== undefined) links.call(upstream.address, 'cancelWait', { waitSeqid: upstream.seqid }, this.answerWithinMs).catch(() => undefined);
    };
    const args = {
      lockKey: request.key,
      ...(request.owner !== undefined && { owner: request.owner }),
      ...(request.ttlMs !== undefined && { ttlMs: request.ttlMs }),
      ...(request.waitMs !== undefined && { waitMs: request.waitMs }),
      ...(request.mode !== undefined && { mode: request.mode }),
      ...(request.token !== undefined && { token: request.token }),
    };
    const timeoutMs = waitMs < 0 ? Infinity : waitMs + this.answerWithinMs;
    signal.addEventListener('abort', cancel, { once: true });
    let result;
    try {
      result = await callOwner(links, address, 'acquire', args, timeoutMs, (seqid, to) => {
        upstream = { seqid, address: to };
        if (signal.aborted) cancel();
      }, () => signal.aborted);
    } finally {
      signal.removeEventListener('abort', cancel);
    }
    if (!result.acquired || result.lease === undefined) {
      if (signal.aborted && waitMs !== 0) throw new AbortedError('the HTTP client went away while waiting; its wait was cancelled');
      return waitMs === 0 ? { kind: 'busy' } : { kind: 'timed_out' };
    }
    // A re-entry keeps the token it was asked with; the wire Lease names no owner (a new grant's is the request's).
    const reentered = request.token !== undefined && result.lease.token === request.token;
    const lease: LeaseView = { ...leaseView(result.lease), owner: reentered ? undefined : request.owner };
    if (signal.aborted) {
      await callOwner(links, upstream?.address ?? address, 'release', { key: lease.key, token: lease.token }, this.answerWithinMs).catch(() => undefined);
      throw new AbortedError('the HTTP client went away before the grant could be answered; the lease was released');
    }
    return { kind: 'granted', lease, reentered };
  }

  private linksOpen(): PeerLinks {
    return (this.links ??= this.routing!.openLinks());
  }
}
