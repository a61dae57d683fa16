/**
 * The servers the benchmark measures: each one is started here as its own process, found ready
 * by a line it prints (or a probe), and stopped by its PID. Nothing here talks lock semantics:
 * clients.ts drives the servers, workloads.ts loads them.
 *
 * Every child is spawned through `bash -c 'ulimit -n …; exec …'` so it may hold more sockets than
 * the default limit, and `exec` keeps the PID the benchmark stops. Children and temp dirs are
 * also removed from a process 'exit' handler, so an error or Ctrl-C leaves nothing behind.
 */
import { ChildProcess, spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

/** The repository root (this file runs from dist/scripts/bench/). */
export const ROOT = path.resolve(__dirname, '../../..');

/** Open-file limit asked for every child; bash falls back to the hard limit when it is lower. */
export const WANTED_FD_LIMIT = 65_536;

/** How long a server may take to say it is ready. */
const START_TIMEOUT_MS = 15_000;
/** How long a server may take to exit after SIGTERM before it gets SIGKILL. */
const STOP_TIMEOUT_MS = 5_000;

/** Which lockd: in memory, or durable in a fresh temp dir with one fsync policy. */
export type LockdVariant = 'memory' | 'always' | 'batch' | 'off';

/** A running server. */
export interface Target {
  /** Row label, e.g. "lockd (in-memory)". */
  readonly name: string;
  readonly pid: number;
  readonly port: number;
  /** The server's soft open-file limit as /proc shows it (what the machine allowed). */
  readonly fdLimit: number | undefined;
  /** SIGTERM, then SIGKILL after 5 s; also removes the target's temp dir. Idempotent. */
  stop(): Promise<void>;
}

/** A target that cannot run on this machine or build; the message says why, for the report. */
export class TargetSkipped extends Error {}

const children = new Set<ChildProcess>();
const tempDirs = new Set<string>();
let exitHandlersInstalled = false;

/** Kills every child still running and removes temp dirs; synchronous, for exit paths. */
export function killAllNow(): void {
  for (const child of children) {
    if (child.pid !== undefined && child.exitCode === null && child.signalCode === null) {
      try {
        process.kill(child.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  }
  children.clear();
  for (const dir of tempDirs) fs.rmSync(dir, { recursive: true, force: true });
  tempDirs.clear();
}

function installExitHandlers(): void {
  if (exitHandlersInstalled) return;
  exitHandlersInstalled = true;
  process.on('exit', killAllNow);
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      killAllNow();
      process.exit(signal === 'SIGINT' ? 130 : 143);
    });
  }
}

/** Spawns `command args` with a raised open-file limit; the child keeps bash's PID (exec). */
function spawnWithFdLimit(command: string, args: string[]): ChildProcess {
  installExitHandlers();
  const script = `ulimit -n ${WANTED_FD_LIMIT} 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null; exec "$0" "$@"`;
  const child = spawn('bash', ['-c', script, command, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  child.once('exit', () => children.delete(child));
  return child;
}

/**
 * Resolves once the child prints a line matching `ready` (its first group, if any, is the port);
 * rejects with TargetSkipped when it exits first or stays silent for 15 s.
 */
function waitUntilReady(child: ChildProcess, label: string, ready: RegExp): Promise<number | undefined> {
  return new Promise((resolve, reject) => {
    let output = '';
    const finish = (error?: Error, port?: number) => {
      clearTimeout(timer);
      child.stdout!.off('data', onData);
      child.stderr!.off('data', onErrorOutput);
      child.off('exit', onExit);
      if (error) reject(error);
      else resolve(port);
    };
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      const match = ready.exec(output);
      if (match) finish(undefined, match[1] === undefined ? undefined : Number(match[1]));
    };
    const onExit = (code: number | null, signal: string | null) => {
      const why = output.trim().split('\n').filter(Boolean).slice(-3).join(' / ') || 'no output';
      finish(new TargetSkipped(`${label} exited (${code ?? signal}) before it was ready: ${why}`));
    };
    const timer = setTimeout(() => {
      stopChild(child);
      finish(new TargetSkipped(`${label} was not ready within ${START_TIMEOUT_MS / 1000} s: ${output.trim().slice(-300) || 'no output'}`));
    }, START_TIMEOUT_MS);
    const onErrorOutput = (chunk: Buffer) => (output += chunk.toString());
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onErrorOutput);
    child.on('exit', onExit);
  });
}

/** SIGTERM by PID, SIGKILL after 5 s; resolves once the process has exited. */
async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const pid = child.pid;
  const signal = (name: NodeJS.Signals) => {
    try {
      process.kill(pid, name);
    } catch {
      // already gone
    }
  };
  signal('SIGTERM');
  const killer = setTimeout(() => signal('SIGKILL'), STOP_TIMEOUT_MS);
  await exited;
  clearTimeout(killer);
}

async function startServer(name: string, command: string, args: string[], ready: RegExp, knownPort?: number, tempDir?: string): Promise<Target> {
  const child = spawnWithFdLimit(command, args);
  child.stdout!.resume();
  child.stderr!.resume();
  let port: number | undefined;
  try {
    port = (await waitUntilReady(child, name, ready)) ?? knownPort;
    if (port === undefined) throw new Error(`${name} did not say which port it listens on`);
  } catch (error) {
    await stopChild(child);
    if (tempDir) removeTempDir(tempDir);
    throw error;
  }
  const pid = child.pid!;
  let stopping: Promise<void> | undefined;
  return {
    name,
    pid,
    port,
    fdLimit: openFileLimit(pid),
    stop: () =>
      (stopping ??= stopChild(child).then(() => {
        if (tempDir) removeTempDir(tempDir);
      })),
  };
}

