/**
 * lockctl's operations commands, spoken over lockd's HTTP listener (--http-port): `metrics` (a
 * summary of the busiest and most contended key prefixes), `release --force` (an operator frees
 * a lock, with a reason) and `drain` (stop granting, watch holders finish).
 */
import os from 'node:os';
import { parseAddress } from '../client/options';
import { ConnectionError, errorFromWire, InvalidArgumentError, WireErrorCode } from '../errors';
import { histogramQuantile, parsePromText, PromSample, samplesOf, sumOf } from '../util/prom-text';
import { parseDurationMs } from '../util/duration';

/** lockd's HTTP address when neither --http-addr nor LOCKD_HTTP_ADDR names one (the port the docs suggest for --http-port). */
export const DEFAULT_HTTP_ADDR = '127.0.0.1:9091';
/** How often `drain --wait` asks for progress. */
const DRAIN_POLL_MS = 1_000;
/** How long one HTTP call may take before lockctl gives up on it. */
const HTTP_CALL_TIMEOUT_MS = 10_000;

/** parseArgs options these commands add to lockctl's. */
export const OPS_OPTIONS = {
  'http-addr': { type: 'string' },
  force: { type: 'boolean' },
  reason: { type: 'string' },
  fence: { type: 'string' },
  top: { type: 'string' },
  cancel: { type: 'boolean' },
} as const;

export const OPS_HELP: Record<string, string> = {
  metrics: `usage: lockctl metrics [--top N] [--http-addr host:port]

Summarizes lockd's /metrics: leases, waiters, connections, and the key prefixes with the most
grants and the most contention (average and p99 wait, average hold, expiries). Needs lockd's
HTTP listener (--http-port). --top N rows per list (default 5).
example:
  lockctl --http-addr lockd.internal:9091 metrics --top 10`,
  drain: `usage: lockctl drain [--wait D] [--cancel] [--http-addr host:port]

Starts draining lockd for maintenance: it grants no new leases (callers get UNAVAILABLE
"draining"), refuses parked waits, and lets holders renew and release. Prints the leases still
held. --wait D polls until none is left (exit 1 if some remain after D); --cancel resumes grants.
example:
  lockctl drain --wait 10m && systemctl restart lockd`,
};

/** Extra help for \`release --force\`, appended to release's help. */
export const FORCE_RELEASE_HELP = `
lockctl release <key> --force --reason TEXT [--fence N] [--http-addr host:port]
Frees the lock whatever its holders say (every holder, or only the lease with --fence). Each
holder's next renew is refused with the reason (lockctl run's command then gets SIGTERM), and
lockd logs an audit line. Exit 4 when nothing was held. Needs lockd's HTTP listener.
example:
  lockctl release backups/nightly --force --reason "stuck since the host died; INC-1234"`;

type Values = { [K in keyof typeof OPS_OPTIONS]?: (typeof OPS_OPTIONS)[K]['type'] extends 'boolean' ? boolean : string } & { json?: boolean; wait?: string };

/** How a command's result is printed (lockctl's Output): results to stdout, notes to stderr. */
export interface OpsOutput {
  readonly json: boolean;
  result(human: string, json: unknown): void;
  note(message: string): void;
}

/** Thrown for bad flags (lockctl maps it to a usage error). */
export class OpsUsageError extends Error {
  readonly code = 'LOCKCTL_USAGE';
}

/** Runs `metrics`, `drain` or `release --force`; resolves to lockctl's exit code (0 done, 1 not done in time, 4 nothing to release). */
export async function runOpsCommand(command: 'metrics' | 'drain' | 'force-release', values: Values, key: string | undefined, out: OpsOutput): Promise<number> {
  const http = new OpsHttp(values['http-addr'] ?? process.env.LOCKD_HTTP_ADDR ?? DEFAULT_HTTP_ADDR);
  switch (command) {
    case 'metrics':
      return showMetrics(http, count(values.top, 'top', 5), out);
    case 'drain':
      return drain(http, values, out);
    case 'force-release':
      if (key === undefined) throw new OpsUsageError('release --force needs a key');
      if (values.reason === undefined || values.reason.trim() === '') throw new OpsUsageError('release --force needs --reason "why" (the holder and the audit log see it)');
      return forceRelease(http, key, values.reason, values.fence === undefined ? undefined : count(values.fence, 'fence', 0), out);
  }
}

