/**
 * The canary: a well-behaved client that keeps doing acquire + release on its own key and a ping,
 * one call after the other on one connection, while an attack runs. It lives in its own process
 * so the attacker's event loop and garbage collector cannot delay it: what it sees is lockd.
 *
 * Parent side: `startCanary(port)`, then `window()` returns what the canary saw since the last
 * call (pairs, p99, errors) and `stop()` ends it. Child side: this file run by node; it reads
 * "window" / "stop" lines on stdin and answers one JSON line per "window".
 */
import { ChildProcess, spawn } from 'node:child_process';
import readline from 'node:readline';
import { percentile } from '../stats';
import { calls, DStruct, fieldOf } from '../../fuzz/lock-service';
import { okValue, RawClient } from './raw-client';

/** A call slower than this counts as an error (and the canary reconnects). */
const CALL_TIMEOUT_MS = 5_000;
/** Lease length the canary asks for. */
const TTL_MS = 30_000;
/** Pause after an error before the canary tries again. */
const RETRY_PAUSE_MS = 100;

/** What the canary saw during one window. */
export interface CanaryWindow {
  /** Completed acquire + release + ping rounds. */
  pairs: number;
  seconds: number;
  pairsPerSecond: number;
  /** p99 of one round (three sequential calls), ms. */
  p99Ms: number;
  maxMs: number;
  /** Calls that failed: refused, timed out, bad reply, connection lost or refused. */
  errors: number;
  firstError: string | undefined;
}

export interface Canary {
  /** What the canary saw since the previous window (or its start). */
  window(): Promise<CanaryWindow>;
  /** Ends the canary process. */
  stop(): Promise<void>;
}

/** Starts the canary process against 127.0.0.1:`port`; resolves once it completed its first round. */
export async function startCanary(port: number): Promise<Canary> {
  const child: ChildProcess = spawn(process.execPath, [__filename, String(port)], { stdio: ['pipe', 'pipe', 'inherit'] });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const lines = readline.createInterface({ input: child.stdout! });
  const waiting: Array<(line: string) => void> = [];
  lines.on('line', (line) => waiting.shift()?.(line));
  const nextLine = () =>
    new Promise<string>((resolve, reject) => {
      waiting.push(resolve);
      void exited.then(() => reject(new Error('the canary process exited')));
    });
  const ready = await nextLine();
  if (ready !== 'ready') throw new Error(`canary: ${ready}`);
  return {
    window: async () => {
      child.stdin!.write('window\n');
      return JSON.parse(await nextLine()) as CanaryWindow;
    },
    stop: async () => {
      child.stdin!.end('stop\n');
      const killer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(killer);
    },
  };
}

// ---- Child side -------------------------------------------------------------------------------

class CanaryLoop {
  private latencies: number[] = [];
  private errors = 0;
  private firstError: string | undefined;
  private windowStart = performance.now();
  private stopping = false;
  private client: RawClient | undefined;
  private keyNumber = 0;

  constructor(private readonly port: number) {}

  async run(onFirstRound: () => void): Promise<void> {
    let first = true;
    while (!this.stopping) {
      try {
        const started = performance.now();
        await this.round();
        this.latencies.push(performance.now() - started);
        if (first) {
          first = false;
          onFirstRound();
        }
      } catch (error) {
        this.errors++;
        this.firstError ??= (error as Error).message;
        this.client?.close();
        this.client = undefined;
        this.keyNumber++; // a lease the lost call may have left behind must not make the next acquire busy
        await new Promise((resolve) => setTimeout(resolve, RETRY_PAUSE_MS));
      }
    }
    this.client?.close();
  }

  /** Takes the counts since the last window. */
  window(): CanaryWindow {
    const now = performance.now();
    const seconds = (now - this.windowStart) / 1000;
    const sorted = this.latencies.sort((a, b) => a - b);
    const result: CanaryWindow = {
      pairs: sorted.length,
      seconds,
      pairsPerSecond: sorted.length / seconds,
      p99Ms: percentile(sorted, 0.99),
      maxMs: sorted.length > 0 ? sorted[sorted.length - 1] : NaN,
      errors: this.errors,
      firstError: this.firstError,
    };
    this.latencies = [];
    this.errors = 0;
    this.firstError = undefined;
    this.windowStart = now;
    return result;
  }

  stop(): void {
    this.stopping = true;
  }

  private async round(): Promise<void> {
    const client = (this.client ??= await RawClient.connect(this.port, undefined, CALL_TIMEOUT_MS));
    const key = `canary/${process.pid}/${this.keyNumber}`;
    const acquired = okValue(await client.call(calls.acquire(client.seqid(), { lockKey: key, ttlMs: TTL_MS, waitMs: 0 }), CALL_TIMEOUT_MS));
    const lease = fieldOf<DStruct>(acquired, 2);
    const token = lease && fieldOf<string>(lease, 2);
    if (fieldOf(acquired, 1) !== true || token === undefined) throw new Error(`canary key ${key} was busy`);
    if (okValue(await client.call(calls.release(client.seqid(), key, token), CALL_TIMEOUT_MS)) !== true) throw new Error('release answered false');
    if (okValue(await client.call(calls.ping(client.seqid()), CALL_TIMEOUT_MS)) !== 'pong') throw new Error('ping did not answer pong');
  }
}

function childMain(port: number): void {
  const loop = new CanaryLoop(port);
  const done = loop.run(() => process.stdout.write('ready\n'));
  const input = readline.createInterface({ input: process.stdin });
  input.on('line', (line) => {
    if (line === 'window') process.stdout.write(`${JSON.stringify(loop.window())}\n`);
  });
  input.on('close', () => {
    loop.stop();
    void done.then(() => process.exit(0));
  });
}

if (require.main === module) childMain(Number(process.argv[2]));
