/**
 * lockctl's durations: a bare number is seconds (as `flock -w 10` and `consul lock -timeout`),
 * units ms, s, m and h combine (`1m30s`, `1h`, `250ms`, `1.5s`).
 */

const UNIT_MS: Readonly<Record<string, number>> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000 };
const PART = /(\d+(?:\.\d+)?)(ms|s|m|h)/y;

/** Milliseconds of a lockctl duration; undefined when `text` is not one. */
export function parseCliDuration(text: string): number | undefined {
  const trimmed = text.trim();
  if (/^\d+(?:\.\d+)?$/.test(trimmed)) return toMs(Number(trimmed) * 1_000);
  if (trimmed === '') return undefined;
  let total = 0;
  PART.lastIndex = 0;
  while (PART.lastIndex < trimmed.length) {
    const at = PART.lastIndex;
    const match = PART.exec(trimmed);
    if (match === null || match.index !== at) return undefined;
    total += Number(match[1]) * UNIT_MS[match[2]];
  }
  return toMs(total);
}

function toMs(ms: number): number | undefined {
  const rounded = Math.round(ms);
  return Number.isSafeInteger(rounded) ? rounded : undefined;
}

/** Milliseconds the way people read them: "250ms", "30s", "1m30s", "24h". */
export function formatCliDuration(ms: number): string {
  if (ms < 1_000 || ms % 1_000 !== 0) return ms < 1_000 ? `${ms}ms` : `${ms / 1_000}s`;
  let rest = ms / 1_000;
  const h = Math.floor(rest / 3_600);
  rest -= h * 3_600;
  const m = Math.floor(rest / 60);
  const s = rest - m * 60;
  return `${h ? `${h}h` : ''}${m ? `${m}m` : ''}${s ? `${s}s` : ''}`;
}