/** A tiny JSON-over-HTTP client for lockd's admin routes. */
class OpsHttp {
  private readonly base: string;
  constructor(address: string) {
    const { host, port } = parseAddress(address);
    this.base = `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
  }

  async call(method: string, path: string, body?: unknown): Promise<{ status: number; json: unknown; text: string }> {
    let response: Response;
    try {
      response = await fetch(`${this.base}${path}`, {
        method,
        headers: body === undefined ? {} : { 'content-type': 'application/json' },
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(HTTP_CALL_TIMEOUT_MS),
      });
    } catch (error) {
      throw new ConnectionError(`cannot reach lockd's HTTP listener at ${this.base} (${(error as Error).cause ?? (error as Error).message}); is lockd started with --http-port, and is --http-addr right?`, { cause: error });
    }
    const text = await response.text();
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      json = undefined;
    }
    if (response.status >= 400) {
      // The body's code is a LockError code for refusals: the same typed error as over Thrift.
      const error = (json as { error?: { code?: string; message?: string } } | undefined)?.error;
      const message = `${method} ${path}: ${response.status} ${error?.message ?? text}`;
      const wire = WireErrorCode[error?.code as keyof typeof WireErrorCode];
      throw wire === undefined ? new InvalidArgumentError(message) : errorFromWire(wire, message);
    }
    return { status: response.status, json, text };
  }
}

function count(text: string | undefined, name: string, fallback: number): number {
  if (text === undefined) return fallback;
  const n = Number(text);
  if (!/^\d+$/.test(text) || !Number.isSafeInteger(n)) throw new OpsUsageError(`--${name} ${JSON.stringify(text)} is not a whole number`);
  return n;
}

/** One prefix's row in the summary. */
interface PrefixRow {
  prefix: string;
  grants: number;
  contended: number;
  waits: number;
  waitAvgSeconds: number | undefined;
  waitP99Seconds: number | undefined;
  holdAvgSeconds: number | undefined;
  expiries: number;
}

/** Rows per prefix from a scrape. */
export function prefixRows(samples: readonly PromSample[]): PrefixRow[] {
  const prefixes = new Set(samplesOf(samples, 'lockd_grants_total').map((s) => s.labels.prefix));
  return [...prefixes].map((prefix) => {
    const match = { prefix };
    const waits = sumOf(samples, 'lockd_wait_seconds_count', match);
    const holds = sumOf(samples, 'lockd_hold_seconds_count', match);
    return {
      prefix,
      grants: sumOf(samples, 'lockd_grants_total', match),
      contended: sumOf(samples, 'lockd_contended_acquires_total', match),
      waits,
      waitAvgSeconds: waits > 0 ? sumOf(samples, 'lockd_wait_seconds_sum', match) / waits : undefined,
      waitP99Seconds: histogramQuantile(samples, 'lockd_wait_seconds', 0.99, match),
      holdAvgSeconds: holds > 0 ? sumOf(samples, 'lockd_hold_seconds_sum', match) / holds : undefined,
      expiries: sumOf(samples, 'lockd_expiries_total', match),
    };
  });
}

async function showMetrics(http: OpsHttp, top: number, out: OpsOutput): Promise<number> {
  const { text } = await http.call('GET', '/metrics');
  const samples = parsePromText(text);
  const rows = prefixRows(samples);
  const busiest = [...rows].sort((a, b) => b.grants - a.grants).slice(0, top);
  const contended = [...rows].filter((r) => r.contended > 0).sort((a, b) => b.contended - a.contended || (b.waitAvgSeconds ?? 0) - (a.waitAvgSeconds ?? 0)).slice(0, top);
  const totals = {
    leases: sumOf(samples, 'lockd_leases'),
    waiters: sumOf(samples, 'lockd_waiters'),
    connections: sumOf(samples, 'lockd_connections'),
    httpWaits: sumOf(samples, 'lockd_http_waits'),
    draining: sumOf(samples, 'lockd_draining') > 0,
    expiries: sumOf(samples, 'lockd_lease_ends_total', { reason: 'expired' }),
    refusals: sumOf(samples, 'lockd_refusals_total'),
    syncP99Seconds: histogramQuantile(samples, 'lockd_store_sync_seconds', 0.99),
  };
  if (out.json) {
    out.result('', { ...totals, busiest, contended });
    return 0;
  }
  const lines = [
    `lockd: ${totals.leases} leases, ${totals.waiters} waiting, ${totals.connections} connections, ${totals.httpWaits} HTTP waits${totals.draining ? ', DRAINING' : ''}`,
    `       ${totals.expiries} expiries, ${totals.refusals} refusals${totals.syncP99Seconds === undefined ? '' : `, store sync p99 ${seconds(totals.syncP99Seconds)}`}`,
    '',
    'busiest prefixes (by grants):',
    ...table(busiest),
    '',
    'most contended prefixes (acquires that found the lock held):',
    ...(contended.length === 0 ? ['  none'] : table(contended)),
  ];
  out.result(lines.join('\n'), undefined);
  return 0;
}

