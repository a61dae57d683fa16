/**
 * Claiming and giving up a partition: each a single etcd txn, so every race between two
 * claimants, or between an owner and a claimant, is decided by etcd (design study §4.3).
 */
import type { Etcd3, ICompare, IKeyValue, IRequestOp } from 'etcd3';
import { type ClusterKeys, prefixEnd } from './keys';

/** Outcome of a claim: mine (with the revision that guards every later write), or someone else's. */
export type ClaimOutcome =
  | { readonly claimed: true; readonly claimRev: string }
  | { readonly claimed: false; readonly owner: string | undefined };

/**
 * Creates owners/<p> naming `nodeId`, attached to the node's lease, if no owner key exists.
 * A claim cannot commit once the lease is gone (etcd refuses a put naming a missing lease).
 */
export async function claimPartition(client: Etcd3, keys: ClusterKeys, p: number, nodeId: string, leaseId: string): Promise<ClaimOutcome> {
  const key = Buffer.from(keys.owner(p));
  const response = await client.kv.txn({
    compare: [{ key, target: 'Create', result: 'Equal', create_revision: 0 }],
    success: [{ request_put: { key, value: Buffer.from(nodeId), lease: leaseId } }],
    failure: [{ request_range: { key } }],
  });
  if (response.succeeded) return { claimed: true, claimRev: response.header.revision };
  const owner = response.responses[0]?.response_range.kvs[0]?.value.toString();
  return { claimed: false, owner };
}

/** Deletes owners/<p> if it is still the key this node created at `claimRev`. True when deleted. */
export async function releasePartition(client: Etcd3, keys: ClusterKeys, p: number, claimRev: string): Promise<boolean> {
  const key = Buffer.from(keys.owner(p));
  const response = await client.kv.txn({
    compare: [{ key, target: 'Create', result: 'Equal', create_revision: claimRev }],
    success: [{ request_delete_range: { key } }],
    failure: [],
  });
  return response.succeeded;
}

/** The start of a claimed partition's journal, read in the claim's own txn (at its revision). */
export interface ClaimedRead {
  /** snapmeta, if a snapshot was ever written. */
  readonly meta: IKeyValue | undefined;
  /** The first log entries in key order (at most `logPage`). */
  readonly log: readonly IKeyValue[];
  /** True when the log holds more entries than were read. */
  readonly more: boolean;
}

/**
 * Claims every partition of `ps` in ONE txn, reading each one's snapshot meta and first log page
 * in the same txn: a failover's claims and replays cost one etcd round trip instead of three per
 * partition. All or nothing: when any of them has an owner the txn changes nothing and returns
 * undefined (the caller claims one by one). At most 42 partitions (etcd's --max-txn-ops, 128:
 * three success ops each).
 */
export async function claimPartitions(
  client: Etcd3,
  keys: ClusterKeys,
  ps: readonly number[],
  nodeId: string,
  leaseId: string,
  logPage: number,
): Promise<{ claimRev: string; reads: Map<number, ClaimedRead> } | undefined> {
  const compare: ICompare[] = [];
  const success: IRequestOp[] = [];
  for (const p of ps) {
    const key = Buffer.from(keys.owner(p));
    compare.push({ key, target: 'Create', result: 'Equal', create_revision: 0 });
    success.push({ request_put: { key, value: Buffer.from(nodeId), lease: leaseId } });
  }
  for (const p of ps) {
    // The meta sorts after log/ and snap/ under the partition's prefix: one range from the log's
    // start to the prefix's end would page through snapshot chunks first. Two ranges instead.
    const log = keys.logPrefix(p);
    success.push({ request_range: { key: Buffer.from(log), range_end: prefixEnd(log), limit: logPage } });
    success.push({ request_range: { key: Buffer.from(keys.snapMeta(p)) } });
  }
  const response = await client.kv.txn({ compare, success, failure: [] });
  if (!response.succeeded) return undefined;
  const reads = new Map<number, ClaimedRead>();
  ps.forEach((p, i) => {
    const log = response.responses[ps.length + 2 * i]!.response_range;
    const meta = response.responses[ps.length + 2 * i + 1]!.response_range;
    reads.set(p, { meta: meta.kvs[0], log: log.kvs, more: log.more });
  });
  return { claimRev: response.header.revision, reads };
}
