/**
 * How each target is driven: one LockWorker per persistent connection, offering "acquire a key"
 * and "release it". The lockd adapter is lockd's own LockClient; switching lockd's client means
 * changing `lockdDriver` only.
 */
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import path from 'node:path';
import Redis from 'ioredis';
import { LockClient } from '../../src/client';
import { ROOT, Target } from './targets';

/** One worker's persistent connection. `H` is what a grant hands back (a lease, a token). */
export interface LockWorker<H> {
  /**
   * Acquires `key`, waiting in the server's queue or retrying per the client's policy. Resolves
   * to null when it gave up: a retry would start after `deadline` (performance.now() time), or
   * the server's wait ran out.
   */
  acquire(key: string, deadline: number): Promise<H | null>;
  /** Releases what acquire returned; resolves on the server's reply. */
  release(key: string, handle: H): Promise<void>;
  close(): Promise<void>;
}

/** Makes workers for one target with one client and policy; `label` names the report row. */
export interface Driver<H = unknown> {
  readonly label: string;
  connect(): Promise<LockWorker<H>>;
}

/** Lease length every lock client asks for (baselines.md: PX 30000). */
export const TTL_MS = 30_000;
/** How long a lockd worker waits in the queue: large, yet bounded. */
export const LOCKD_WAIT_MS = 60_000;

/** A lease as lockd's client hands it out. */
export type LockdLease = Awaited<ReturnType<LockClient['acquire']>>;

/**
 * A LockClient on 127.0.0.1:`port`. The benchmark uses only the client's core API: acquire,
 * tryAcquire, lease.release and close.
 */
export function lockdClient(port: number): LockClient {
  return new LockClient({ host: '127.0.0.1', port });
}

let connectProbes = 0;

/** lockd through its own TypeScript client: acquire waits in lockd's FIFO queue; lease.release(). */
export function lockdDriver(target: Target, label = target.name): Driver<LockdLease> {
  return {
    label,
    connect: async () => {
      const client = lockdClient(target.port);
      // Connect now (a first call), so connecting is not part of the measurement.
      const probe = await client.tryAcquire(`bench-connect-${process.pid}-${++connectProbes}`, { ttlMs: TTL_MS });
      await probe?.release();
      return {
        acquire: (key) => client.acquire(key, { ttlMs: TTL_MS, waitMs: LOCKD_WAIT_MS }),
        release: async (_key, lease) => {
          await lease.release();
        },
        close: () => client.close(),
      };
    },
  };
}

/** What a Redis client does when SET NX finds the key taken: sleep base ± jitter ms, try again. */
export interface RetryPolicy {
  readonly label: string;
  readonly baseMs: number;
  readonly jitterMs: number;
}

/** Redlock's defaults: retry after 200 ± 100 ms. */
export const REDLOCK_RETRY: RetryPolicy = { label: 'retry 200±100 ms (redlock)', baseMs: 200, jitterMs: 100 };
/** An impatient client: poll every 10 ± 5 ms. */
export const POLL_RETRY: RetryPolicy = { label: 'poll 10±5 ms', baseMs: 10, jitterMs: 5 };

/** Compare-and-delete: only the holder's token deletes the key. */
const RELEASE_LUA = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end";
/** Most SET NX attempts one acquire makes (the deadline usually stops it first). */
const MAX_ATTEMPTS = 100_000;

type RedisWithRelease = Redis & { releaseLock(key: string, token: string): Promise<number> };

/** Opens one ioredis connection that never reconnects (a stopped server ends it) and has the release script. */
export async function connectRedis(port: number): Promise<RedisWithRelease> {
  const redis = new Redis({ host: '127.0.0.1', port, lazyConnect: true, enableAutoPipelining: false, maxRetriesPerRequest: 0, retryStrategy: () => null });
  redis.on('error', () => {});
  redis.defineCommand('releaseLock', { numberOfKeys: 1, lua: RELEASE_LUA });
  await redis.connect();
  return redis as RedisWithRelease;
}

