/** Parses "500ms", "30s", "5m", "2h" or a bare number of milliseconds; undefined when malformed. */
export function parseDurationMs(text: string): number | undefined {
  const match = /^\s*(-?\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$/.exec(text);
  if (!match) return undefined;
  const value = Number(match[1]);
  const unit = match[2] ?? 'ms';
  const factor = unit === 'ms' ? 1 : unit === 's' ? 1_000 : unit === 'm' ? 60_000 : 3_600_000;
  const ms = Math.round(value * factor);
  return Number.isSafeInteger(ms) ? ms : undefined;
}

/** Formats milliseconds the way parseDurationMs reads them, choosing the largest exact unit. */
export function formatDurationMs(ms: number): string {
  if (ms !== 0 && ms % 3_600_000 === 0) return `${ms / 3_600_000}h`;
  if (ms !== 0 && ms % 60_000 === 0) return `${ms / 60_000}m`;
  if (ms !== 0 && ms % 1_000 === 0) return `${ms / 1_000}s`;
  return `${ms}ms`;
}
