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

// The four state words; module-level so the round function needs no allocation to return them.
let v0 = 0;
let v1 = 0;
let v2 = 0;
let v3 = 0;

function rotl(x: number, b: number): number {
  return (x << b) | (x >>> (32 - b));
}

function rounds(count: number): void {
  for (let r = 0; r < count; r++) {
    v0 = (v0 + v1) | 0;
    v1 = rotl(v1, 5) ^ v0;
    v0 = rotl(v0, 16);
    v2 = (v2 + v3) | 0;
    v3 = rotl(v3, 8) ^ v2;
    v0 = (v0 + v3) | 0;
    v3 = rotl(v3, 7) ^ v0;
    v2 = (v2 + v1) | 0;
    v1 = rotl(v1, 13) ^ v2;
    v2 = rotl(v2, 16);
  }
}

/**
 * HalfSipHash-c-d with a 32-bit result (as a signed int32) of bytes[start, end) under `key`.
 * The defaults (1 compression round, 3 finalization rounds) are the hash-table variant; 2-4 is
 * the one the reference test vectors are published for.
 */
export function halfSipHash(bytes: Uint8Array, start: number, end: number, key: HashKey, compressionRounds = 1, finalRounds = 3): number {
  const length = end - start;
  v0 = key.k0;
  v1 = key.k1;
  v2 = 0x6c796765 ^ key.k0;
  v3 = 0x74656462 ^ key.k1;
  const wholeWordsEnd = end - (length & 3);
  let i = start;
  for (; i < wholeWordsEnd; i += 4) {
    const m = bytes[i] | (bytes[i + 1] << 8) | (bytes[i + 2] << 16) | (bytes[i + 3] << 24);
    v3 ^= m;
    rounds(compressionRounds);
    v0 ^= m;
  }
  let last = length << 24;
  const tail = length & 3;
  if (tail === 3) last |= bytes[i + 2] << 16;
  if (tail >= 2) last |= bytes[i + 1] << 8;
  if (tail >= 1) last |= bytes[i];
  v3 ^= last;
  rounds(compressionRounds);
  v0 ^= last;
  v2 ^= 0xff;
  rounds(finalRounds);
  return v1 ^ v3;
}
