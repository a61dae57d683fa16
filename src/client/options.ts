/** LockClient options, their defaults and why, in one place. */
import os from 'node:os';
import { ConfigError } from '../errors';

export interface ClientOptions {
  /** lockd's host. Default "localhost", or the host part of LOCKD_ADDR. */
  host: string;
  /** lockd's port. Default 9090 (lockd's default), or the port part of LOCKD_ADDR. */
  port: number;
  /** Must match the server. Default "buffered" (lockd's default). */
  transport: 'buffered' | 'framed';
  /** Must match the server. Default "binary" (lockd's default). */
  protocol: 'binary' | 'compact';
  /** Label shown by inspect and in lockd's logs. Default "<hostname>:<pid>". */
  owner: string;
  /** Give up one connection attempt after this long. Default 5 s. */
  connectTimeoutMs: number;
  /** How long a call may take beyond the wait it asks for. Default 10 s: a stuck server is reported, not waited on forever. */
  callTimeoutMs: number;
  /** Lease length when acquire names none. Default 30 s, lockd's default: outlives a GC pause. */
  ttlMs: number;
  /** Attempts to (re)connect before a call fails with ConnectionError. Default 5. */
  connectAttempts: number;
  /** First pause between attempts; doubles each time, with ±50% jitter so clients do not retry in step. Default 100 ms. */
  reconnectBaseMs: number;
  /** Longest pause between attempts. Default 2 s. */
  reconnectMaxMs: number;
  /** Largest reply accepted. Default 16 MiB (a long listLocks page). */
  maxMessageBytes: number;
}

/** The defaults; host and port yield to LOCKD_ADDR=host:port when it is set. */
export const DEFAULT_CLIENT_OPTIONS: Readonly<ClientOptions> = Object.freeze({
  host: 'localhost',
  port: 9090,
  transport: 'buffered',
  protocol: 'binary',
  owner: `${os.hostname()}:${process.pid}`,
  connectTimeoutMs: 5_000,
  callTimeoutMs: 10_000,
  ttlMs: 30_000,
  connectAttempts: 5,
  reconnectBaseMs: 100,
  reconnectMaxMs: 2_000,
  maxMessageBytes: 16 * 1024 * 1024,
});

/** Parses "host:port" (as in LOCKD_ADDR or lockctl --addr). */
export function parseAddress(address: string): { host: string; port: number } {
  const match = /^(.+):(\d{1,5})$/.exec(address.trim());
  const port = match ? Number(match[2]) : NaN;
  if (!match || port < 1 || port > 65535) throw new ConfigError(`address ${JSON.stringify(address)} is not host:port`);
  return { host: match[1].replace(/^\[(.*)\]$/, '$1'), port };
}

/** Defaults, then LOCKD_ADDR, then what the caller passed. */
export function resolveClientOptions(options: Partial<ClientOptions>, env: NodeJS.ProcessEnv = process.env): ClientOptions {
  const fromEnv = env.LOCKD_ADDR ? parseAddress(env.LOCKD_ADDR) : {};
  return { ...DEFAULT_CLIENT_OPTIONS, ...fromEnv, ...options };
}
