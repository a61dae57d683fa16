/**
 * Claiming and giving up a partition: each a single etcd txn, so every race between two
 * claimants, or between an owner and a claimant, is decided by etcd (design study §4.3).
 */
import type { Etcd3 } from 'etcd3';
import type { ClusterKeys } from './keys';

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
