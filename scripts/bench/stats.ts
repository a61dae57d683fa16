/** Percentiles, latency summaries, and the hand-off and fairness figures of a contended run. */

/** Nearest-rank value at quantile q (0..1] of ascending numbers; NaN when there are none. */
export function percentile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return NaN;
  const rank = Math.ceil(q * sorted.length);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))];
}

/** Median of numbers in any order; NaN when there are none. */
export function median(values: readonly number[]): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/** p50, p99 and max of a set of latencies, in ms. */
export interface LatencySummary {
  count: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
}

/** Summarizes latencies in ms (sorts `values` in place). */
export function summarize(values: number[]): LatencySummary {
  values.sort((a, b) => a - b);
  return { count: values.length, p50Ms: percentile(values, 0.5), p99Ms: percentile(values, 0.99), maxMs: values.length > 0 ? values[values.length - 1] : NaN };
}

/** One grant of the contended key, in the order the load process saw the grants. */
export interface Grant {
  worker: number;
  /** performance.now() when the grant reached the worker. */
  grantedAt: number;
  /** performance.now() when the worker sent its release. */
  releaseSentAt?: number;
}

/** Hand-off and fairness of one contended run. */
export interface ContentionSummary {
  /** Grants inside the window. */
  grants: number;
  /**
   * From one worker sending its release to the next grant reaching another worker: what a
   * waiter sees (one trip to the server and one back).
   */
  handoff: LatencySummary;
  /** Each worker's share of the window's grants (fair: 1/C each). */
  shares: number[];
  maxShare: number;
  minShare: number;
  /** Fraction of grants that went to the worker that held the lock just before. */
  sameWorkerAgain: number;
}

/** Computes hand-off and fairness from the grants in order; counts those granted in [from, to). */
export function contention(grants: readonly Grant[], workers: number, from: number, to: number): ContentionSummary {
  const handoffs: number[] = [];
  const perWorker = new Array<number>(workers).fill(0);
  let counted = 0;
  let same = 0;
  for (let i = 0; i < grants.length; i++) {
    const grant = grants[i];
    if (grant.grantedAt < from || grant.grantedAt >= to) continue;
    counted++;
    perWorker[grant.worker]++;
    const previous = i > 0 ? grants[i - 1] : undefined;
    if (previous === undefined) continue;
    if (previous.worker === grant.worker) {
      same++;
    } else if (previous.releaseSentAt !== undefined) {
      handoffs.push(grant.grantedAt - previous.releaseSentAt);
    }
  }
  const shares = perWorker.map((n) => (counted > 0 ? n / counted : NaN));
  return {
    grants: counted,
    handoff: summarize(handoffs),
    shares,
    maxShare: counted > 0 ? Math.max(...shares) : NaN,
    minShare: counted > 0 ? Math.min(...shares) : NaN,
    sameWorkerAgain: counted > 0 ? same / counted : NaN,
  };
}
