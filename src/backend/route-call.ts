/**
 * Calls for a key another node serves, as every front end sends them (the Thrift connection's
 * Forwarder in src/server/forwarding.ts, the HTTP API in src/http): how a failover is waited out,
 * how an owner's "ask there" answer is followed, which refusals mean "nothing changed, route
 * again", and the owner's wire answers as the backend's views. One policy, so a client sees the
 * same cluster whichever port it uses.
 *
 * Waiting out a failover: a call whose partition has no owner, whose owner cannot be reached, or
 * that the owner (or this node, which just stopped serving the key) refused UNAVAILABLE, changed
 * nothing, so it is routed again every FAILOVER_RETRY_MS until the routing's failoverWaitMs since
 * its first refusal passed. A call whose link broke after it was sent is not retried (the owner
 * may have acted on it): UNAVAILABLE, as from a lost connection.
 */
import { LockdError, UnavailableError } from '../errors';
import type { CallArgs, MethodName, ResultOf } from '../protocol/lock-service/client';
import type { WireLease, WireLockInfo } from '../protocol/lock-service/structs';
import type { LeaseView, LockInfoView, LockMode } from '../table/types';
import type { ClusterRouting, KeyRoute, PeerLinks } from './routing';

/** How often a call waiting out a failover looks for its key's owner again. */
export const FAILOVER_RETRY_MS = 100;

/** One call's failover wait: its deadline is set at the call's first refusal. */
export class FailoverWait {
  private deadline: number | undefined;

  constructor(private readonly waitMs: number) {}

  /**
   * The call was just refused in a way that changed nothing: true when it may be routed again
   * after FAILOVER_RETRY_MS, false once failoverWaitMs since its first refusal are (about to be) over.
   */
  mayRetry(): boolean {
    const now = performance.now();
    this.deadline ??= now + this.waitMs;
    return now + FAILOVER_RETRY_MS <= this.deadline;
  }
}

/**
 * Sends one call to the owner at `address`. An owner that answers "not mine, ask ownerAddress"
 * (its map is newer than ours) gets the call once more, there: it did nothing, so any call may
 * be repeated. `sent` hears the call's seqid on the link it was written to (to cancel a wait);
 * `stopped` true skips the second try (the caller went away).
 */
export function callOwner<M extends MethodName>(
  links: PeerLinks,
  address: string,
  method: M,
  args: CallArgs[M],
  timeoutMs: number,
  sent?: (upstreamSeqid: number, address: string) => void,
  stopped?: () => boolean,
): Promise<ResultOf<M>> {
  return links.call(address, method, args, timeoutMs, sent && ((upstream) => sent(upstream, address))).catch((error: unknown) => {
    const redirect = error instanceof UnavailableError ? error.ownerAddress : undefined;
    if (redirect === undefined || redirect === address || stopped?.() === true) throw error;
    return links.call(redirect, method, args, timeoutMs, sent && ((upstream) => sent(upstream, redirect)));
  });
}

/** Where one routed call is served: by this node, or by the owner at `address`. */
export interface RouteTargets<T> {
  /** Serves the call on this node (an UnavailableError from it means this node stopped serving the key). */
  local(): T | Promise<T>;
  /** Sends the call to the owner (with callOwner); an UnavailableError from it means the owner changed nothing. */
  remote(address: string): Promise<T>;
}

/**
 * One keyed call of a front end that is not bound to a connection (the HTTP API): served here
 * when this node serves the key, else sent to its owner; failovers waited out as the module
 * comment says (the Thrift Forwarder runs the same steps on its connection's callbacks). An
 * owner's LockError is passed on as it is; anything else from a remote call (a lost link, no
 * answer) as UNAVAILABLE. `stopped` true (the caller went away, shutdown) ends the wait with the
 * last refusal.
 */
export async function routeCall<T>(routing: ClusterRouting, key: string, method: string, targets: RouteTargets<T>, stopped: () => boolean = () => false): Promise<T> {
  const wait = new FailoverWait(routing.failoverWaitMs);
  for (;;) {
    const route = routing.route(key);
    let refusal: UnavailableError;
    if (route.kind === 'unowned') {
      refusal = notOwner(key, route);
    } else if (route.kind === 'local') {
      try {
        return await targets.local();
      } catch (error) {
        if (!(error instanceof UnavailableError)) throw error;
        refusal = error;
      }
    } else {
      try {
        return await targets.remote(route.address);
      } catch (error) {
        // Anything but UNAVAILABLE is final: an owner's answer, or a link lost after the call was sent.
        if (!(error instanceof UnavailableError)) throw unavailableFrom(error, method);
        refusal = error;
      }
    }
    if (!wait.mayRetry() || stopped()) throw refusal;
    await new Promise((resolve) => setTimeout(resolve, FAILOVER_RETRY_MS).unref());
    if (stopped()) throw refusal;
  }
}

/** Refusal of a call for a key this node does not serve and will not forward. */
export function notOwner(key: string, route: Exclude<KeyRoute, { kind: 'local' }>): UnavailableError {
  if (route.kind === 'unowned') {
    return new UnavailableError(`no lockd node serves partition ${route.partition} of key ${JSON.stringify(key)} at the moment (a failover is under way); retry shortly`);
  }
  return new UnavailableError(`key ${JSON.stringify(key)} is served by node ${route.nodeId} at ${route.address}; retry there`, { ownerAddress: route.address });
}

/** An owner's LockError as it is, anything else (a lost link, no answer) as UNAVAILABLE. */
export function unavailableFrom(error: unknown, method: string): unknown {
  if (error instanceof LockdError && error.wireCode !== undefined) return error;
  return new UnavailableError(`the node owning this key did not answer ${method}: ${(error as Error)?.message ?? String(error)}; retry`, { cause: error });
}

/** An owner's Lease as the backend's view (the wire Lease names no owner). */
export function leaseView(lease: WireLease): LeaseView {
  return {
    key: lease.lockKey,
    token: lease.token,
    fence: lease.fence,
    ttlMs: lease.ttlMs,
    expiresAtMs: lease.expiresAtMs,
    mode: lease.mode as LockMode,
    holdCount: lease.holdCount,
    owner: undefined,
  };
}

/** An owner's LockInfo as the backend's view. */
export function lockInfoView(info: WireLockInfo): LockInfoView {
  return { key: info.lockKey, holders: info.holders.map((h) => ({ ...h, mode: h.mode as LockMode })), waiters: info.waiters };
}
