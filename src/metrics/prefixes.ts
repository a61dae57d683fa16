/**
 * The prefix a key is counted under in metric labels: its first N '/'-separated segments
 * (--metrics-prefix-depth), and past --metrics-max-prefixes distinct prefixes, "_other". The cap
 * keeps the number of series bounded whatever keys clients invent.
 */

/** The label of keys whose prefix came after the cap was reached. */
export const OTHER_PREFIX = '_other';

export class KeyPrefixes<T> {
  private readonly known = new Map<string, T>();
  /** Keys counted under OTHER_PREFIX because the cap was reached. */
  overflowed = 0;

  constructor(
    private readonly depth: number,
    private readonly maxPrefixes: number,
    private readonly create: (prefix: string) => T,
    /** Called once, the first time a key is folded into OTHER_PREFIX. */
    private readonly onFirstOverflow: (prefix: string) => void,
  ) {}

  /** The first `depth` segments of `key` ("a/b/c" at depth 2: "a/b"; "a" at any depth: "a"). */
  prefixOf(key: string): string {
    let end = -1;
    for (let i = 0; i < this.depth; i++) {
      end = key.indexOf('/', end + 1);
      if (end < 0) return key;
    }
    return key.slice(0, end);
  }

  /** The stats object of `key`'s prefix, creating it while under the cap. */
  statsOf(key: string): T {
    const prefix = this.prefixOf(key);
    const stats = this.known.get(prefix);
    if (stats !== undefined) return stats;
    if (this.known.size < this.maxPrefixes) {
      const created = this.create(prefix);
      this.known.set(prefix, created);
      return created;
    }
    if (this.overflowed++ === 0) this.onFirstOverflow(prefix);
    let other = this.known.get(OTHER_PREFIX);
    if (other === undefined) {
      // _other is one more series beyond the cap, never more.
      other = this.create(OTHER_PREFIX);
      this.known.set(OTHER_PREFIX, other);
    }
    return other;
  }

  /** Distinct labels in use (at most maxPrefixes + 1, counting _other). */
  get size(): number {
    return this.known.size;
  }

  entries(): IterableIterator<[string, T]> {
    return this.known.entries();
  }
}
