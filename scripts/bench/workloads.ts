/**
 * The workloads, as baselines.md defines them: C workers, each on its own persistent connection,
 * loop acquire + release ("a pair"); pairs that complete inside the measured window (after the
 * warm-up) count. Every run is bounded in time (a watchdog) and in iterations.
 */
import type { Driver, LockWorker } from './clients';
import { contention, ContentionSummary, Grant, summarize } from './stats';

/** uncontended: worker i loops on key i; contended: all on one key; mixed: 1,000 keys, Zipf s = 1. */
export type WorkloadName = 'uncontended' | 'contended' | 'mixed';

/** Every workload, in report order. */
export const WORKLOADS: readonly WorkloadName[] = ['uncontended', 'contended', 'mixed'];

/** Keys of the mixed workload and the Zipf exponent over them. */
export const MIXED_KEYS = 1_000;
export const ZIPF_S = 1.0;

/** How long to run. */
export interface Timing {
  warmupMs: number;
  windowMs: number;
  /** After the window, how long workers may take to finish their last pair before they are cut off. */
  graceMs: number;
}

/** One row of the report. */
export interface WorkloadResult {
  target: string;
  workload: WorkloadName;
  concurrency: number;
  windowMs: number;
  pairs: number;
  pairsPerSecond: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  /** Contended only. */
  contention?: ContentionSummary;
  /** Failed calls (a worker stops at its first) and the first message. */
  errors: number;
  firstError?: string;
  /** True when the watchdog cut workers off after the grace period. */
  cutOff: boolean;
}

/** Most pairs one worker runs, whatever the window (a bound on the loop, far above any rate seen). */
const MAX_PAIRS_PER_WORKER = 5_000_000;

/** Samples key indexes 0..n-1 with P(k) ∝ 1/(k+1)^s, by inverse CDF. */
export function zipfSampler(n: number, s: number, random: () => number = Math.random): () => number {
  const cdf = new Float64Array(n);
  let total = 0;
  for (let k = 0; k < n; k++) cdf[k] = total += 1 / (k + 1) ** s;
  return () => {
    const u = random() * total;
    let lo = 0;
    let hi = n - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (cdf[mid] < u) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  };
}

function keyChooser(workload: WorkloadName, worker: number): () => string {
  switch (workload) {
    case 'uncontended': {
      const key = `bench-own-${worker}`;
      return () => key;
    }
    case 'contended':
      return () => 'bench-hot';
    case 'mixed': {
      const next = zipfSampler(MIXED_KEYS, ZIPF_S);
      return () => `bench-zipf-${next()}`;
    }
  }
}

/** Runs one workload at one concurrency and measures it. Workers are connected before the clock starts. */
export async function runWorkload<H>(driver: Driver<H>, workload: WorkloadName, concurrency: number, timing: Timing): Promise<WorkloadResult> {
  const workers: Array<LockWorker<H>> = [];
  try {
    for (let i = 0; i < concurrency; i++) workers.push(await driver.connect());
    return await measure(driver.label, workers, workload, timing);
  } finally {
    await Promise.all(workers.map((worker) => worker.close().catch(() => undefined)));
  }
}

async function measure<H>(label: string, workers: Array<LockWorker<H>>, workload: WorkloadName, timing: Timing): Promise<WorkloadResult> {
  const concurrency = workers.length;
  const latencies: number[] = [];
  const grants: Grant[] = [];
  let errors = 0;
  let firstError: string | undefined;
  const start = performance.now();
  const windowStart = start + timing.warmupMs;
  const windowEnd = windowStart + timing.windowMs;
  let cutOff = false;

  const loop = async (worker: LockWorker<H>, index: number) => {
    const chooseKey = keyChooser(workload, index);
    try {
      for (let n = 0; n < MAX_PAIRS_PER_WORKER && !cutOff && performance.now() < windowEnd; n++) {
        const key = chooseKey();
        const began = performance.now();
        const handle = await worker.acquire(key, windowEnd);
        if (handle === null) break;
        const grant: Grant | undefined = workload === 'contended' ? { worker: index, grantedAt: performance.now() } : undefined;
        if (grant) {
          grants.push(grant);
          grant.releaseSentAt = performance.now();
        }
        await worker.release(key, handle);
        const done = performance.now();
        if (done >= windowStart && done < windowEnd) latencies.push(done - began);
      }
    } catch (error) {
      if (!cutOff) {
        errors++;
        firstError ??= (error as Error).message;
      }
    }
  };

  let watchdog: NodeJS.Timeout | undefined;
  const deadline = new Promise<void>((resolve) => {
    watchdog = setTimeout(() => {
      cutOff = true;
      resolve();
    }, windowEnd + timing.graceMs - performance.now());
  });
  await Promise.race([Promise.all(workers.map(loop)), deadline]);
  clearTimeout(watchdog);

  const pairs = latencies.length;
  const summary = summarize(latencies);
  const result: WorkloadResult = {
    target: label,
    workload,
    concurrency,
    windowMs: timing.windowMs,
    pairs,
    pairsPerSecond: Math.round(pairs / (timing.windowMs / 1000)),
    p50Ms: summary.p50Ms,
    p99Ms: summary.p99Ms,
    maxMs: summary.maxMs,
    errors,
    cutOff,
  };
  if (firstError !== undefined) result.firstError = firstError;
  if (workload === 'contended') result.contention = contention(grants, concurrency, windowStart, windowEnd);
  return result;
}
