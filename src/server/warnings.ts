/**
 * Warnings about abuse and limits (a slow reader paused, a connection refused, a timeout), at
 * most one line per kind every few seconds, each saying how many more of that kind it stood for:
 * a flood of bad clients must not become a flood of log lines.
 */
import type winston from 'winston';

/** One line per kind at most this often. */
const WARN_INTERVAL_MS = 10_000;

interface KindState {
  loggedAt: number;
  suppressed: number;
}

export class RateLimitedWarnings {
  private readonly kinds = new Map<string, KindState>();

  constructor(
    private readonly logger: winston.Logger,
    private readonly now: () => number = Date.now,
  ) {}

  /** Logs `message` unless a line of this kind went out within the interval; then counts it. */
  warn(kind: string, message: string, meta: Record<string, unknown>): void {
    const now = this.now();
    const state = this.kinds.get(kind);
    if (state !== undefined && now - state.loggedAt < WARN_INTERVAL_MS) {
      state.suppressed++;
      return;
    }
    const suppressed = state?.suppressed ?? 0;
    this.kinds.set(kind, { loggedAt: now, suppressed: 0 });
    this.logger.warn(message, { kind, ...meta, ...(suppressed > 0 && { alsoSinceLastLine: suppressed }) });
  }
}
