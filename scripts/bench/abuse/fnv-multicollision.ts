/**
 * Keys that all share one 32-bit FNV-1a hash (the unkeyed hash lockd's key index used), built
 * offline by Joux's multicollision: find two 6-character blocks that take the hash state to the
 * same value, then two more from that state, and so on; k such pairs give 2^k keys (pick one
 * block of each pair) whose hashes are all equal. Each pair costs a birthday search of ~2^16
 * blocks, so 18 pairs (262,144 keys) take well under a second.
 */
import { Rng } from '../../fuzz/rng';

const FNV_OFFSET = 0x811c9dc5;
const FNV_PRIME = 0x01000193;
const BLOCK_CHARS = 6;
const ALPHABET = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';

/** FNV-1a 32-bit of a string's UTF-8 bytes, from `state` (the offset basis by default), as uint32. */
export function fnv1a(text: string, state = FNV_OFFSET): number {
  let hash = state;
  for (const byte of Buffer.from(text, 'utf8')) hash = Math.imul(hash ^ byte, FNV_PRIME);
  return hash >>> 0;
}

function randomText(random: Rng, length: number): string {
  let text = '';
  for (let i = 0; i < length; i++) text += ALPHABET[random.int(ALPHABET.length)];
  return text;
}

/** The 6-character block numbered `n` (base 62 digits of n). */
function blockOf(n: number): string {
  let text = '';
  for (let i = 0; i < BLOCK_CHARS; i++) {
    text += ALPHABET[n % ALPHABET.length];
    n = Math.floor(n / ALPHABET.length);
  }
  return text;
}

/** The state after feeding block `n` to FNV-1a from `state`, without building the string. */
function stepBlock(state: number, n: number): number {
  let hash = state;
  for (let i = 0; i < BLOCK_CHARS; i++) {
    hash = Math.imul(hash ^ ALPHABET.charCodeAt(n % ALPHABET.length), FNV_PRIME);
    n = Math.floor(n / ALPHABET.length);
  }
  return hash >>> 0;
}

/** Two different blocks taking `state` to the same next state (a birthday search). */
function collidingPair(state: number, random: Rng): [string, string, number] {
  const seen = new Map<number, number>();
  const blocks = ALPHABET.length ** BLOCK_CHARS;
  for (;;) {
    const n = random.int(blocks);
    const next = stepBlock(state, n);
    const earlier = seen.get(next);
    if (earlier !== undefined && earlier !== n) return [blockOf(earlier), blockOf(n), next];
    seen.set(next, n);
  }
}

const stagesFor = (count: number) => Math.max(1, Math.ceil(Math.log2(count)));

/** The length (in characters) of the keys collidingKeys(prefix, count) returns. */
export function collidingKeyLength(prefix: string, count: number): number {
  return prefix.length + BLOCK_CHARS * stagesFor(count);
}

/** `count` distinct keys starting with `prefix`, all with the same FNV-1a 32-bit hash. */
export function collidingKeys(prefix: string, count: number, seed = 1): string[] {
  const random = new Rng(seed);
  const stages = stagesFor(count);
  const pairs: Array<[string, string]> = [];
  let state = fnv1a(prefix);
  for (let i = 0; i < stages; i++) {
    const [a, b, next] = collidingPair(state, random);
    pairs.push([a, b]);
    state = next;
  }
  const keys: string[] = [];
  for (let n = 0; n < count; n++) {
    let key = prefix;
    for (let i = 0; i < stages; i++) key += pairs[i][(n >>> i) & 1];
    keys.push(key);
  }
  return keys;
}

/** `count` keys of random characters, `length` characters long, starting with `prefix`. */
export function randomKeys(prefix: string, count: number, length: number, seed = 2): string[] {
  const random = new Rng(seed);
  return Array.from({ length: count }, () => prefix + randomText(random, length - prefix.length));
}
