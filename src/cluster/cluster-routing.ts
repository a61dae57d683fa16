/**
 * The server's view of the cluster (ClusterRouting): which node serves a key's partition now,
 * clusterInfo's map, and the links forwarded calls travel over. Read from the partition
 * manager's last reconcile round; a stale answer is safe, because an owner refuses a call for a
 * partition it no longer serves and names the owner it knows.
 */
import type { WireClusterInfo } from '../protocol/lock-service/structs';
import type { ClusterRouting, KeyRoute, NodeReadiness, PeerLinks } from '../backend/routing';
import type { NodeSession, SessionEnd } from './node-session';
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
    /** The node's etcd session: its liveness is the node's readiness. */
    private readonly session: Pick<NodeSession, 'live' | 'onEnd'>,
  ) {
    this.nodeId = links.nodeId;
    session.onEnd((why) => (this.lastEnd = why));
  }

  /** How the last node session ended (for ready()'s reason). */
  private lastEnd: SessionEnd | undefined;

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

  ready(): NodeReadiness {
    if (this.session.live()) return { ok: true };
    const why =
      this.lastEnd === 'lease-gone'
        ? 'etcd reports its node lease gone (it expired)'
        : this.lastEnd === 'closed'
          ? 'the node is leaving the cluster'
          : 'its ownership deadline passed with no node-lease renewal answered by etcd (etcd unreachable or too slow)';
    return { ok: false, reason: `node ${this.nodeId} has no live etcd session: ${why}; it serves none of its partitions until it rejoins` };
  }
}
