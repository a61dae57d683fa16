/**
 * Secrets are kept as SHA-256 hashes and checked in constant time: the auth file never holds a
 * secret, and how long a check takes says nothing about how much of a guess was right, nor
 * whether the identity exists.
 */
import { createHash, timingSafeEqual } from 'node:crypto';

/** SHA-256 of a secret's UTF-8 bytes, as `printf %s "$SECRET" | sha256sum` prints it. */
export function sha256Hex(secret: string): string {
  return createHash('sha256').update(secret, 'utf8').digest('hex');
}

/** Compared against when the identity is unknown, so that case costs what a wrong secret costs. */
const NO_HASH = createHash('sha256').update('lockd: no such identity').digest();

/** True when `secret` hashes to `expected`; `expected` undefined (no such identity) is always false, in the same time. */
export function secretMatches(expected: Buffer | undefined, secret: string): boolean {
  const actual = createHash('sha256').update(secret, 'utf8').digest();
  const equal = timingSafeEqual(actual, expected ?? NO_HASH);
  return equal && expected !== undefined;
}
