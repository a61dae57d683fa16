/**
 * Metric families whose values live in plain numbers and typed arrays, read by prom-client only
 * when /metrics is scraped. prom-client's own Counter and Histogram hash their label object on
 * every update (about a microsecond); lockd updates counters on every lock call, so the hot path
 * writes to a field and the cost moves to the scrape.
 */
import type { Metric, Registry } from 'prom-client';

type Labels = Record<string, string>;

/** One sample line: `metricName{labels} value` (metricName defaults to the family's name). */
interface Sample {
  metricName?: string;
  labels: Labels;
  value: number;
}

/** A family prom-client's registry can scrape: the shape its own metric classes have. */
abstract class Family {
  abstract readonly type: 'counter' | 'gauge' | 'histogram';
  readonly aggregator = 'sum' as const;
  constructor(
    readonly name: string,
    readonly help: string,
  ) {}

  abstract values(): Sample[];

  /** What prom-client's registry reads at each scrape. */
  async get(): Promise<{ name: string; help: string; type: string; aggregator: string; values: Sample[] }> {
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values: this.values() };
  }

  /** Values restart only with the process; prom-client calls this from registry.resetMetrics(). */
  reset(): void {}

  /** Adds this family to `registry`. */
  registerIn(registry: Registry): this {
    // The registry accepts any object with prom-client's metric shape; its type lists only its own classes.
    registry.registerMetric(this as unknown as Metric);
    return this;
  }
}

/** A counter or gauge whose samples a callback reads at scrape time. */
export class CallbackFamily extends Family {
  constructor(
    name: string,
    help: string,
    readonly type: 'counter' | 'gauge',
    private readonly read: () => Iterable<{ labels?: Labels; value: number }>,
  ) {
    super(name, help);
  }

  values(): Sample[] {
    return [...this.read()].map(({ labels, value }) => ({ labels: labels ?? {}, value }));
  }
}

/** Bucket counts of one label set: counts[i] observations <= bounds[i], the last is +Inf. */
export class Buckets {
  readonly counts: Float64Array;
  sum = 0;
  constructor(private readonly bounds: readonly number[]) {
    this.counts = new Float64Array(bounds.length + 1);
  }

  observe(value: number): void {
    const bounds = this.bounds;
    let i = 0;
    while (i < bounds.length && value > bounds[i]) i++;
    this.counts[i]++;
    this.sum += value;
  }

  get count(): number {
    let total = 0;
    for (const c of this.counts) total += c;
    return total;
  }
}

/** A histogram family over label sets the caller keeps (a Buckets each). */
export class HistogramFamily extends Family {
  readonly type = 'histogram' as const;
  constructor(
    name: string,
    help: string,
    readonly bounds: readonly number[],
    private readonly read: () => Iterable<{ labels: Labels; buckets: Buckets }>,
  ) {
    super(name, help);
  }

  /** Empty buckets with this family's bounds. */
  buckets(): Buckets {
    return new Buckets(this.bounds);
  }

  values(): Sample[] {
    const out: Sample[] = [];
    for (const { labels, buckets } of this.read()) {
      let cumulative = 0;
      for (let i = 0; i <= this.bounds.length; i++) {
        cumulative += buckets.counts[i];
        const le = i < this.bounds.length ? String(this.bounds[i]) : '+Inf';
        out.push({ metricName: `${this.name}_bucket`, labels: { ...labels, le }, value: cumulative });
      }
      out.push({ metricName: `${this.name}_sum`, labels, value: buckets.sum });
      out.push({ metricName: `${this.name}_count`, labels, value: cumulative });
    }
    return out;
  }
}
