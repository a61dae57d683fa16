/**
 * The server's view of the cluster (ClusterRouting): which node serves a key's partition now,
 * clusterInfo's map, and the links forwarded calls travel over. Read from the partition
 * manager's last reconcile round; a stale answer is safe, because an owner refuses a call for a
 * partition it no longer serves and names the owner it knows.
 */
import type { WireClusterInfo } from '../protocol/lock-service/structs';
import type { ClusterRouting, KeyRoute, PeerLinks } from '../backend/routing';
import { partitionOf } from './partitions';
import type { PartitionManager } from './partition-manager';
import { type PeerLinkOptions, ThriftPeerLinks } from './peer-links';

const LOCAL: KeyRoute = Object.freeze({ kind: 'local' });

export class PartitionRouting implements ClusterRouting {
  readonly nodeId: string;

  constructor(
    private readonly cluster: string,
    private readonly partitions: number,
    private readonly manager: PartitionManager,
    private readonly links: PeerLinkOptions,
    readonly failoverWaitMs: number,
  ) {
    this.nodeId = links.nodeId;
  }

  route(key: string): KeyRoute {
    const p = partitionOf(key, this.partitions);
    if (this.manager.serves(p)) return LOCAL;
    const owner = this.manager.ownerOf(p);
    // Our own claim that we do not serve (being replayed, handed off, or our session lapsed) is no route either.
    if (owner === undefined || owner.addr === undefined || owner.nodeId === this.nodeId) return { kind: 'unowned', partition: p };
    return { kind: 'remote', nodeId: owner.nodeId, address: owner.addr };
  }

  info(): WireClusterInfo {
    const owners: string[] = [];
    const byNode = new Map<string, number[]>();
    for (let p = 0; p < this.partitions; p++) {
      const owner = this.manager.serves(p) ? this.nodeId : this.manager.ownerOf(p)?.nodeId;
      owners.push(owner ?? '');
      if (owner !== undefined) {
        const list = byNode.get(owner) ?? [];
        list.push(p);
        byNode.set(owner, list);
      }
    }
    const members = this.manager
      .liveNodes()
      .map((node) => ({ nodeId: node.id, address: node.addr, partitions: byNode.get(node.id) ?? [] }))
      .sort((a, b) => (a.nodeId < b.nodeId ? -1 : a.nodeId > b.nodeId ? 1 : 0));
    return { cluster: this.cluster, nodeId: this.nodeId, partitions: this.partitions, members, owners };
  }

  peerAddresses(): string[] {
    return this.manager
      .liveNodes()
      .filter((node) => node.id !== this.nodeId)
      .map((node) => node.addr);
  }

  openLinks(): PeerLinks {
    return new ThriftPeerLinks(this.links);
  }
}
