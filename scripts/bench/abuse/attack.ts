/**
 * What an attack is, and the few tools attacks share (many sockets at once, leases held in bulk).
 * Each attack module exports Attack values; abuse.ts runs each one against a fresh lockd beside
 * the canary and prints one table row per attack. An attack is bounded in time and in count.
 */
import net from 'node:net';
import { calls, DStruct, fieldOf, LockRequestArgs } from '../../fuzz/lock-service';
import type { LockdUnderTest } from './lockd';
import { RawClient } from './raw-client';

/** What an attack gets to work with. */
export interface AttackContext {
  readonly lockd: LockdUnderTest;
  readonly port: number;
  /** Tiny sizes for a smoke run. */
  readonly quick: boolean;
  /** `full` normally, `quick` in a smoke run. */
  size(full: number, quick: number): number;
  /** How long an attack keeps its pressure on (10 s; 1 s in a smoke run). */
  readonly holdMs: number;
}

export interface Attack {
  /** Short id for --only, e.g. "D1-60". */
  readonly id: string;
  /** The row label. */
  readonly label: string;
  /** lockd flags beyond the defaults (the notes say so). */
  readonly lockdArgs?: readonly string[];
  /** Sets the stage before the canary's baseline (e.g. holds leases). */
  prepare?(ctx: AttackContext): Promise<void>;
  /** Runs the attack to its bound while the canary measures; resolves with the row's notes. */
  run(ctx: AttackContext): Promise<string>;
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Sockets an attack opened, and how many of them lockd closed before the attack let go. */
export class SocketSwarm {
  readonly sockets: net.Socket[] = [];
  /** Connection attempts that failed (refused, reset before connecting, timed out). */
  failed = 0;
  /** Sockets lockd closed (or reset) while the attack still held them. */
  closedByLockd = 0;
  /** Bytes lockd sent on these sockets. */
  bytesReceived = 0;
  private releasing = false;

  /** Opens `count` connections, `parallel` attempts at a time; resolves once all attempts ended. */
  async open(port: number, count: number, parallel = 200, onConnect?: (socket: net.Socket, index: number) => void): Promise<void> {
    let next = 0;
    const worker = async () => {
      while (next < count) {
        const index = next++;
        const socket = await this.connectOne(port);
        if (socket) onConnect?.(socket, index);
      }
    };
    await Promise.all(Array.from({ length: Math.min(parallel, count) }, worker));
  }

  /** Open sockets lockd has not closed. */
  get stillOpen(): number {
    return this.sockets.filter((s) => !s.destroyed).length;
  }

  /** Destroys every socket. */
  release(): void {
    this.releasing = true;
    for (const socket of this.sockets) socket.destroy();
  }

  private connectOne(port: number): Promise<net.Socket | undefined> {
    return new Promise((resolve) => {
      const socket = net.connect({ host: '127.0.0.1', port });
      const timer = setTimeout(() => socket.destroy(new Error('connect timeout')), 10_000);
      socket.once('connect', () => {
        clearTimeout(timer);
        this.sockets.push(socket);
        socket.on('close', () => {
          if (!this.releasing) this.closedByLockd++;
        });
        resolve(socket);
      });
      socket.on('data', (chunk: Buffer) => (this.bytesReceived += chunk.length));
      socket.on('error', () => {
        clearTimeout(timer);
        if (!this.sockets.includes(socket)) {
          this.failed++;
          resolve(undefined);
        }
      });
    });
  }
}

/**
 * Acquires every key (exclusive, `ttlMs`) over one connection in pipelined batches and keeps the
 * leases (they outlive the connection). Stops at `deadline` (performance.now() time). Returns the
 * number granted.
 */
export async function holdLeases(port: number, keys: Iterable<string>, request: Omit<LockRequestArgs, 'lockKey'>, batch = 2_000, deadline = Infinity): Promise<number> {
  const client = await RawClient.connect(port);
  let granted = 0;
  try {
    function* messages() {
      for (const key of keys) yield calls.acquire(client.seqid(), { lockKey: key, ...request });
    }
    await client.callBatched(messages(), batch, (outcome) => {
      if (outcome.kind === 'ok' && fieldOf(outcome.value, 1) === true) granted++;
    }, deadline);
  } finally {
    client.close();
  }
  return granted;
}

/** The token of an acquire reply that granted; throws otherwise. */
export function grantedToken(value: unknown): string {
  const lease = fieldOf<DStruct>(value as DStruct, 2);
  const token = lease && fieldOf<string>(lease, 2);
  if (token === undefined) throw new Error('acquire was not granted');
  return token;
}

/** "1,234" */
export const int = (n: number) => (Number.isFinite(n) ? Math.round(n).toLocaleString('en-US') : '–');
/** Seconds with one decimal. */
export const secs = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