/**
 * Redis through ioredis: SET key token NX PX 30000 (token: 128 random bits, hex), released by a
 * Lua compare-and-delete (EVALSHA). A taken key is retried per `policy`; Redis has no queue.
 */
export function redisDriver(target: Target, policy: RetryPolicy, label = `${target.name}, ${policy.label}`): Driver<string> {
  return {
    label,
    connect: async () => {
      const redis = await connectRedis(target.port);
      return {
        acquire: async (key, deadline) => {
          const token = randomBytes(16).toString('hex');
          for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
            if ((await redis.set(key, token, 'PX', TTL_MS, 'NX')) === 'OK') return token;
            const pause = policy.baseMs + (Math.random() * 2 - 1) * policy.jitterMs;
            if (performance.now() + pause >= deadline) return null;
            await new Promise((resolve) => setTimeout(resolve, pause));
          }
          return null;
        },
        release: async (key, token) => {
          await redis.releaseLock(key, token);
        },
        close: async () => {
          redis.disconnect();
        },
      };
    },
  };
}

type Callback<T> = (error: unknown, value: T) => void;
/** The parts of the generated (gen-nodejs, callback style) client the benchmark calls. */
interface GeneratedClient {
  acquire(request: unknown, callback: Callback<unknown>): void;
  release(key: string, token: string, callback: Callback<boolean>): void;
}

/**
 * The no-op Thrift server through the generated gen-nodejs client on the npm thrift runtime,
 * callback style (0.17's promise style needs thrift.Q, which runtime 0.24 lacks).
 */
export function noopThriftDriver(target: Target): Driver<true> {
  /* eslint-disable @typescript-eslint/no-var-requires */
  const thrift = require('thrift');
  const LockService = require(path.join(ROOT, 'gen-nodejs/LockService'));
  const types = require(path.join(ROOT, 'gen-nodejs/lock_service_types'));
  /* eslint-enable @typescript-eslint/no-var-requires */
  const call = <T>(fn: (callback: Callback<T>) => void) => new Promise<T>((resolve, reject) => fn((error, value) => (error ? reject(error) : resolve(value))));
  return {
    label: target.name,
    connect: async () => {
      const connection = thrift.createConnection('127.0.0.1', target.port, { transport: thrift.TBufferedTransport, protocol: thrift.TBinaryProtocol });
      connection.on('error', () => {});
      await new Promise((resolve, reject) => {
        connection.once('connect', resolve);
        connection.once('error', reject);
      });
      const client: GeneratedClient = thrift.createClient(LockService, connection);
      return {
        acquire: async (key) => {
          await call((done) => client.acquire(new types.LockRequest({ lockKey: key, ttlMs: TTL_MS }), done));
          return true;
        },
        release: async (key) => {
          await call<boolean>((done) => client.release(key, '0'.repeat(32), done));
        },
        close: async () => connection.end(),
      };
    },
  };
}

/** Size of one raw ping-pong message, each way. */
const RAW_MESSAGE_BYTES = 8;

/** The raw TCP floor: "acquire" and "release" are one 8-byte round trip each, so a pair is two. */
export function rawTcpDriver(target: Target): Driver<true> {
  return {
    label: target.name,
    connect: async () => {
      const socket = net.connect(target.port, '127.0.0.1');
      socket.setNoDelay(true);
      await new Promise((resolve, reject) => {
        socket.once('connect', resolve);
        socket.once('error', reject);
      });
      socket.on('error', () => {});
      const waiters: Array<() => void> = [];
      let buffered = 0;
      socket.on('data', (chunk: Buffer) => {
        buffered += chunk.length;
        while (buffered >= RAW_MESSAGE_BYTES && waiters.length > 0) {
          buffered -= RAW_MESSAGE_BYTES;
          waiters.shift()!();
        }
      });
      const message = Buffer.alloc(RAW_MESSAGE_BYTES);
      const roundTrip = () =>
        new Promise<void>((resolve) => {
          waiters.push(resolve);
          socket.write(message);
        });
      return {
        acquire: async () => {
          await roundTrip();
          return true;
        },
        release: roundTrip,
        close: async () => void socket.destroy(),
      };
    },
  };
}
