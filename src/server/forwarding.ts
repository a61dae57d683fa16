/**
 * Cluster mode, the node a client connected to: calls for keys another node owns are sent on to
 * that owner over this connection's own link to it, and the owner's answer is relayed back under
 * the client's seqid. One link per (client connection, owner), so whatever the owner binds to a
 * connection (ephemeral grants, acquireLock grants, parked waits) ends when the client's
 * connection ends: closing the connection closes its links.
 *
 * Rights are checked here, by the node the client reached; quotas are counted by the owner
 * against the link's identity. A call that reaches a node over a peer link is never forwarded
 * again: a stale partition map must not bounce calls between nodes. Such a node answers
 * UNAVAILABLE with LockError.ownerAddress, and the forwarding node tries that address at once.
 *
 * Failover is waited out here, not passed on to the client: while the key's partition has no
 * owner, or its owner cannot be reached or answers UNAVAILABLE (which always means it changed
 * nothing), the call is routed again every FAILOVER_RETRY_MS until the routing's failoverWaitMs passed.
 * So a client of a live node, even one that never retries (the seed's), sees a slow call, not an
 * error, when another node dies. A link that breaks after a call was sent is not retried: the
 * owner may have acted on it, and the client hears UNAVAILABLE as it would from a lost connection.
 * These steps are src/backend/route-call.ts's, which the HTTP API follows too.
 */
import { InvalidArgumentError, LockdError, UnavailableError, WireErrorCode } from '../errors';
import type { CallArgs, LockRequestFields, MethodName, ResultOf } from '../protocol/lock-service/client';
import * as codec from '../protocol/lock-service/server';
import type { ServiceCall } from '../protocol/lock-service/server';
import type { CallContext, ListMethod, ListPage } from './handlers';
import { required, requiredKey } from './handlers';
import type { ClusterRouting, PeerLinks } from '../backend/routing';
import { encodedSizeOf, mergeListPages, peerListPages } from '../backend/cluster-list';
import { callOwner, FAILOVER_RETRY_MS, FailoverWait, leaseView, lockInfoView, notOwner, unavailableFrom } from '../backend/route-call';

/** What the forwarder needs from its connection besides the CallContext. */
export interface ForwardingHost extends CallContext {
  /** Serves a call that waited out a failover now that its key is this node's (or routes it again). */
  redispatch(call: ServiceCall): void;
  /** Asks for the outbox to be flushed (an owner's answer arrives outside any socket read). */
  markDirty(): void;
  /** Ends the client's connection after the replies owed so far (its connection-bound state is gone). */
  closeAfterReplies(): void;
  readonly closed: boolean;
}

/** A forwarded call that may be parked at its owner: where, and under which seqid there. */
interface ForwardedWait {
  address: string;
  upstreamSeqid: number | undefined;
}

type KeyedCall = Extract<ServiceCall, { method: 'acquire' | 'acquireLock' | 'releaseLock' | 'release' | 'renew' | 'checkFence' | 'inspect' }>;

/** One client connection's forwarding; created on the connection's first forwarded call. */
export class Forwarder {
  private links: PeerLinks | undefined;
  /** Client seqid -> a forwarded acquire/acquireLock that may be parked at its owner. */
  private readonly waits = new Map<number, ForwardedWait>();
  /** Links over which the owner may hold something bound to this connection. */
  private readonly boundLinks = new Set<string>();
  /** When each call waiting out a failover gives up (set at its first refusal). */
  private readonly failoverWaits = new WeakMap<KeyedCall, FailoverWait>();

  /**
   * How long a forwarded call may take beyond its own waitMs: the owner answers a change once
   * etcd committed it, or UNAVAILABLE at its ownership deadline (the node TTL) at the latest.
   */
  private readonly answerWithinMs: number;

  constructor(
    private readonly routing: ClusterRouting,
    private readonly host: ForwardingHost,
  ) {
    this.answerWithinMs = routing.failoverWaitMs;
  }

  /**
   * Serves `call` if its key is another node's: forwards it (true), or refuses it when this
   * connection is a peer link or no node owns the key now (throws). False: the call is local.
   */
  forwardKeyed(call: KeyedCall, peerLink: boolean): boolean {
    const key = keyOf(call);
    const route = this.routing.route(key);
    if (route.kind === 'local') return false;
    if (peerLink) throw notOwner(key, route);
    // Rights are the entry node's to check: the owner sees only the link's identity.
    this.host.access.authorize(call.method === 'checkFence' || call.method === 'inspect' ? 'read' : 'lock', key);
    if (route.kind === 'unowned') this.waitOutFailover(call, notOwner(key, route));
    else this.send(call, route.address);
    return true;
  }

