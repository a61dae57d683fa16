/**
 * lockd with its HTTP listener, as a real child process (see test/helpers/lockd-process.ts),
 * plus small fetch helpers. Ports are picked by lockd (--http-port 0) and read from the
 * `lockd http listening on HOST:PORT` line it prints before its ready line.
 */
import { LockdProcess, startLockd, StartOptions } from '../helpers/lockd-process';
import { parsePromText, PromSample } from '../../src/util/prom-text';

const HTTP_READY = /^lockd http listening on (\S+):(\d+)$/m;

export interface HttpLockd extends LockdProcess {
  /** http://127.0.0.1:PORT */
  readonly http: string;
  readonly httpPort: number;
}

/** Starts lockd (in memory unless ARGS name --data-dir) with --http-port 0 and ARGS. */
export async function startHttpLockd(args: string[] = [], opts: StartOptions = {}): Promise<HttpLockd> {
  const lockd = await startLockd(['--http-port', '0', ...args], opts);
  const match = HTTP_READY.exec(lockd.output());
  if (match === null) throw new Error(`lockd printed no "lockd http listening on" line:\n${lockd.output()}`);
  return Object.assign(lockd, { http: `http://127.0.0.1:${match[2]}`, httpPort: Number(match[2]) });
}

export interface HttpResult {
  status: number;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  json: any;
  text: string;
  headers: Headers;
}

/** One HTTP request; a JSON body when `body` is given. */
export async function call(base: string, method: string, path: string, body?: unknown, init: RequestInit = {}): Promise<HttpResult> {
  const response = await fetch(`${base}${path}`, {
    method,
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(20_000),
    ...init,
  });
  const text = await response.text();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: response.status, json, text, headers: response.headers };
}

/** GET /metrics, parsed. */
export async function scrape(base: string): Promise<PromSample[]> {
  const result = await call(base, 'GET', '/metrics');
  if (result.status !== 200) throw new Error(`GET /metrics answered ${result.status}: ${result.text}`);
  return parsePromText(result.text);
}

/** Polls `check` every 50 ms until it returns true; throws after `timeoutMs` with `what`. */
export async function eventually(check: () => Promise<boolean>, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** A key as a path segment. */
export const k = (key: string) => encodeURIComponent(key);
