/**
 * Which partition of a lockd cluster a key belongs to: CRC-32 (IEEE, as zlib) of the key's
 * UTF-8 bytes, mod the partition count. Shared by the cluster (which node owns a key) and the
 * client (routeToOwner sends each call to that node). Any language computes it: Python
 * `zlib.crc32(key.encode()) % P`, Java `java.util.zip.CRC32`, Go
 * `crc32.ChecksumIEEE([]byte(key)) % P`, Node `zlib.crc32(key) % P`.
 */
import { crc32 } from 'node:zlib';

/** The partition of `key` among `partitions`. */
export function partitionOf(key: string, partitions: number): number {
  return crc32(key) % partitions;
}