function removeTempDir(dir: string): void {
  fs.rmSync(dir, { recursive: true, force: true });
  tempDirs.delete(dir);
}

/** The raw TCP ping-pong floor: a Node net server answering every 8-byte message with 8 bytes. */
export function startRawTcp(): Promise<Target> {
  return startServer('raw TCP ping-pong (floor)', process.execPath, [path.join(__dirname, 'servers/raw-tcp-server.js')], /listening on [\d.]+:(\d+)/);
}

/** A no-op LockService on the npm thrift runtime (generated processor, callback handlers). */
export function startNoopThrift(): Promise<Target> {
  return startServer('no-op Thrift server (npm runtime)', process.execPath, [path.join(__dirname, 'servers/noop-thrift-server.js')], /listening on [\d.]+:(\d+)/);
}

/** lockd from another build's dist/ (an older commit checked out elsewhere), in memory: for A/B runs. */
export function startLockdBuild(main: string, name: string): Promise<Target> {
  return startServer(name, process.execPath, [main, '--host', '127.0.0.1', '--port', '0', '--in-memory', '--log-level', 'warn'], /lockd listening on [\d.]+:(\d+)/);
}

/** Row label of each lockd variant. */
export function lockdName(variant: LockdVariant): string {
  return variant === 'memory' ? 'lockd (in-memory)' : `lockd (durable, fsync ${variant})`;
}

/**
 * lockd from dist/ on a port of its choosing. Durable variants get a fresh temp --data-dir,
 * removed on stop. A server that refuses its flags rejects with TargetSkipped (its reason).
 */
export function startLockd(variant: LockdVariant, main = path.join(ROOT, 'dist/src/server/main.js'), name = lockdName(variant)): Promise<Target> {
  if (!fs.existsSync(main)) return Promise.reject(new TargetSkipped(`${main} is missing: run npm run build`));
  const args = [main, '--host', '127.0.0.1', '--port', '0', '--log-level', 'warn'];
  let dir: string | undefined;
  if (variant === 'memory') args.push('--in-memory');
  else {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lockd-bench-'));
    tempDirs.add(dir);
    args.push('--data-dir', dir, '--fsync', variant);
  }
  return startServer(name, process.execPath, args, /lockd listening on [\d.]+:(\d+)/, undefined, dir);
}

/** Why Redis rows cannot run here, or undefined when Debian's redis-server is installed. */
export function redisMissing(): string | undefined {
  const probe = spawnSync('redis-server', ['--version'], { encoding: 'utf8' });
  if (probe.error || probe.status !== 0) return 'redis-server is not installed (apt-get install redis-server)';
  return undefined;
}

/** Row label of Redis with an append-only file synced on every write. */
export const REDIS_ALWAYS_NAME = 'Redis 7 (appendfsync always)';

/**
 * redis-server on a free 127.0.0.1 port. Default without persistence; `always`: an append-only
 * file in a fresh temp dir (on the filesystem durable lockd uses), fsynced before each reply
 * (`appendfsync always`): the durable Redis a durable lockd is compared with.
 */
export async function startRedis(persistence: 'none' | 'always' = 'none'): Promise<Target> {
  const missing = redisMissing();
  if (missing) throw new TargetSkipped(missing);
  const port = await freePort();
  const args = ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--loglevel', 'notice', '--logfile', ''];
  if (persistence === 'none') return startServer('Redis 7', 'redis-server', [...args, '--appendonly', 'no'], /Ready to accept connections/, port);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lockd-bench-redis-'));
  tempDirs.add(dir);
  return startServer(REDIS_ALWAYS_NAME, 'redis-server', [...args, '--dir', dir, '--appendonly', 'yes', '--appendfsync', 'always'], /Ready to accept connections/, port, dir);
}

/** A TCP port nobody listens on right now (the OS picks it). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/** A process's resident set size in bytes, from /proc/PID/status. */
export function rssOf(pid: number): number {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const match = /VmRSS:\s+(\d+)\s+kB/.exec(status);
  if (!match) throw new Error(`no VmRSS in /proc/${pid}/status`);
  return Number(match[1]) * 1024;
}

/** CPU time (user + system) a process has used, ms, from /proc/PID/stat (clock ticks of 10 ms). */
export function cpuMsOf(pid: number): number {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  const [utime, stime] = stat.slice(stat.lastIndexOf(')') + 2).split(' ').slice(11, 13).map(Number);
  return (utime + stime) * 10;
}

/** Write-family syscalls (write, pwrite, writev, ... on files and sockets alike) a process has made, from /proc/PID/io. */
export function writeCallsOf(pid: number): number {
  return Number(/syscw:\s+(\d+)/.exec(fs.readFileSync(`/proc/${pid}/io`, 'utf8'))?.[1] ?? NaN);
}

/** A process's soft open-file limit from /proc/PID/limits ('self' for this one); undefined if unreadable. */
export function openFileLimit(pid: number | 'self', which: 'soft' | 'hard' = 'soft'): number | undefined {
  try {
    const match = /Max open files\s+(\d+|unlimited)\s+(\d+|unlimited)/.exec(fs.readFileSync(`/proc/${pid}/limits`, 'utf8'));
    const value = match?.[which === 'soft' ? 1 : 2];
    return value === undefined ? undefined : value === 'unlimited' ? Infinity : Number(value);
  } catch {
    return undefined;
  }
}
