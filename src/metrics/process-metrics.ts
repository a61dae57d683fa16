/**
 * The process metrics an operator needs beside lockd's own (CPU, memory, file descriptors,
 * event-loop lag), under the standard process_* and nodejs_* names, all read at scrape time.
 * prom-client's collectDefaultMetrics also watches every garbage collection through a
 * PerformanceObserver, which costs lockd several percent of CPU at high call rates, so only
 * these are exported.
 */
import { readdirSync } from 'node:fs';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import type { Registry } from 'prom-client';
import { CallbackFamily } from './families';

/** Event-loop delay sampling interval, ms: coarse enough to cost nothing, fine enough to see stalls. */
const LAG_RESOLUTION_MS = 10;

/** Registers the process metrics in `registry`. */
export function registerProcessMetrics(registry: Registry): void {
  const lag = monitorEventLoopDelay({ resolution: LAG_RESOLUTION_MS });
  lag.enable();
  const startSeconds = Math.round(Date.now() / 1000 - process.uptime());
  const gauge = (name: string, help: string, read: () => number) => new CallbackFamily(name, help, 'gauge', () => [{ value: read() }]).registerIn(registry);
  new CallbackFamily('process_cpu_seconds_total', 'User and system CPU time spent, seconds.', 'counter', () => {
    const { user, system } = process.cpuUsage();
    return [{ value: (user + system) / 1e6 }];
  }).registerIn(registry);
  gauge('process_resident_memory_bytes', 'Resident memory size, bytes.', () => process.memoryUsage.rss());
  gauge('process_start_time_seconds', 'Start time of the process since the Unix epoch, seconds.', () => startSeconds);
  gauge('process_open_fds', 'Open file descriptors.', () => {
    try {
      return readdirSync('/proc/self/fd').length;
    } catch {
      return NaN; // not Linux
    }
  });
  gauge('nodejs_heap_size_used_bytes', 'V8 heap in use, bytes.', () => process.memoryUsage().heapUsed);
  gauge('nodejs_heap_size_total_bytes', 'V8 heap reserved, bytes.', () => process.memoryUsage().heapTotal);
  // Lag since the previous scrape: reset after reading, so each scrape shows its own interval.
  let lastRead = { mean: 0, p99: 0, max: 0 };
  const readLag = () => {
    lastRead = { mean: nanToZero(lag.mean) / 1e9, p99: nanToZero(lag.percentile(99)) / 1e9, max: nanToZero(lag.max) / 1e9 };
    lag.reset();
    return lastRead;
  };
  gauge('nodejs_eventloop_lag_p99_seconds', 'Event-loop delay p99 since the previous scrape, seconds.', () => readLag().p99);
  gauge('nodejs_eventloop_lag_mean_seconds', 'Event-loop delay mean since the previous scrape, seconds.', () => lastRead.mean);
  gauge('nodejs_eventloop_lag_max_seconds', 'Event-loop delay max since the previous scrape, seconds.', () => lastRead.max);
}

function nanToZero(value: number): number {
  return Number.isFinite(value) ? value : 0;
}
