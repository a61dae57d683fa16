/**
 * Lease tokens at rest: lockd keeps only a digest of each token (the first 16 bytes of SHA-256 of
 * its 16 raw bytes), in the table, the data dir and the cluster journal. A client proves it holds
 * a lease by presenting the token; lockd hashes it once and compares digests. Whoever reads a
 * digest (a copy of the data dir, an etcd dump) cannot turn it back into a token, so cannot
 * release or renew the lease. Tokens are 128 random bits, so no salt or slow hash is needed: there
 * is nothing to guess from a dictionary.
 */
import crypto from 'node:crypto';

/** Token length in bytes (128 bits), hex-encoded on the wire. */
export const TOKEN_BYTES = 16;
/** A token as clients see it: 32 hex characters. */
export const TOKEN_HEX_LENGTH = TOKEN_BYTES * 2;
/** Digest length in bytes: as long as a token, so a record's size did not change with it. */
export const DIGEST_BYTES = 16;

/**
 * SHA-256 of `bytes` as 64 hex characters. `crypto.hash` (Node >= 20.12) is one native call;
 * measured on 16 bytes here, hex output: crypto.hash 440-640 ns, createHash().update().digest()
 * 1,100-1,500 ns; Buffer output was slower for both (1.3-3 us: the Buffer allocation).
 */
const sha256Hex: (bytes: Uint8Array) => string =
  typeof crypto.hash === 'function'
    ? (bytes) => crypto.hash('sha256', bytes, 'hex')
    : (bytes) => crypto.createHash('sha256').update(bytes).digest('hex');

/** Value of each hex digit's char code (either case); -1 for every other code below 128. */
const HEX_VALUE = new Int8Array(128).fill(-1);
for (let i = 0; i < 16; i++) {
  HEX_VALUE['0123456789abcdef'.charCodeAt(i)] = i;
  HEX_VALUE['0123456789ABCDEF'.charCodeAt(i)] = i;
}

/** The value of the hex digit at hex[index], or -1. */
function hexDigit(hex: string, index: number): number {
  const code = hex.charCodeAt(index);
  return code < 128 ? HEX_VALUE[code] : -1;
}

/**
 * Decodes the first 2 * count hex digits of `hex` into into[at, at + count); false (and `into`
 * partly written) at a character that is no hex digit or when `hex` is shorter. A JS loop: for
 * 16 bytes it costs ~30 ns where Buffer.write(hex) costs ~180 ns (a native call), and this runs
 * at least once per call that grants or presents a token.
 */
export function decodeHex(hex: string, into: Uint8Array, at: number, count: number): boolean {
  if (hex.length < 2 * count) return false;
  for (let i = 0; i < count; i++) {
    const high = hexDigit(hex, 2 * i);
    const low = hexDigit(hex, 2 * i + 1);
    if ((high | low) < 0) return false;
    into[at + i] = (high << 4) | low;
  }
  return true;
}

/**
 * Whether the first 2 * count hex digits of `hex` spell bytes[at, at + count). Not constant-time:
 * use it for digests (no secret), never for tokens.
 */
export function hexEquals(hex: string, bytes: Uint8Array, at: number, count: number): boolean {
  if (hex.length < 2 * count) return false;
  for (let i = 0; i < count; i++) {
    const high = hexDigit(hex, 2 * i);
    const low = hexDigit(hex, 2 * i + 1);
    if ((high | low) < 0 || ((high << 4) | low) !== bytes[at + i]) return false;
  }
  return true;
}

/** Scratch for the bytes of a token being hashed (lockd is single-threaded; nothing keeps it across calls). */
const scratch = Buffer.alloc(TOKEN_BYTES);

/** The digest of 16 raw token bytes, as 32 hex characters. */
export function digestOfBytes(bytes: Uint8Array): string {
  return sha256Hex(bytes).slice(0, DIGEST_BYTES * 2);
}

/**
 * The digest of the 16 token bytes at bytes[start, start + 16). Copied into a scratch buffer by a
 * loop: a subarray to hash would cost more (an object per call, ~200 ns measured) than the copy.
 */
export function digestOfBytesAt(bytes: Uint8Array, start: number): string {
  for (let i = 0; i < TOKEN_BYTES; i++) scratch[i] = bytes[start + i];
  return digestOfBytes(scratch);
}

/**
 * The digest of a token as a client presents it (32 hex characters, either case), as 32 hex
 * characters; undefined when it is not a well-formed token (then it names no lease).
 */
export function tokenDigest(token: string): string | undefined {
  if (token.length !== TOKEN_HEX_LENGTH || !decodeHex(token, scratch, 0, TOKEN_BYTES)) return undefined;
  // The scratch is not wiped: the presented token lives on in its request string anyway.
  return digestOfBytes(scratch);
}