function table(rows: PrefixRow[]): string[] {
  const header = ['prefix', 'grants', 'contended', 'waits', 'avg wait', 'p99 wait', 'avg hold', 'expiries'];
  const cells = rows.map((r) => [r.prefix, String(r.grants), String(r.contended), String(r.waits), seconds(r.waitAvgSeconds), seconds(r.waitP99Seconds), seconds(r.holdAvgSeconds), String(r.expiries)]);
  const widths = header.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i].length)));
  const line = (c: string[]) => `  ${c.map((v, i) => (i === 0 ? v.padEnd(widths[i]) : v.padStart(widths[i]))).join('  ')}`;
  return [line(header), ...cells.map(line)];
}

function seconds(value: number | undefined): string {
  if (value === undefined) return '-';
  return value < 1 ? `${(value * 1000).toFixed(1)}ms` : `${value.toFixed(2)}s`;
}

async function forceRelease(http: OpsHttp, key: string, reason: string, fence: number | undefined, out: OpsOutput): Promise<number> {
  const operator = `${os.userInfo().username}@${os.hostname()}`;
  const { json } = await http.call('POST', `/v1/admin/locks/${encodeURIComponent(key)}/force-release`, { reason, fence, operator });
  const result = json as { key: string; released: Array<{ owner?: string; fence: number; mode: string }> };
  if (result.released.length === 0) {
    out.note(`nothing released: no lease on ${JSON.stringify(key)}${fence === undefined ? '' : ` with fence ${fence}`}`);
    if (out.json) out.result('', result);
    return 4;
  }
  const what = result.released.map((l) => `fence ${l.fence} (${l.mode}${l.owner === undefined ? '' : `, owner ${l.owner}`})`).join(', ');
  out.result(`force-released ${key}: ${what}`, result);
  return 0;
}

type DrainJson = { draining: boolean; since?: string; leases: number; waiters: number; done: boolean };

async function drain(http: OpsHttp, values: Values, out: OpsOutput): Promise<number> {
  if (values.cancel) {
    const { json } = await http.call('DELETE', '/v1/admin/drain');
    out.result('drain cancelled: lockd grants new leases again', json);
    return 0;
  }
  let status = (await http.call('POST', '/v1/admin/drain')).json as DrainJson;
  const describe = (s: DrainJson) => `draining since ${s.since}: ${s.leases} leases still held${s.done ? ' (done: safe to stop lockd)' : ''}`;
  if (values.wait === undefined) {
    out.result(describe(status), status);
    return 0;
  }
  const waitMs = parseDurationMs(values.wait);
  if (waitMs === undefined || waitMs < 0) throw new OpsUsageError(`--wait ${JSON.stringify(values.wait)} is not a duration such as 30s or 10m`);
  const deadline = Date.now() + waitMs;
  let shown = -1;
  while (!status.done && Date.now() < deadline) {
    if (status.leases !== shown && !out.json) out.note(describe(status));
    shown = status.leases;
    await new Promise((resolve) => setTimeout(resolve, Math.min(DRAIN_POLL_MS, Math.max(0, deadline - Date.now()))));
    status = (await http.call('GET', '/v1/admin/drain')).json as DrainJson;
  }
  out.result(describe(status), status);
  return status.done ? 0 : 1;
}