  /**
   * `call` got UNAVAILABLE (its partition has no owner, the owner cannot be reached, or this
   * node just stopped serving it): routes it again after FAILOVER_RETRY_MS, or answers `error` once the
   * failover wait that began with its first refusal is over.
   */
  waitOutFailover(call: KeyedCall, error: unknown): void {
    let wait = this.failoverWaits.get(call);
    if (wait === undefined) {
      wait = new FailoverWait(this.routing.failoverWaitMs);
      this.failoverWaits.set(call, wait);
    }
    if (!wait.mayRetry()) {
      this.replyError(call.method, call.seqid, error);
      return;
    }
    setTimeout(() => {
      if (this.host.closed) return;
      try {
        if (!this.forwardKeyed(call, false)) this.host.redispatch(call);
      } catch (refusal) {
        this.replyError(call.method, call.seqid, refusal);
      }
    }, FAILOVER_RETRY_MS).unref();
  }

  /** cancelWait for a wait that was forwarded: true when handled here. */
  forwardCancel(seqid: number, waitSeqid: number): boolean {
    const wait = this.waits.get(waitSeqid);
    if (wait === undefined) return false;
    const upstream = wait.upstreamSeqid;
    if (upstream === undefined) {
      // Not written to the link yet: it cannot be parked; nothing to cancel there.
      this.reply('cancelWait', seqid, (w) => codec.writeBoolReply(w, 'cancelWait', seqid, false));
      return true;
    }
    this.relay('cancelWait', seqid, wait.address, { waitSeqid: upstream }, this.answerWithinMs, (w, cancelled) => codec.writeBoolReply(w, 'cancelWait', seqid, cancelled), (error) =>
      this.replyError('cancelWait', seqid, error),
    );
    return true;
  }

  /**
   * listLocks over the whole cluster: this node's own page plus each other node's (asked over
   * peer links, so each answers its own keys only), merged in key order. A page that may have
   * been cut short bounds the merged page, so no key is skipped between pages; keys the caller
   * may not read are left out (the other nodes checked only the link's rights).
   */
  listAcrossCluster(name: ListMethod, seqid: number, prefix: string, startAfter: string | undefined, local: ListPage): void {
    const { count } = local;
    const { maxListBytes } = this.host.limits;
    const ranges = this.host.access.readableRanges(prefix);
    const readable = (key: string) => ranges === undefined || ranges.some((range) => key.startsWith(range));
    peerListPages(this.routing, this.linksOpen(), { prefix, startAfter, count, maxListBytes }, this.answerWithinMs).then(
      (remote) => {
        const { page } = mergeListPages([local, ...remote], { count, maxBytes: maxListBytes, sizeOf: encodedSizeOf }, readable);
        this.reply(name, seqid, (w) => codec.writeLockInfoListReply(w, seqid, page, name));
      },
      (error: unknown) => this.replyError(name, seqid, unavailableFrom(error, name)),
    );
  }

  /** True while an owner may hold something bound to this connection, or a forwarded wait is out. */
  get bindsState(): boolean {
    return this.boundLinks.size > 0 || this.waits.size > 0;
  }

  /** The client's connection closed: close the links, so owners end what was bound to it. */
  close(): void {
    this.links?.close();
    this.links = undefined;
    this.waits.clear();
  }

  private send(call: KeyedCall, address: string): void {
    const seqid = call.seqid;
    const retry = (error: unknown) => this.waitOutFailover(call, error);
    switch (call.method) {
      case 'acquire':
      case 'acquireLock': {
        const request = requestFields(call.request);
        const waitMs = request.waitMs ?? 0;
        const timeout = waitMs < 0 ? Infinity : waitMs + this.answerWithinMs;
        // acquireLock and ephemeral grants are bound to the link's session: once one is granted,
        // losing the link loses it, and the client must hear so by losing its connection. A call
        // still unanswered when its link drops is answered UNAVAILABLE instead (its outcome is unknown).
        const bound = call.method === 'acquireLock' || request.ephemeral === true;
        const wait: ForwardedWait = { address, upstreamSeqid: undefined };
        if (waitMs !== 0) this.waits.set(seqid, wait);
        const done = () => {
          if (this.waits.get(seqid) === wait) this.waits.delete(seqid);
        };
        const sent = (upstream: number, to: string) => {
          wait.upstreamSeqid = upstream;
          wait.address = to;
        };
        const granted = (acquired: boolean) => {
          if (bound && acquired) this.boundLinks.add(wait.address);
        };
        if (call.method === 'acquire') {
          this.relay('acquire', seqid, address, request, timeout, (w, result) => {
            granted(result.acquired);
            codec.writeAcquireReply(w, seqid, result.lease && leaseView(result.lease));
          }, retry, sent, done);
        } else {
          this.relay('acquireLock', seqid, address, request, timeout, (w, acquired) => {
            granted(acquired);
            codec.writeBoolReply(w, 'acquireLock', seqid, acquired);
          }, retry, sent, done);
        }
        return;
      }
      case 'releaseLock':
        return this.relay('releaseLock', seqid, address, requestFields(call.request), this.answerWithinMs, (w, released) => codec.writeBoolReply(w, 'releaseLock', seqid, released), retry);
      case 'release':
        return this.relay('release', seqid, address, { key: keyOf(call), token: required(call.token, 'token') }, this.answerWithinMs, (w, released) =>
          codec.writeBoolReply(w, 'release', seqid, released), retry,
        );
      case 'renew': {
        const args = { key: keyOf(call), token: required(call.token, 'token'), ...(call.ttlMs !== undefined && { ttlMs: call.ttlMs }) };
        return this.relay('renew', seqid, address, args, this.answerWithinMs, (w, lease) => codec.writeLeaseReply(w, seqid, leaseView(lease)), retry);
      }
      case 'checkFence':
        return this.relay('checkFence', seqid, address, { key: keyOf(call), fence: required(call.fence, 'fence') }, this.answerWithinMs, (w, live) =>
          codec.writeBoolReply(w, 'checkFence', seqid, live), retry,
        );
      case 'inspect':
        return this.relay('inspect', seqid, address, { key: keyOf(call) }, this.answerWithinMs, (w, info) => codec.writeLockInfoReply(w, seqid, lockInfoView(info)), retry);
    }
  }

