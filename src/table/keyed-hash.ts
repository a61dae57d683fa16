/**
 * HalfSipHash (Aumasson and Bernstein): a keyed 32-bit hash built from 32-bit add, rotate and
 * xor, so it runs on int32 values in JS without BigInt. Without the key an attacker cannot pick
 * keys that share a bucket, which an unkeyed hash such as FNV-1a allows (thousands of keys on one
 * probe chain). The 1-3 round variant is the one Linux uses for its hash tables (hsiphash).
 */
import { randomFillSync } from 'node:crypto';

/** The 64-bit hash key, as two little-endian 32-bit halves. */
export interface HashKey {
  readonly k0: number;
  readonly k1: number;
}

/** A fresh random key: each table draws its own at start. */
export function randomHashKey(): HashKey {
  const words = randomFillSync(new Int32Array(2));
  return { k0: words[0], k1: words[1] };
}

/**
 * HalfSipHash-c-d with a 32-bit result (as a signed int32) of bytes[start, end) under `key`.
 * The defaults (1 compression round, 3 finalization rounds) are the hash-table variant; 2-4 is
 * the one the reference test vectors are published for.
 */
export function halfSipHash(bytes: Uint8Array, start: number, end: number, key: HashKey, compressionRounds = 1, finalRounds = 3): number {
  const length = end - start;
  let v0 = key.k0;
  let v1 = key.k1;
  let v2 = 0x6c796765 ^ key.k0;
  let v3 = 0x74656462 ^ key.k1;
  const wholeWordsEnd = end - (length & 3);
  let i = start;
  // One loop serves every block: each whole word, then the last block (tail bytes plus the
  // length), then finalization (no message, the finalization rounds), so the round is written once.
  for (let block = 0; block < 3; ) {
    let message = 0;
    let rounds = compressionRounds;
    if (i < wholeWordsEnd) {
      message = bytes[i] | (bytes[i + 1] << 8) | (bytes[i + 2] << 16) | (bytes[i + 3] << 24);
      i += 4;
    } else if (block === 0) {
      message = length << 24;
      const tail = length & 3;
      if (tail === 3) message |= bytes[i + 2] << 16;
      if (tail >= 2) message |= bytes[i + 1] << 8;
      if (tail >= 1) message |= bytes[i];
      block = 1;
    } else {
      v2 ^= 0xff;
      rounds = finalRounds;
      block = 3;
    }
    v3 ^= message;
    for (let r = 0; r < rounds; r++) {
      v0 = (v0 + v1) | 0;
      v1 = ((v1 << 5) | (v1 >>> 27)) ^ v0;
      v0 = (v0 << 16) | (v0 >>> 16);
      v2 = (v2 + v3) | 0;
      v3 = ((v3 << 8) | (v3 >>> 24)) ^ v2;
      v0 = (v0 + v3) | 0;
      v3 = ((v3 << 7) | (v3 >>> 25)) ^ v0;
      v2 = (v2 + v1) | 0;
      v1 = ((v1 << 13) | (v1 >>> 19)) ^ v2;
      v2 = (v2 << 16) | (v2 >>> 16);
    }
    v0 ^= message;
  }
  return v1 ^ v3;
}
