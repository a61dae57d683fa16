/**
 * LockClient options, their defaults and why, in one place. `resolveClientOptions` merges
 * defaults, then LOCKD_ADDR, then what the caller passed, and validates the result.
 */
import os from 'node:os';
import { ConfigError } from '../errors';
import { Credential, credentialFromEnv } from './credentials';
import type { ClientTlsFiles } from './credentials';

/** Everything a LockClient can be told. Each field is optional in `new LockClient({...})`. */
export interface ClientOptions {
  // --- Connection -------------------------------------------------------------------------
  /** lockd's host. Default "localhost" (or the host part of LOCKD_ADDR): lockd's own default address. */
  host: string;
  /** lockd's port. Default 9090 (or the port part of LOCKD_ADDR): lockd's default port. */
  port: number;
  /**
   * Several addresses ("host:port") of one lockd cluster's nodes: the client connects to the
   * first that answers, in the order given, and stays there; when that connection is lost, or a
   * node answers UNAVAILABLE, it fails over to the next (see LockClient). When set, `host` and
   * `port` become the first entry. Default undefined: the one address `host`:`port` (or every
   * address of a comma-separated LOCKD_ADDR). Only list nodes of one cluster: independent lockd
   * servers do not share locks.
   */
  hosts: readonly string[] | undefined;
  /**
   * Cluster mode: send each call on a key straight to the node that owns the key (its
   * partition: crc32 of the key mod the partition count, from clusterInfo), over one extra
   * connection per node, instead of through the connected node, which forwards it. The map is
   * corrected whenever a node answers that it no longer owns a key. Default false: one
   * connection, one hop more per call on a key another node owns. Against a single lockd it
   * changes nothing.
   */
  routeToOwner: boolean;
  /** Thrift transport; must match the server. Default "buffered": lockd's and most Thrift clients' default. */
  transport: 'buffered' | 'framed';
  /** Thrift protocol; must match the server. Default "binary": lockd's default. */
  protocol: 'binary' | 'compact';
  /** Give up one connection attempt after this long. Default 5 s: longer than any healthy LAN connect, short enough to report a dead host. */
  connectTimeoutMs: number;
  /**
   * How long a call may take beyond the wait it asks for (a parked acquire may take waitMs +
   * callTimeoutMs; one waiting until granted has no bound). Default 10 s: a stuck server is
   * reported as CallTimeoutError instead of hanging the caller forever.
   */
  callTimeoutMs: number;
  /** Largest reply accepted. Default 16 MiB: room for the longest listLocks page. */
  maxMessageBytes: number;

  // --- Reconnecting -----------------------------------------------------------------------
  /**
   * Connection attempts one call makes before it fails with ConnectionError. Default 5: with the
   * backoff below a call rides out a lockd restart of about 3 s, and still fails in bounded time
   * when lockd is down. An acquire that was already waiting when lockd went away is not bound by
   * it: it keeps reconnecting (same backoff) until its wait ends; auto-renewed leases keep
   * retrying until their TTL ends.
   */
  connectAttempts: number;
  /**
   * Pause after the first failed attempt; it doubles after each further failure (also across
   * calls, until a connect succeeds) and is jittered ±50% so many clients do not retry in step.
   * Default 100 ms: a quick restart costs little.
   */
  reconnectBaseMs: number;
  /** Longest pause between attempts. Default 2 s: a client notices a recovered lockd within 2 s. */
  reconnectMaxMs: number;

  // --- Leases -----------------------------------------------------------------------------
  /** Label shown by inspect, lockctl status and lockd's logs; never used for ownership. Default "<hostname>:<pid>", which finds the process. */
  owner: string;
  /**
   * Lease length when acquire names none. Default undefined: lockd's --default-ttl (30 s unless
   * configured), so one server setting governs every client.
   */
  ttlMs: number | undefined;

  // --- Security (docs/security.md) --------------------------------------------------------
  /**
   * Identity and secret sent with authenticate() on each new connection; a refusal fails the
   * call with UnauthenticatedError and is not retried. Default: LOCKD_CREDENTIAL
   * ("identity:secret") when set, else none (anonymous). See readCredentialFile().
   */
  credential: Credential | { identity: string; secret: string } | undefined;
  /**
   * Connect with TLS: undefined (default) for plain TCP; an object (possibly empty: trust the
   * system's CAs) names the CA file to trust lockd by and a client certificate and key.
   */
  tls: ClientTlsFiles | undefined;
}

/** The defaults, frozen; host and port yield to LOCKD_ADDR=host:port[,host:port...] when it is set. */
export const DEFAULT_CLIENT_OPTIONS: Readonly<ClientOptions> = Object.freeze({
  /** lockd's default address. */
  host: 'localhost',
  /** lockd's default port. */
  port: 9090,
  /** One address: host and port. */
  hosts: undefined,
  /** One connection; the connected node forwards. */
  routeToOwner: false,
  /** lockd's default transport. */
  transport: 'buffered',
  /** lockd's default protocol. */
  protocol: 'binary',
  /** A dead host is reported in 5 s. */
  connectTimeoutMs: 5_000,
  /** A stuck server is reported in 10 s. */
  callTimeoutMs: 10_000,
  /** The longest listLocks page fits. */
  maxMessageBytes: 16 * 1024 * 1024,
  /** Rides out a quick restart, fails in bounded time. */
  connectAttempts: 5,
  /** A quick restart costs little. */
  reconnectBaseMs: 100,
  /** A recovered lockd is noticed within 2 s. */
  reconnectMaxMs: 2_000,
  /** Finds the process that holds a lock. */
  owner: `${os.hostname()}:${process.pid}`,
  /** lockd decides (--default-ttl). */
  ttlMs: undefined,
  /** Anonymous unless LOCKD_CREDENTIAL is set. */
  credential: undefined,
  /** Plain TCP, lockd's default. */
  tls: undefined,
} satisfies ClientOptions);