  /**
   * Sends one call to `address` and writes the owner's answer with `write` (or its LockError).
   * An owner that answers "not mine, ask ownerAddress" (its map is newer than ours) gets the
   * call sent once more, there: it did nothing, so any call may be repeated.
   */
  private relay<M extends MethodName>(
    method: M,
    seqid: number,
    address: string,
    args: CallArgs[M],
    timeoutMs: number,
    write: (w: ReturnType<CallContext['outbox']['begin']>, value: ResultOf<M>) => void,
    /** The owner changed nothing (UNAVAILABLE, or the call never left): route it again. */
    retry: (error: unknown) => void,
    sent?: (upstreamSeqid: number, address: string) => void,
    settled?: () => void,
  ): void {
    callOwner(this.linksOpen(), address, method, args, timeoutMs, sent, () => this.host.closed)
      .then(
        (value) => {
          settled?.();
          this.reply(method, seqid, (w) => write(w, value));
        },
        (error: unknown) => {
          settled?.();
          if (error instanceof UnavailableError) retry(error);
          else this.replyError(method, seqid, unavailableFrom(error, method));
        },
      );
  }

  private reply(method: string, seqid: number, write: (w: ReturnType<CallContext['outbox']['begin']>) => void): void {
    if (this.host.closed) return;
    const outbox = this.host.outbox;
    try {
      // The owner made its change durable before it answered: nothing here waits for a sync.
      write(outbox.begin('ordered'));
      outbox.end();
    } catch (error) {
      outbox.discard();
      this.replyError(method, seqid, error);
      return;
    }
    this.host.markDirty();
  }

  private replyError(method: string, seqid: number, error: unknown): void {
    if (this.host.closed) return;
    const lockdError = error instanceof LockdError && error.wireCode !== undefined ? error : new UnavailableError(String((error as Error)?.message ?? error));
    const ownerAddress = lockdError instanceof UnavailableError ? lockdError.ownerAddress : undefined;
    codec.writeLockErrorReply(this.host.outbox.begin('ordered'), method, seqid, lockdError.wireCode ?? WireErrorCode.UNAVAILABLE, lockdError.message, ownerAddress);
    this.host.outbox.end();
    this.host.markDirty();
  }

  private linksOpen(): PeerLinks {
    if (this.links !== undefined) return this.links;
    const links = this.routing.openLinks();
    // The owner ended what it bound to this connection (ephemeral grants, waits) when the link
    // dropped: the client must learn it the way it would from lockd itself, by losing its connection.
    links.onLinkClosed((address) => {
      if (this.boundLinks.has(address) && !this.host.closed) this.host.closeAfterReplies();
    });
    this.links = links;
    return links;
  }
}

/** The key of a keyed call, checked as the local handlers check it. */
function keyOf(call: KeyedCall): string {
  if ('request' in call) {
    if (call.request === undefined) throw new InvalidArgumentError('request is required');
    return requiredKey(call.request.lockKey, call.request.keyValid);
  }
  return requiredKey(call.lockKey, call.keyValid);
}

/** The key a keyed call names, or undefined for calls that name none (they are served locally). */
export function forwardableKeyed(call: ServiceCall): KeyedCall | undefined {
  // Kept a switch (not a Set lookup) so the type narrows.
  switch (call.method) {
    case 'acquire':
    case 'acquireLock':
    case 'releaseLock':
    case 'release':
    case 'renew':
    case 'checkFence':
    case 'inspect':
      return call;
    default:
      return undefined;
  }
}

function requestFields(request: Extract<KeyedCall, { request: unknown }>['request']): LockRequestFields {
  if (request === undefined) throw new InvalidArgumentError('request is required');
  const fields: LockRequestFields = { lockKey: requiredKey(request.lockKey, request.keyValid) };
  if (request.owner !== undefined) fields.owner = request.owner;
  if (request.ttlMs !== undefined) fields.ttlMs = request.ttlMs;
  if (request.waitMs !== undefined) fields.waitMs = request.waitMs;
  if (request.mode !== undefined) fields.mode = request.mode;
  if (request.token !== undefined) fields.token = request.token;
  if (request.ephemeral !== undefined) fields.ephemeral = request.ephemeral;
  return fields;
}
