/**
 * What the benchmark measures: servers it starts (and stops by PID) and the client each one is
 * driven with. Every target offers the same LockWorker: acquire a key, release it.
 */
import { ChildProcess, spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { LockClient } from '../../src/client';

const root = path.resolve(__dirname, '../../..');
const LISTENING = /listening on [\d.]+:(\d+)/;

/** One worker's persistent connection. `acquire` resolves once granted (waiting or retrying). */
export interface LockWorker {
  acquire(key: string): Promise<unknown>;
  release(key: string, handle: unknown): Promise<void>;
  close(): Promise<void>;
}

/** A running server and how to make workers for it. */
export interface Target {
  name: string;
  pid: number;
  port: number;
  connect(): Promise<LockWorker>;
  stop(): Promise<void>;
}

const children = new Set<ChildProcess>();
process.on('exit', () => {
  for (const child of children) child.kill('SIGKILL');
});

/** Starts `command` and resolves with its port once it prints a listening line (bounded: 15 s). */
function startProcess(command: string, args: string[]): Promise<{ child: ChildProcess; port: number }> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    children.add(child);
    let output = '';
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${command} did not start within 15 s:\n${output}`));
    }, 15_000);
    const onData = (chunk: Buffer) => {
      output += chunk;
      const match = LISTENING.exec(output);
      if (match) {
        clearTimeout(timer);
        resolve({ child, port: Number(match[1]) });
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', (chunk) => (output += chunk));
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${command} exited with ${code} before it listened:\n${output}`));
    });
  });
}

async function stopProcess(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  const killer = setTimeout(() => child.kill('SIGKILL'), 5_000);
  await exited;
  clearTimeout(killer);
  children.delete(child);
}

/** lockd with the given flags, driven by lockd's own LockClient. */
export async function startLockd(name: string, flags: string[]): Promise<Target> {
  const { child, port } = await startProcess(process.execPath, [path.join(root, 'dist/src/server/main.js'), '--host', '127.0.0.1', '--port', '0', '--log-level', 'warn', ...flags]);
  return {
    name,
    pid: child.pid!,
    port,
    connect: async () => {
      const client = new LockClient({ host: '127.0.0.1', port, owner: 'bench' });
      await client.ping();
      return {
        acquire: (key) => client.acquire(key, { ttlMs: 30_000 }),
        release: async (_key, lease) => {
          await (lease as Awaited<ReturnType<LockClient['acquire']>>).release();
        },
        close: () => client.close(),
      };
    },
    stop: () => stopProcess(child),
  };
}

