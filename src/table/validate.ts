/**
 * Every check of the table's arguments, in one place: each turns bad input into an
 * InvalidArgumentError that says what was wrong and what is allowed.
 */
import { InvalidArgumentError } from '../errors';
import { LockMode } from './types';

/** Longest key, in UTF-8 bytes. */
export const MAX_KEY_BYTES = 1024;
/** Longest owner label, in UTF-8 bytes. */
export const MAX_OWNER_BYTES = 256;

/** The limits the checks below enforce (a subset of TableLimits). */
export interface ArgumentLimits {
  defaultTtlMs: number;
  minTtlMs: number;
  maxTtlMs: number;
  maxWaitMs: number;
  defaultListLimit: number;
  maxListLimit: number;
}

/** Throws InvalidArgumentError unless `key` is 1..1024 bytes of UTF-8. */
export function validateKey(key: string | undefined): asserts key is string {
  if (key === undefined) throw new InvalidArgumentError('lockKey is required');
  const bytes = utf8Length(key, MAX_KEY_BYTES);
  if (bytes === 0 || bytes > MAX_KEY_BYTES) {
    throw new InvalidArgumentError(`lockKey must be 1..${MAX_KEY_BYTES} bytes of UTF-8, got ${bytes} bytes`);
  }
}

/** A prefix or continuation key: at most as long as a key (empty allowed). */
export function validateKeyBound(name: string, bound: string): void {
  const bytes = utf8Length(bound, MAX_KEY_BYTES);
  if (bytes > MAX_KEY_BYTES) throw new InvalidArgumentError(`${name} must be at most ${MAX_KEY_BYTES} bytes of UTF-8, got ${bytes} bytes`);
}

/** The lease length asked for, or the default when absent. */
export function checkTtl(limits: ArgumentLimits, ttlMs: number | undefined): number {
  if (ttlMs === undefined) return limits.defaultTtlMs;
  const { minTtlMs, maxTtlMs, defaultTtlMs } = limits;
  if (!(ttlMs >= minTtlMs && ttlMs <= maxTtlMs)) {
    throw new InvalidArgumentError(`ttlMs must be between ${minTtlMs} and ${maxTtlMs} ms, got ${ttlMs} (omit it for the default ${defaultTtlMs} ms)`);
  }
  return ttlMs;
}

/** The wait asked for: 0 when absent (do not wait), -1 to wait until granted. */
export function checkWait(limits: ArgumentLimits, waitMs: number | undefined): number {
  if (waitMs === undefined) return 0;
  const max = limits.maxWaitMs;
  if (waitMs === -1 || (waitMs >= 0 && waitMs <= max)) return waitMs;
  throw new InvalidArgumentError(`waitMs must be -1 (wait until granted) or 0..${max} ms, got ${waitMs}`);
}

/** The mode asked for; EXCLUSIVE when absent. */
export function checkMode(mode: number | undefined): LockMode {
  if (mode === undefined || mode === LockMode.EXCLUSIVE) return LockMode.EXCLUSIVE;
  if (mode === LockMode.SHARED) return LockMode.SHARED;
  throw new InvalidArgumentError(`mode must be EXCLUSIVE (1) or SHARED (2), got ${mode}`);
}

export function checkOwner(owner: string | undefined): string | undefined {
  if (owner !== undefined) {
    const bytes = utf8Length(owner, MAX_OWNER_BYTES);
    if (bytes > MAX_OWNER_BYTES) throw new InvalidArgumentError(`owner must be at most ${MAX_OWNER_BYTES} bytes, got ${bytes}`);
  }
  return owner;
}

/** The number of keys a list returns: the default for undefined or <= 0. */
export function checkListLimit(limits: ArgumentLimits, limit: number | undefined): number {
  const { defaultListLimit, maxListLimit } = limits;
  if (limit !== undefined && limit > maxListLimit) {
    throw new InvalidArgumentError(`limit must be at most ${maxListLimit}, got ${limit} (<= 0 means the default ${defaultListLimit})`);
  }
  return limit === undefined || limit <= 0 ? defaultListLimit : limit;
}

/** The string's UTF-8 length; its UTF-16 length when that alone proves it is within `max`. */
function utf8Length(text: string, max: number): number {
  // A UTF-16 unit is at most 3 UTF-8 bytes, so short strings need no byte count.
  return text.length * 3 <= max ? text.length : Buffer.byteLength(text, 'utf8');
}
