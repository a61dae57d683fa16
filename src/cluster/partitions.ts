/**
 * Which partition a key belongs to, and how a partition's fences are published.
 *
 * partitionOf(key) = CRC-32 (IEEE, as zlib) of the key's UTF-8 bytes, mod P. Any language
 * computes it: Python `zlib.crc32(key.encode()) % P`, Java `java.util.zip.CRC32`, Go
 * `crc32.ChecksumIEEE([]byte(key)) % P`, Node `zlib.crc32(key) % P`.
 *
 * Fences: each partition counts its own fences k = 1, 2, ... (its LockTable's counter, journaled
 * in its log) and publishes fenceBase + k * P + p. So fences of one key strictly increase across
 * owners (a new owner resumes above the journaled ceiling) and fences of different keys never
 * collide (different p, or different k). With P = 64 a partition has 2^47 fences below 2^53.
 */
// The function itself lives in util: the client computes it too (routeToOwner).
export { partitionOf } from '../util/partition';

/** The fence clients see for partition `p`'s k-th fence. */
export function publishFence(k: number, p: number, partitions: number, fenceBase: number): number {
  return fenceBase + k * partitions + p;
}

/** The partition-local fence k behind a published fence of partition `p`, or undefined if it is not one of p's. */
export function localFence(published: number, p: number, partitions: number, fenceBase: number): number | undefined {
  const k = (published - fenceBase - p) / partitions;
  return Number.isInteger(k) && k > 0 ? k : undefined;
}

/** Partition number as it appears in etcd keys: 4 hex digits. */
export function partitionLabel(p: number): string {
  return p.toString(16).padStart(4, '0');
}