/** lockd in memory, or durable in a fresh temp dir with the given fsync policy. */
export function startLockdVariant(fsync: 'memory' | 'always' | 'batch' | 'off'): Promise<Target> {
  if (fsync === 'memory') return startLockd('lockd (in-memory)', ['--in-memory']);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lockd-bench-'));
  return startLockd(`lockd (durable, fsync ${fsync})`, ['--data-dir', dir, '--fsync', fsync]).then((target) => ({
    ...target,
    stop: async () => {
      await target.stop();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  }));
}

/** True when Debian's redis-server is installed. */
export function redisAvailable(): boolean {
  return spawnSync('redis-server', ['--version']).status === 0;
}

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const server = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

const RELEASE_SCRIPT = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end";

/**
 * redis-server without persistence, driven by ioredis: SET key token NX PX 30000, released by a
 * Lua compare-and-delete. A busy key is retried every 10±5 ms (Redis has no queue).
 */
export async function startRedis(): Promise<Target> {
  const port = await freePort();
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--loglevel', 'warning'], { stdio: 'ignore' });
  children.add(child);
  // eslint-disable-next-line @typescript-eslint/no-var-requires
  const Redis = require('ioredis');
  const probe = new Redis({ port, host: '127.0.0.1', lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
  probe.on('error', () => {});
  for (let attempt = 0; ; attempt++) {
    try {
      await probe.connect();
      await probe.ping();
      break;
    } catch {
      if (attempt > 100) throw new Error('redis-server did not answer within 5 s');
      probe.disconnect();
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
  probe.disconnect();
  let counter = 0;
  return {
    name: 'Redis 7 (SET NX PX + Lua release)',
    pid: child.pid!,
    port,
    connect: async () => {
      const redis = new Redis({ port, host: '127.0.0.1', enableAutoPipelining: false });
      redis.on('error', () => {});
      await redis.ping();
      return {
        acquire: async (key) => {
          const token = `${process.pid}-${++counter}-${Math.random()}`;
          for (;;) {
            if ((await redis.set(key, token, 'PX', 30_000, 'NX')) === 'OK') return token;
            await new Promise((resolve) => setTimeout(resolve, 5 + Math.random() * 10));
          }
        },
        release: async (key, token) => {
          await redis.eval(RELEASE_SCRIPT, 1, key, token as string);
        },
        close: async () => {
          redis.disconnect();
        },
      };
    },
    stop: () => stopProcess(child),
  };
}

/** A no-op LockService on the npm thrift runtime, driven by the generated client (callbacks). */
export async function startNoopThrift(): Promise<Target> {
  const { child, port } = await startProcess(process.execPath, [path.join(__dirname, 'servers/noop-thrift-server.js')]);
  // eslint-disable-next-line @typescript-eslint/no-var-requires
  const thrift = require('thrift');
  // eslint-disable-next-line @typescript-eslint/no-var-requires
  const LockService = require(path.join(root, 'gen-nodejs/LockService'));
  // eslint-disable-next-line @typescript-eslint/no-var-requires
  const types = require(path.join(root, 'gen-nodejs/lock_service_types'));
  return {
    name: 'no-op Thrift server (npm runtime)',
    pid: child.pid!,
    port,
    connect: async () => {
      const connection = thrift.createConnection('127.0.0.1', port, { transport: thrift.TBufferedTransport, protocol: thrift.TBinaryProtocol });
      connection.on('error', () => {});
      await new Promise((resolve) => connection.once('connect', resolve));
      const client = thrift.createClient(LockService, connection);
      const call = <T>(fn: (cb: (error: unknown, value: T) => void) => void) =>
        new Promise<T>((resolve, reject) => fn((error, value) => (error ? reject(error) : resolve(value))));
      return {
        acquire: (key) => call((cb) => client.acquire(new types.LockRequest({ lockKey: key, ttlMs: 30_000 }), cb)),
        release: async (key) => {
          await call((cb) => client.release(key, '0'.repeat(32), cb));
        },
        close: async () => connection.end(),
      };
    },
    stop: () => stopProcess(child),
  };
}

/** The raw TCP ping-pong floor: a "pair" is two 8-byte round trips. */
export async function startRawTcp(): Promise<Target> {
  const { child, port } = await startProcess(process.execPath, [path.join(__dirname, 'servers/raw-tcp-server.js')]);
  return {
    name: 'raw TCP ping-pong (floor)',
    pid: child.pid!,
    port,
    connect: async () => {
      const socket = net.connect(port, '127.0.0.1');
      socket.setNoDelay(true);
      await new Promise((resolve) => socket.once('connect', resolve));
      const waiters: Array<() => void> = [];
      let buffered = 0;
      socket.on('data', (chunk) => {
        buffered += chunk.length;
        while (buffered >= 8 && waiters.length > 0) {
          buffered -= 8;
          waiters.shift()!();
        }
      });
      const message = Buffer.alloc(8);
      const roundTrip = () =>
        new Promise<void>((resolve) => {
          waiters.push(resolve);
          socket.write(message);
        });
      return { acquire: roundTrip, release: roundTrip, close: async () => void socket.destroy() };
    },
    stop: () => stopProcess(child),
  };
}

/** A process's resident set size in bytes, from /proc. */
export function rssOf(pid: number): number {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+)\s+kB/.exec(status)![1]) * 1024;
}
