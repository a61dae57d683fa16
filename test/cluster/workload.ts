/**
 * Load for the cluster tests that writes a history for the checker (checker.ts): W workers, each
 * with its own connection to one node of the cluster (worker w starts on node w mod N), loop
 * acquire (exclusive or shared, with a wait) → checkFence → sometimes inspect → hold (sometimes
 * long, renewing) → release, recording every call with its invoke and ack time. A worker whose
 * connection fails reconnects to the next running, unpaused node. Bounded: stop() ends it.
 */
import { NotHolderError } from '../../src/errors';
import type { ThriftConnection } from '../../src/client/thrift-connection';
import { call, connectTo, type LockdCluster } from '../helpers/cluster';
import type { Mode, OpRecord } from './checker';

export interface WorkloadOptions {
  keys: readonly string[];
  workers: number;
  /** Lease TTL; default 3000 ms. */
  ttlMs?: number;
  /** acquire's waitMs; default 2000 ms. */
  waitMs?: number;
  /** Share of acquires in shared mode; default 0.2. */
  sharedRatio?: number;
  /** Share of grants held long (about ttlMs, renewed half-way); default 0.1. */
  longHoldRatio?: number;
  /** Per-call timeout; default 15 s (a forwarded call may wait out a failover: node TTL + 4 s, plus waitMs). */
  callTimeoutMs?: number;
  /** Seed of the workers' choices. */
  seed: number;
}

