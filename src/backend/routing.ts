/**
 * What the server needs from cluster mode to serve a call whose key another node owns: where a
 * key lives now, the cluster as clusterInfo reports it, and links to other nodes to forward calls
 * over. src/cluster implements it; a single lockd has none (every key is local).
 */
import type { CallArgs, MethodName, ResultOf } from '../protocol/lock-service/client';
import type { WireClusterInfo } from '../protocol/lock-service/structs';

/** Where the calls for a key go, as this node's partition map says now. */
export type KeyRoute =
  | { readonly kind: 'local' }
  | { readonly kind: 'remote'; readonly nodeId: string; readonly address: string }
  /** No node serves the key's partition at the moment (a failover or hand-off is under way). */
  | { readonly kind: 'unowned'; readonly partition: number };

export interface ClusterRouting {
  /** This node's id. */
  readonly nodeId: string;
  /**
   * How long a call may wait for its key's partition to find a (new) owner before it is refused
   * UNAVAILABLE: a failover takes up to the node TTL plus the claim grace.
   */
  readonly failoverWaitMs: number;
  route(key: string): KeyRoute;
  /** The cluster as this node sees it (clusterInfo). */
  info(): WireClusterInfo;
  /** Addresses of the other live nodes (listLocks asks each for its own keys). */
  peerAddresses(): string[];
  /** Opens the links one client connection forwards over (one per node, opened on first use). */
  openLinks(): PeerLinks;
  /**
   * Whether this node can serve its partitions now (/readyz): its cluster session is live. When
   * not (etcd unreachable, its ownership deadline passed, not joined yet), `reason` says why.
   */
  ready(): NodeReadiness;
}

/** ClusterRouting.ready's answer. */
export interface NodeReadiness {
  readonly ok: boolean;
  /** Why the node is not ready (absent when ok). */
  readonly reason?: string;
}

/** One client connection's links to other nodes. */
export interface PeerLinks {
  /**
   * Sends one call to the node at `address`. `sent` is called with the call's seqid on that link
   * once it is written (cancelWait names it). The reply is the owner's value or its LockdError;
   * PeerUnreachableError when no link could be opened (the call never left this node).
   */
  call<M extends MethodName>(address: string, method: M, args: CallArgs[M], timeoutMs: number, sent?: (seqid: number) => void): Promise<ResultOf<M>>;
  /** Called once when the link to `address` ends (the owner died, or closed it). */
  onLinkClosed(listener: (address: string) => void): void;
  /** Closes every link: the owners end this connection's ephemeral grants and waits. */
  close(): void;
}
