/**
 * routeToOwner: which node of a cluster owns each key (the partition map from clusterInfo) and
 * one connection per owner node, so a keyed call skips the hop through a forwarding node.
 *
 * The connections are opened as peer links (peerConnection): a node that no longer owns a key
 * answers UNAVAILABLE with the owner's address instead of forwarding, so the first call that
 * meets a stale map corrects it. Whenever a route is missing (no map yet, a single lockd, a
 * partition without an owner, an owner that cannot be reached) the caller uses its main
 * connection, whose node forwards: routing saves a hop, it is never needed for an answer.
 */
import { LockdError } from '../errors';
import type { WireClusterInfo } from '../protocol/lock-service/structs';
import { partitionOf } from '../util/partition';
import type { LockServiceStub } from './service-stub';

/** What the routes need from their client. */
export interface RouteDeps {
  /** clusterInfo over the client's main connection. */
  fetchInfo(): Promise<WireClusterInfo>;
  /** Opens (connects, authenticates, declares a peer link) a connection to `address`. */
  open(address: string): Promise<LockServiceStub>;
  /** Shortest pause between two fetches of the map (after one failed or was found stale). */
  readonly refreshMs: number;
}

interface PartitionMap {
  partitions: number;
  /** Owner address per partition; undefined while unowned. */
  owners: (string | undefined)[];
}

/** See the file comment. */
export class OwnerRoutes {
  /** undefined until fetched, and after it was found stale. */
  private map: PartitionMap | undefined;
  /** A single lockd (cluster ""): nothing to route. */
  private single = false;
  private fetching: Promise<void> | undefined;
  private lastFetchAt = -Infinity;
  private readonly routes = new Map<string, Promise<LockServiceStub | undefined>>();
  private closed = false;

  constructor(private readonly deps: RouteDeps) {}

  /**
   * The connection to `key`'s owner, or undefined (use the main connection): no map yet and
   * none to be had now, a single lockd, the partition unowned, or its owner unreachable.
   */
  async stubFor(key: string): Promise<LockServiceStub | undefined> {
    const map = this.map ?? (await this.refresh());
    if (map === undefined) return undefined;
    const address = map.owners[partitionOf(key, map.partitions)];
    return address === undefined ? undefined : this.route(address);
  }

  /**
   * A routed call for `key` was answered UNAVAILABLE: with `ownerAddress`, the node that owns
   * it now (the map was stale there); without, the owner could not serve it (refetch the map).
   */
  redirected(key: string, ownerAddress: string | undefined): void {
    const map = this.map;
    if (map === undefined) return;
    if (ownerAddress !== undefined) map.owners[partitionOf(key, map.partitions)] = ownerAddress;
    else this.map = undefined;
  }

  /** Closes every route. */
  close(): void {
    this.closed = true;
    for (const route of this.routes.values()) void route.then((stub) => stub?.connection.close());
    this.routes.clear();
  }

  /** Fetches the map unless one was fetched within refreshMs (then: no map for now). */
  private async refresh(): Promise<PartitionMap | undefined> {
    if (this.single || this.closed) return undefined;
    if (this.fetching === undefined) {
      if (performance.now() - this.lastFetchAt < this.deps.refreshMs) return undefined;
      this.lastFetchAt = performance.now();
      this.fetching = this.deps.fetchInfo().then(
        (info) => {
          this.fetching = undefined;
          this.single = info.cluster === '';
          this.map = this.single ? undefined : toMap(info);
        },
        (error: unknown) => {
          this.fetching = undefined;
          // No map: calls take the main connection, which reports its own errors.
          if (!(error instanceof LockdError)) throw error;
        },
      );
    }
    await this.fetching;
    return this.map;
  }

  /** The open connection to `address`, opening it once (concurrent callers share the attempt). */
  private route(address: string): Promise<LockServiceStub | undefined> {
    const existing = this.routes.get(address);
    if (existing !== undefined) return existing;
    const opening = this.deps.open(address).then(
      (stub) => {
        if (this.closed) {
          stub.connection.close();
          return undefined;
        }
        stub.connection.onClose(() => {
          if (this.routes.get(address) === opening) this.routes.delete(address);
          // The owner may be gone: learn who took its partitions over.
          this.map = undefined;
        });
        return stub;
      },
      () => {
        this.routes.delete(address);
        this.map = undefined;
        return undefined;
      },
    );
    this.routes.set(address, opening);
    return opening;
  }
}

function toMap(info: WireClusterInfo): PartitionMap {
  const addressOf = new Map(info.members.map((m) => [m.nodeId, m.address]));
  return { partitions: info.partitions, owners: info.owners.map((owner) => (owner === '' ? undefined : addressOf.get(owner))) };
}