/** mulberry32: a small seeded generator, so a failing run's choices can be replayed. */
export function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export class Workload {
  readonly records: OpRecord[] = [];
  /** Acknowledged grants per key. */
  readonly grantsByKey = new Map<string, number>();
  /** Errors per message prefix, for reports. */
  readonly errors = new Map<string, number>();
  private running = true;
  private readonly loops: Promise<void>[] = [];
  private readonly connections = new Set<ThriftConnection>();
  private readonly waiters = new Set<() => void>();

  constructor(private readonly cluster: LockdCluster, private readonly options: WorkloadOptions) {}

  start(): this {
    for (let w = 0; w < this.options.workers; w++) this.loops.push(this.worker(w));
    return this;
  }

  /** Acknowledged grants on `key` (all keys if omitted). */
  grants(key?: string): number {
    if (key !== undefined) return this.grantsByKey.get(key) ?? 0;
    let total = 0;
    for (const n of this.grantsByKey.values()) total += n;
    return total;
  }

  /** Resolves once `count` more grants (on `key`, or any) were acknowledged; rejects after `timeoutMs`. */
  async progress(count: number, timeoutMs: number, key?: string): Promise<void> {
    const target = this.grants(key) + count;
    const deadline = Date.now() + timeoutMs;
    await new Promise<void>((resolve, reject) => {
      const check = () => {
        if (this.grants(key) >= target) done();
        else if (Date.now() > deadline) done(new Error(`no progress: ${this.grants(key)} of ${target} grants${key ? ` on ${key}` : ''} within ${timeoutMs} ms; errors ${JSON.stringify([...this.errors])}`));
      };
      const timer = setInterval(check, 100);
      const done = (error?: Error) => {
        clearInterval(timer);
        this.waiters.delete(check);
        if (error) reject(error);
        else resolve();
      };
      this.waiters.add(check);
      check();
    });
  }

  /** Stops every worker after its current call and closes the connections. */
  async stop(): Promise<void> {
    this.running = false;
    await Promise.all(this.loops);
    for (const c of this.connections) c.close();
  }

  private noteError(error: unknown): string {
    const text = error instanceof Error ? `${error.constructor.name}: ${error.message}` : String(error);
    const prefix = text.slice(0, 60);
    this.errors.set(prefix, (this.errors.get(prefix) ?? 0) + 1);
    return text;
  }

  private async worker(w: number): Promise<void> {
    const o = this.options;
    const random = seeded(o.seed * 7919 + w);
    const ttlMs = o.ttlMs ?? 3_000;
    const waitMs = o.waitMs ?? 2_000;
    const timeout = o.callTimeoutMs ?? 15_000;
    const client = `w${w}`;
    let nodeIndex = w % this.cluster.nodes.length;
    let connection: ThriftConnection | undefined;

    /** One recorded call; returns the value or undefined on error (the connection is dropped then). */
    const record = async <T>(make: () => Promise<T>, toRecord: (invokeAt: number, ackAt: number, value: T | undefined, error: unknown) => OpRecord): Promise<{ value?: T; error?: unknown }> => {
      const invokeAt = Date.now();
      try {
        const value = await make();
        this.records.push(toRecord(invokeAt, Date.now(), value, undefined));
        return { value };
      } catch (error) {
        this.records.push(toRecord(invokeAt, Date.now(), undefined, error));
        return { error };
      }
    };

    while (this.running) {
      if (!connection) {
        // The next running, unpaused node (a paused one would only hang the worker).
        const nodes = this.cluster.nodes;
        let found = -1;
        for (let step = 0; step < nodes.length && found < 0; step++) {
          const i = (nodeIndex + step) % nodes.length;
          if (nodes[i].process && !nodes[i].paused) found = i;
        }
        if (found < 0) {
          await pause(100);
          continue;
        }
        nodeIndex = found;
        try {
          connection = await connectTo(nodes[found].port);
          this.connections.add(connection);
        } catch (error) {
          this.noteError(error);
          nodeIndex++;
          await pause(100);
          continue;
        }
      }
      const conn = connection;
      const node = this.cluster.nodes[nodeIndex].nodeId;
      const drop = (error: unknown) => {
        // Errors that are answers (not holder, timeouts of a wait) keep the connection.
        if (error instanceof NotHolderError) return;
        this.noteError(error);
        conn.close();
        this.connections.delete(conn);
        connection = undefined;
        nodeIndex++;
      };

      const key = o.keys[Math.floor(random() * o.keys.length)];
      const mode: Mode = random() < (o.sharedRatio ?? 0.2) ? 'shared' : 'exclusive';
      const acquired = await record(
        () => call(conn, 'acquire', { lockKey: key, ttlMs, waitMs, mode: mode === 'shared' ? 2 : 1, owner: client }, timeout).reply,
        (invokeAt, ackAt, value, error) => ({
          op: 'acquire', client, node, key, mode, invokeAt, ackAt,
          outcome: error !== undefined ? { kind: 'error', error: String(error) } : value!.acquired ? { kind: 'granted', token: value!.lease!.token, fence: value!.lease!.fence, expiresAtMs: value!.lease!.expiresAtMs } : { kind: 'refused' },
        }),
      );
      if (acquired.error !== undefined) {
        drop(acquired.error);
        continue;
      }
      const lease = acquired.value!.lease;
      if (!acquired.value!.acquired || !lease) continue;
      this.grantsByKey.set(key, (this.grantsByKey.get(key) ?? 0) + 1);
      for (const check of this.waiters) check();
      const { token, fence } = lease;

      const checked = await record(
        () => call(conn, 'checkFence', { key, fence }, timeout).reply,
        (invokeAt, ackAt, valid, error) => ({ op: 'checkFence', client, node, key, fence, invokeAt, ackAt, outcome: error !== undefined ? { kind: 'error', error: String(error) } : { kind: 'ok', valid: valid! } }),
      );
      if (checked.error !== undefined) {
        drop(checked.error);
        continue;
      }
      if (random() < 0.3) {
        const inspected = await record(
          () => call(conn, 'inspect', { key }, timeout).reply,
          (invokeAt, ackAt, info, error) => ({ op: 'inspect', client, node, key, invokeAt, ackAt, outcome: error !== undefined ? { kind: 'error', error: String(error) } : { kind: 'ok', fences: info!.holders.map((h) => h.fence) } }),
        );
        if (inspected.error !== undefined) {
          drop(inspected.error);
          continue;
        }
      }
      if (random() < (o.longHoldRatio ?? 0.1)) {
        await pause(ttlMs / 2);
        const renewed = await record(
          () => call(conn, 'renew', { key, token, ttlMs }, timeout).reply,
          (invokeAt, ackAt, value, error) => ({
            op: 'renew', client, node, key, token, invokeAt, ackAt,
            outcome: error instanceof NotHolderError ? { kind: 'notHolder' } : error !== undefined ? { kind: 'error', error: String(error) } : { kind: 'ok', expiresAtMs: value!.expiresAtMs },
          }),
        );
        if (renewed.error !== undefined) {
          drop(renewed.error);
          continue;
        }
        await pause(ttlMs / 4);
      } else {
        await pause(Math.floor(random() * 10));
      }
      const released = await record(
        () => call(conn, 'release', { key, token }, timeout).reply,
        (invokeAt, ackAt, value, error) => ({ op: 'release', client, node, key, token, invokeAt, ackAt, outcome: error !== undefined ? { kind: 'error', error: String(error) } : { kind: 'ok', released: value! } }),
      );
      if (released.error !== undefined) drop(released.error);
    }
  }
}

function pause(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
