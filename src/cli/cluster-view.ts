/**
 * What `lockctl cluster` prints: the nodes of a lockd cluster with the partitions each owns
 * (as compact ranges, "0-15,32"), the partitions nobody owns, and the --json shape of the same.
 * Pure functions of a ClusterInfo, so the layout is tested without a cluster.
 */
import type { ClusterInfo } from '../client/lock-client';

/** --json of `lockctl cluster`. */
export interface ClusterJson {
  /** The cluster's name; "" for a single lockd. */
  cluster: string;
  /** False for a single lockd (no --etcd): a cluster of one. */
  clustered: boolean;
  /** The node that answered. */
  nodeId: string;
  partitions: number;
  nodes: Array<{ nodeId: string; address: string; partitions: number[] }>;
  /** Partitions without an owner right now (a failover in progress), ascending. */
  unowned: number[];
}

/** "0-15,32,40-41" for [0..15, 32, 40, 41]: sorted, duplicates dropped, runs of 2+ as a range; "" for none. */
export function compactRanges(numbers: readonly number[]): string {
  const sorted = [...new Set(numbers)].sort((a, b) => a - b);
  const parts: string[] = [];
  for (let i = 0; i < sorted.length; ) {
    let j = i;
    while (j + 1 < sorted.length && sorted[j + 1] === sorted[j] + 1) j++;
    parts.push(j === i ? String(sorted[i]) : `${sorted[i]}-${sorted[j]}`);
    i = j + 1;
  }
  return parts.join(',');
}

/** A single lockd answers cluster "" (itself as the only member). */
export function isClustered(info: ClusterInfo): boolean {
  return info.cluster !== '';
}

/** Partitions whose owner is "" (or missing from `owners`), ascending. */
export function unownedPartitions(info: ClusterInfo): number[] {
  const unowned: number[] = [];
  for (let p = 0; p < info.partitions; p++) if (!info.owners[p]) unowned.push(p);
  return unowned;
}

/** The --json object of `lockctl cluster`: nodes in node id order. */
export function clusterJson(info: ClusterInfo): ClusterJson {
  return {
    cluster: info.cluster,
    clustered: isClustered(info),
    nodeId: info.nodeId,
    partitions: info.partitions,
    nodes: sortedMembers(info).map((m) => ({ nodeId: m.nodeId, address: m.address, partitions: [...m.partitions].sort((a, b) => a - b) })),
    unowned: unownedPartitions(info),
  };
}

/**
 * The human text of `lockctl cluster`:
 *
 *   cluster "prod": 3 nodes, 64 partitions (answered by node-a)
 *   node    address          owned  partitions
 *   node-a  10.0.0.1:9090       22  0-21
 *   ...
 *   unowned partitions: none
 *
 * or, for a single lockd, one line saying it is not clustered.
 */
export function describeCluster(info: ClusterInfo): string {
  if (!isClustered(info)) {
    const self = info.members[0]?.address ?? info.nodeId;
    return `not clustered: a single lockd (${self}) serves every key`;
  }
  const members = sortedMembers(info);
  const header = ['node', 'address', 'owned', 'partitions'];
  const rows = members.map((m) => [m.nodeId, m.address, String(m.partitions.length), compactRanges(m.partitions) || '-']);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  // The count column is right-aligned; the last column is not padded (no trailing blanks).
  const line = (cells: string[]) =>
    cells.map((cell, i) => (i === 2 ? cell.padStart(widths[i]) : i === cells.length - 1 ? cell : cell.padEnd(widths[i]))).join('  ');
  const unowned = unownedPartitions(info);
  const nodes = `${members.length} ${members.length === 1 ? 'node' : 'nodes'}`;
  const partitions = `${info.partitions} ${info.partitions === 1 ? 'partition' : 'partitions'}`;
  return [
    `cluster ${JSON.stringify(info.cluster)}: ${nodes}, ${partitions} (answered by ${info.nodeId})`,
    line(header),
    ...rows.map(line),
    `unowned partitions: ${unowned.length === 0 ? 'none' : `${unowned.length} (${compactRanges(unowned)})`}`,
  ].join('\n');
}

function sortedMembers(info: ClusterInfo): ClusterInfo['members'] {
  return [...info.members].sort((a, b) => (a.nodeId < b.nodeId ? -1 : a.nodeId > b.nodeId ? 1 : 0));
}
