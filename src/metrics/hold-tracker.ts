/**
 * When each live lease was granted, by fence, for hold times. A Map set and delete per lease
 * costs more than the rest of the metrics together, so recent grants live in typed arrays
 * indexed by fence modulo the window (fences only grow); the rare lease still held when its
 * entry is needed again moves to a Map. Memory is fixed: about 20 bytes x WINDOW.
 */

/** Entries in the fast window: a lease outliving this many later grants moves to the Map. */
const WINDOW = 1 << 16;
/**
 * fence & MASK is fence modulo WINDOW for every safe integer: bitwise operators take the value
 * modulo 2^32 first, and 2^32 is a multiple of WINDOW. Cheaper than % on a double.
 */
const MASK = WINDOW - 1;

export class HoldTracker<T> {
  private readonly fences = new Float64Array(WINDOW);
  private readonly startedAt = new Float64Array(WINDOW);
  private readonly tags: Array<T | undefined> = new Array(WINDOW).fill(undefined);
  private readonly longHeld = new Map<number, { startedAt: number; tag: T }>();
  /** Start time of the lease `end` last returned a tag for. */
  endedStartedAt = 0;

  /** Remembers that the lease with `fence` began at `startedAtMs`, with `tag` (its prefix's stats). */
  start(fence: number, startedAtMs: number, tag: T): void {
    const i = fence & MASK;
    const previous = this.fences[i];
    if (previous !== 0) this.longHeld.set(previous, { startedAt: this.startedAt[i], tag: this.tags[i] as T });
    this.fences[i] = fence;
    this.startedAt[i] = startedAtMs;
    this.tags[i] = tag;
  }

  /** Forgets the lease with `fence`; returns its tag (and sets endedStartedAt), or undefined if it was never started here. */
  end(fence: number): T | undefined {
    const i = fence & MASK;
    if (this.fences[i] === fence) {
      this.fences[i] = 0;
      this.endedStartedAt = this.startedAt[i];
      const tag = this.tags[i];
      this.tags[i] = undefined;
      return tag;
    }
    if (this.longHeld.size === 0) return undefined;
    const held = this.longHeld.get(fence);
    if (held === undefined) return undefined;
    this.longHeld.delete(fence);
    this.endedStartedAt = held.startedAt;
    return held.tag;
  }

  /** Leases tracked in the Map because they outlived their window entry. */
  get longHeldCount(): number {
    return this.longHeld.size;
  }
}
