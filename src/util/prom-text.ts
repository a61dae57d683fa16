/**
 * A reader of the Prometheus text format, for lockctl's summary and tests: samples with their
 * labels, and a histogram quantile computed the way PromQL's histogram_quantile does.
 */

/** One sample line. */
export interface PromSample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

const SAMPLE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+\d+)?$/;
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;

/** Every sample in `text` (comments skipped). Throws on a line that is not a sample. */
export function parsePromText(text: string): PromSample[] {
  const samples: PromSample[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const match = SAMPLE.exec(line);
    if (match === null) throw new Error(`not a Prometheus sample line: ${JSON.stringify(line)}`);
    const labels: Record<string, string> = {};
    for (const [, name, raw] of (match[2] ?? '').matchAll(LABEL)) labels[name] = raw.replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c));
    samples.push({ name: match[1], labels, value: Number(match[3]) });
  }
  return samples;
}

/** Samples of `name` whose labels include `match`. */
export function samplesOf(samples: readonly PromSample[], name: string, match: Record<string, string> = {}): PromSample[] {
  return samples.filter((s) => s.name === name && Object.entries(match).every(([k, v]) => s.labels[k] === v));
}

/** The sum of the samples of `name` matching `match` (0 when there are none). */
export function sumOf(samples: readonly PromSample[], name: string, match: Record<string, string> = {}): number {
  return samplesOf(samples, name, match).reduce((total, s) => total + s.value, 0);
}

/**
 * The q-quantile of histogram `name` over the series matching `match` (their buckets added up),
 * interpolating linearly inside the bucket as histogram_quantile does; undefined without data.
 */
export function histogramQuantile(samples: readonly PromSample[], name: string, q: number, match: Record<string, string> = {}): number | undefined {
  const byBound = new Map<number, number>();
  for (const s of samplesOf(samples, `${name}_bucket`, match)) {
    const bound = s.labels.le === '+Inf' ? Infinity : Number(s.labels.le);
    byBound.set(bound, (byBound.get(bound) ?? 0) + s.value);
  }
  const buckets = [...byBound].sort((a, b) => a[0] - b[0]);
  const total = buckets.length > 0 ? buckets[buckets.length - 1][1] : 0;
  if (total === 0) return undefined;
  const rank = q * total;
  let lowerBound = 0;
  let lowerCount = 0;
  for (const [bound, count] of buckets) {
    if (count >= rank) {
      if (bound === Infinity) return lowerBound;
      return lowerBound + ((bound - lowerBound) * (rank - lowerCount)) / Math.max(1, count - lowerCount);
    }
    lowerBound = bound;
    lowerCount = count;
  }
  return lowerBound;
}
