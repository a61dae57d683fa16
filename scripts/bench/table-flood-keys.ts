/**
 * Keys chosen to collide under the unkeyed FNV-1a hash lockd's key index used before it was
 * keyed: what an attacker sends to pile keys onto one probe chain. Shared by the table bench's
 * flood scenario and the table tests.
 */

const FNV_OFFSET = 0x811c9dc5;
const FNV_PRIME = 0x01000193;

/** 32-bit FNV-1a of an ASCII string (its UTF-8 bytes are its char codes). */
export function fnv1a(text: string): number {
  let hash = FNV_OFFSET;
  for (let i = 0; i < text.length; i++) hash = Math.imul(hash ^ text.charCodeAt(i), FNV_PRIME);
  return hash | 0;
}

/** FNV_PRIME's inverse modulo 2^32 (Newton's iteration; the prime is odd). */
function inverseOfPrime(): number {
  let inverse = FNV_PRIME;
  for (let i = 0; i < 5; i++) inverse = Math.imul(inverse, 2 - Math.imul(FNV_PRIME, inverse));
  return inverse;
}

/**
 * `count` printable ASCII keys whose FNV-1a hashes agree in their low `bits` bits (at most 16):
 * in a linear-probing table of up to 2^bits buckets they all start at one bucket. Each key is a
 * numbered stem plus two characters: the first is tried, the last is solved for, since FNV-1a's
 * final step (xor a byte, multiply by an odd prime) can be undone modulo 2^bits.
 */
export function fnvCollidingKeys(count: number, bits = 16): string[] {
  if (bits > 16) throw new RangeError(`bits must be at most 16, got ${bits}`);
  const mask = (1 << bits) - 1;
  // The state before the last multiplication must be this, modulo 2^bits.
  const beforeLast = Math.imul(0x1234, inverseOfPrime()) & mask;
  const keys: string[] = [];
  for (let n = 0; keys.length < count; n++) {
    const stem = `flood-${n}-`;
    const base = fnv1a(stem);
    for (let a = 0x21; a < 0x7f && keys.length < count; a++) {
      const afterA = Math.imul(base ^ a, FNV_PRIME) & mask;
      // The last byte changes only the low 8 bits; the rest must already agree.
      const b = afterA ^ beforeLast;
      if (b >= 0x21 && b < 0x7f) keys.push(stem + String.fromCharCode(a, b));
    }
  }
  return keys;
}
