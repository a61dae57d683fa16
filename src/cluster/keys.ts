/**
 * lockd's keys in etcd, all under `/lockd/<cluster>/` (design study §4.1):
 *   config                     { version, partitions, fenceBase }          written once
 *   nodes/<nodeId>             { addr, incarnation, startedAt, pid }        node lease
 *   owners/<pppp>              <nodeId>                                     node lease, claim txn
 *   p/<pppp>/log/<seq>         one journal batch (src/store/records.ts)     guarded by the claim
 *   p/<pppp>/snap/<gen>/<i>    snapshot chunk i of generation gen           guarded
 *   p/<pppp>/snapmeta          { gen, chunks, lastSeq, fenceCeiling }       guarded
 * p as 4 hex digits, seq and gen as 16, so byte order is numeric order.
 */
import { partitionLabel } from './partitions';

export class ClusterKeys {
  readonly prefix: string;

  constructor(readonly cluster: string) {
    this.prefix = `/lockd/${cluster}/`;
  }

  get config(): string {
    return `${this.prefix}config`;
  }
  get nodesPrefix(): string {
    return `${this.prefix}nodes/`;
  }
  node(nodeId: string): string {
    return `${this.nodesPrefix}${nodeId}`;
  }
  get ownersPrefix(): string {
    return `${this.prefix}owners/`;
  }
  owner(p: number): string {
    return `${this.ownersPrefix}${partitionLabel(p)}`;
  }
  /** The partition an owners/ key names, or undefined for another key. */
  partitionOfOwnerKey(key: string): number | undefined {
    if (!key.startsWith(this.ownersPrefix)) return undefined;
    const p = Number.parseInt(key.slice(this.ownersPrefix.length), 16);
    return Number.isInteger(p) ? p : undefined;
  }
  logPrefix(p: number): string {
    return `${this.prefix}p/${partitionLabel(p)}/log/`;
  }
  log(p: number, seq: number): string {
    return `${this.logPrefix(p)}${hex16(seq)}`;
  }
  /** The seq a log key names. */
  seqOfLogKey(p: number, key: string): number {
    return Number.parseInt(key.slice(this.logPrefix(p).length), 16);
  }
  /** Every snapshot generation of p. */
  snapsPrefix(p: number): string {
    return `${this.prefix}p/${partitionLabel(p)}/snap/`;
  }
  snapPrefix(p: number, gen: number): string {
    return `${this.snapsPrefix(p)}${hex16(gen)}/`;
  }
  snapChunk(p: number, gen: number, index: number): string {
    return `${this.snapPrefix(p, gen)}${hex16(index)}`;
  }
  snapMeta(p: number): string {
    return `${this.prefix}p/${partitionLabel(p)}/snapmeta`;
  }
}

/** The end of the range of keys starting with `prefix` (etcd's range_end for a prefix). */
export function prefixEnd(prefix: string | Buffer): Buffer {
  const end = Buffer.from(prefix);
  for (let i = end.length - 1; i >= 0; i--) {
    if (end[i] < 0xff) {
      end[i]++;
      return end.subarray(0, i + 1);
    }
  }
  return Buffer.from([0]);
}

function hex16(n: number): string {
  return n.toString(16).padStart(16, '0');
}
