/**
 * The workloads, as baselines.md defines them: C workers, each on its own persistent connection,
 * loop acquire + release ("a pair"); only pairs completed inside the measured window count.
 */
import type { LockWorker, Target } from './targets';

export type WorkloadName = 'uncontended' | 'contended' | 'mixed';

export interface WorkloadResult {
  target: string;
  workload: WorkloadName;
  concurrency: number;
  pairsPerSecond: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  /** Contended only: time from one worker sending its release to another worker's grant. */
  handoffP50Ms?: number;
  handoffP99Ms?: number;
  /** Contended only: the largest share of grants any one worker got (fair: 1/C). */
  maxShare?: number;
  /** Contended only: how often the worker that released took the lock again next. */
  sameWorkerAgain?: number;
}

/** Value at quantile q of sorted numbers. */
export function percentile(sorted: number[], q: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}

/** Keys drawn from a Zipf(s) distribution over `n` keys, by inverse CDF. */
export function zipfKeys(n: number, s: number): () => string {
  const cdf: number[] = [];
  let total = 0;
  for (let k = 1; k <= n; k++) cdf.push((total += 1 / k ** s));
  return () => {
    const u = Math.random() * total;
    let lo = 0;
    let hi = n - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (cdf[mid] < u) lo = mid + 1;
      else hi = mid;
    }
    return `zipf-${lo}`;
  };
}

/** Runs one workload; bounded by warmupMs + windowMs plus one pair per worker. */
export async function runWorkload(target: Target, workload: WorkloadName, concurrency: number, warmupMs: number, windowMs: number): Promise<WorkloadResult> {
  const workers: LockWorker[] = [];
  for (let i = 0; i < concurrency; i++) workers.push(await target.connect());
  const latencies: number[] = [];
  const handoffs: number[] = [];
  const grants = new Array<number>(concurrency).fill(0);
  let sameAgain = 0;
  let contendedGrants = 0;
  let lastReleaseSentAt = 0;
  let lastHolder = -1;
  const zipf = zipfKeys(1_000, 1.0);
  const start = performance.now();
  const windowStart = start + warmupMs;
  const windowEnd = windowStart + windowMs;
  let pairs = 0;
  await Promise.all(
    workers.map(async (worker, index) => {
      while (performance.now() < windowEnd) {
        const key = workload === 'uncontended' ? `bench-${index}` : workload === 'contended' ? 'bench-hot' : zipf();
        const began = performance.now();
        const handle = await worker.acquire(key);
        const granted = performance.now();
        const counting = granted >= windowStart && granted < windowEnd;
        if (workload === 'contended' && counting) {
          contendedGrants++;
          grants[index]++;
          if (lastHolder === index) sameAgain++;
          else if (lastHolder >= 0) handoffs.push(granted - lastReleaseSentAt);
        }
        lastHolder = index;
        lastReleaseSentAt = performance.now();
        await worker.release(key, handle);
        const done = performance.now();
        if (done >= windowStart && done < windowEnd) {
          pairs++;
          latencies.push(done - began);
        }
      }
    }),
  );
  await Promise.all(workers.map((worker) => worker.close()));
  latencies.sort((a, b) => a - b);
  handoffs.sort((a, b) => a - b);
  const result: WorkloadResult = {
    target: target.name,
    workload,
    concurrency,
    pairsPerSecond: Math.round(pairs / (windowMs / 1000)),
    p50Ms: percentile(latencies, 0.5),
    p99Ms: percentile(latencies, 0.99),
    maxMs: latencies[latencies.length - 1] ?? NaN,
  };
  if (workload === 'contended') {
    result.handoffP50Ms = percentile(handoffs, 0.5);
    result.handoffP99Ms = percentile(handoffs, 0.99);
    result.maxShare = contendedGrants > 0 ? Math.max(...grants) / contendedGrants : NaN;
    result.sameWorkerAgain = contendedGrants > 0 ? sameAgain / contendedGrants : NaN;
  }
  return result;
}