/** Parses one "host:port" (as in LOCKD_ADDR or lockctl --addr); "[::1]:9090" for IPv6. Throws ConfigError. */
export function parseAddress(address: string): { host: string; port: number } {
  const match = /^(.+):(\d{1,5})$/.exec(address.trim());
  const port = match ? Number(match[2]) : NaN;
  if (!match || port < 1 || port > 65535) throw new ConfigError(`address ${JSON.stringify(address)} is not host:port (for example localhost:9090)`);
  return { host: match[1].replace(/^\[(.*)\]$/, '$1'), port };
}

/**
 * Parses a comma-separated address list ("a:9090,b:9090", as LOCKD_ADDR and lockctl --addr take
 * it); blanks around commas are ignored. Throws ConfigError for an empty list or a bad entry.
 */
export function parseAddressList(list: string): string[] {
  const entries = list.split(',').map((entry) => entry.trim()).filter((entry) => entry !== '');
  if (entries.length === 0) throw new ConfigError(`address list ${JSON.stringify(list)} names no host:port`);
  for (const entry of entries) parseAddress(entry);
  return entries;
}

/**
 * Defaults, then LOCKD_ADDR from `env` (one address, or several separated by commas), then
 * `options` (fields set to undefined are ignored); throws ConfigError naming the first invalid
 * field. An explicit `host` or `port` (without `hosts`) means one address: it replaces a list
 * from LOCKD_ADDR. With several addresses, `host` and `port` are the first one's.
 */
export function resolveClientOptions(options: Partial<ClientOptions> = {}, env: NodeJS.ProcessEnv = process.env): ClientOptions {
  const envHosts = env.LOCKD_ADDR ? parseAddressList(env.LOCKD_ADDR) : undefined;
  const fromEnv = envHosts === undefined ? {} : { ...parseAddress(envHosts[0]), hosts: envHosts.length > 1 ? envHosts : undefined };
  const resolved: ClientOptions = { ...DEFAULT_CLIENT_OPTIONS, ...fromEnv, credential: credentialFromEnv(env) };
  if (options.hosts === undefined && (options.host !== undefined || options.port !== undefined)) resolved.hosts = undefined;
  for (const [name, value] of Object.entries(options) as [keyof ClientOptions, unknown][]) {
    if (value !== undefined) (resolved as unknown as Record<string, unknown>)[name] = value;
  }
  if (resolved.hosts !== undefined) {
    if (!Array.isArray(resolved.hosts) || resolved.hosts.length === 0) {
      throw new ConfigError(`invalid LockClient option: hosts must be a non-empty array of "host:port" strings, got ${JSON.stringify(resolved.hosts)}`);
    }
    const hosts = resolved.hosts.map((entry: unknown) => {
      if (typeof entry !== 'string') throw new ConfigError(`invalid LockClient option: hosts must hold "host:port" strings, got ${JSON.stringify(entry)}`);
      parseAddress(entry);
      return entry.trim();
    });
    resolved.hosts = Object.freeze(hosts);
    Object.assign(resolved, parseAddress(hosts[0]));
  }
  validate(resolved);
  // A plain { identity, secret } becomes a Credential, which never prints its secret.
  const credential = resolved.credential;
  if (credential !== undefined && !(credential instanceof Credential)) resolved.credential = new Credential(credential.identity, credential.secret);
  return resolved;
}

function validate(o: ClientOptions): void {
  const fail = (message: string): never => {
    throw new ConfigError(`invalid LockClient option: ${message}`);
  };
  if (typeof o.host !== 'string' || o.host === '') fail(`host must be a non-empty string, got ${JSON.stringify(o.host)}`);
  if (!Number.isInteger(o.port) || o.port < 1 || o.port > 65535) fail(`port must be an integer in 1..65535, got ${o.port}`);
  if (o.transport !== 'buffered' && o.transport !== 'framed') fail(`transport must be "buffered" or "framed", got ${JSON.stringify(o.transport)}`);
  if (o.protocol !== 'binary' && o.protocol !== 'compact') fail(`protocol must be "binary" or "compact", got ${JSON.stringify(o.protocol)}`);
  if (typeof o.owner !== 'string') fail('owner must be a string');
  if (typeof o.routeToOwner !== 'boolean') fail(`routeToOwner must be true or false, got ${JSON.stringify(o.routeToOwner)}`);
  const positive: (keyof ClientOptions)[] = ['connectTimeoutMs', 'callTimeoutMs', 'maxMessageBytes', 'connectAttempts', 'reconnectBaseMs', 'reconnectMaxMs'];
  for (const name of positive) {
    const value = o[name];
    if (typeof value !== 'number' || !(value > 0)) fail(`${name} must be a positive number, got ${String(value)}`);
  }
  if (!Number.isInteger(o.connectAttempts)) fail(`connectAttempts must be a whole number, got ${o.connectAttempts}`);
  if (o.ttlMs !== undefined && !(Number.isInteger(o.ttlMs) && o.ttlMs > 0)) fail(`ttlMs must be a positive whole number of ms, got ${o.ttlMs}`);
}
