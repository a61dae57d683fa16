/**
 * Every lockd server option in one place: its default, why, and its validation. Each option is
 * a flag (`--default-ttl 30s`) and an environment variable (`LOCKD_DEFAULT_TTL=30s`); flags win.
 */
import { ConfigError } from './errors';
import { formatDurationMs, parseDurationMs } from './util/duration';

export type TransportKind = 'buffered' | 'framed';
export type ProtocolKind = 'binary' | 'compact';
export type FsyncPolicy = 'always' | 'batch' | 'off';
export type LogFormat = 'text' | 'json';
export type LogLevel = 'error' | 'warn' | 'info' | 'debug';

export interface ServerOptions {
  /**
   * Interface to listen on. Default 127.0.0.1: only this machine can connect until the operator
   * chooses to listen wider (0.0.0.0), ideally with --auth-file and TLS (see docs/security.md).
   */
  host: string;
  /** TCP port. Default 9090, the seed's port; 0 picks a free one (printed at startup). */
  port: number;
  /** Thrift transport. Default buffered (TBufferedTransport), the seed's and most clients' default. */
  transport: TransportKind;
  /** Thrift protocol. Default binary (TBinaryProtocol). */
  protocol: ProtocolKind;
  /** Lease length when a request names none. Default 30 s: outlives a GC pause or a slow renew. */
  defaultTtlMs: number;
  /** Shortest lease a request may ask for. Default 100 ms: shorter leases expire in flight. */
  minTtlMs: number;
  /** Longest lease a request may ask for. Default 24 h: a crashed holder frees its lock within a day. */
  maxTtlMs: number;
  /** Longest finite waitMs. Default 1 h; -1 (wait until granted or disconnected) is always allowed. */
  maxWaitMs: number;
  /** Largest Thrift message accepted; a larger one, or a declared length beyond it, closes the connection. Default 1 MiB. */
  maxMessageBytes: number;
  /** listLocks limit when the request's is <= 0. Default 100. */
  defaultListLimit: number;
  /** Largest listLocks limit. Default 10,000: bounds one reply's size. */
  maxListLimit: number;
  /**
   * Live leases allowed at once; a grant beyond it gets RESOURCE_EXHAUSTED. Default 10,000,000
   * (~1.4 GB of RSS when all are held). Room for this many leases plus --max-waiters is reserved
   * as address space at start and takes memory only as leases use it.
   */
  maxLeases: number;
  /** Parked waiters allowed at once, over all keys; more get RESOURCE_EXHAUSTED. Default 100,000 (~20 MiB): no client can exhaust memory by queueing. */
  maxWaiters: number;
  /** Open connections allowed at once; more are refused with a warning. Default 50,000 (~13 KB each when idle). */
  maxConnections: number;
  /** Reply bytes one connection may hold (encoded, awaiting sync, unread by its client) before lockd stops reading it. Default 8 MiB. */
  connectionBufferBytes: number;
  /** Bytes of pending input and replies over all connections; past it the largest holders are closed. Default 256 MiB. */
  totalBufferBytes: number;
  /** A message that has begun must arrive whole within this, or the connection is closed (slowloris). Default 30 s. */
  readTimeoutMs: number;
  /** A connection that holds nothing (no ephemeral grant, no parked wait) and sends nothing for this long is closed. Default 1 h. */
  idleTimeoutMs: number;
  /** listLocks stops a page once its reply would pass this many bytes; callers continue with startAfter. Default 1 MiB. */
  maxListBytes: number;
  /** TTL of the seed API's acquireLock grants; 0 (default): held until releaseLock or the connection ends. */
  seedLockTtlMs: number;
  /** Where durable state lives. Default ./lockd-data (mode 0700). */
  dataDir: string;
  /** Keep state in memory only: a restart forgets every lock. Default false. */
  inMemory: boolean;
  /** When a change is fsynced: always (each batch of one), batch (group commit), off (never). Default batch. */
  fsync: FsyncPolicy;
  /** Start from the last good record when the log is corrupt in the middle. Default false: refuse to start. */
  forceRecovery: boolean;
  /** Log threshold. Default info; each lock operation is logged at debug. */
  logLevel: LogLevel;
  /** Log line format. Default text; json for log shippers. */
  logFormat: LogFormat;

  // --- Security (docs/security.md) -------------------------------------------------------
  /** PEM certificate chain: the port speaks TLS (with tlsKey). Default none: plain TCP. Reloaded on change and SIGHUP. */
  tlsCert: string | undefined;
  /** PEM private key of tlsCert. Default none. */
  tlsKey: string | undefined;
  /** PEM CA certificates: clients must present a certificate signed by one (its subject or SAN can be an identity). Default none: no client certificates. */
  tlsCa: string | undefined;
  /**
   * JSON permissions file: identities, their rights per key prefix and quotas. Default none:
   * everyone may do everything, as on a trusted host. Reloaded on change and SIGHUP.
   */
  authFile: string | undefined;

  // Operations: the HTTP listener (metrics, health, JSON lock API, admin) -------------------
  /** Port of the HTTP listener. Default -1 (off): lockd opens no HTTP port unless asked; 0 picks a free one. */
  httpPort: number;
  /** Interface of the HTTP listener. Default 127.0.0.1: metrics and admin stay on this machine until an operator opens them. */
  httpHost: string;
  /** Largest HTTP request body accepted (413 beyond it). Default 64 KiB: a lock request is under 2 KiB. */
  httpBodyLimitBytes: number;
  /** Collect lock metrics (served at GET /metrics). Default true; off saves the per-call bookkeeping. */
  metrics: boolean;
  /** Key path segments ('/'-separated) that name a key's prefix in metric labels. Default 1 ("orders/42" -> "orders"). */
  metricsPrefixDepth: number;
  /** Distinct prefixes given their own metric labels; later ones are counted as "_other". Default 100: bounds series count. */
  metricsMaxPrefixes: number;
  /** Force-releases remembered so the holder's next renew learns the reason. Default 10,000 (~2 MiB at most). */
  forceReleaseHistory: number;

  // Cluster mode (README "Cluster mode"; src/cluster/options.ts has the finer knobs) -----------
  /**
   * etcd client endpoints, comma-separated (http://host:port,...): run as one node of a cluster
   * whose state lives in etcd instead of --data-dir. Default none: a single lockd with its own store.
   */
  etcd: string | undefined;
  /** Cluster name: every etcd key lockd keeps is under /lockd/<cluster>/. Default lockd. */
  cluster: string;
  /** This node's id, unique in the cluster. Default <hostname>:<port>. */
  nodeId: string | undefined;
  /** host:port other nodes and clients reach this node at. Default --host:--port (a wildcard --host needs it). */
  advertise: string | undefined;
  /** Partitions the key space is cut into; fixed when the cluster is first started. Default 64. */
  partitions: number;
  /**
   * TTL of this node's etcd lease: a dead node's keys move to others within about this (plus 2 s).
   * Default 5 s: an etcd leader election (1.5-2.5 s) does not make a node step down.
   */
  nodeTtlMs: number;
}

/** The defaults, frozen. */
export const DEFAULT_SERVER_OPTIONS: Readonly<ServerOptions> = Object.freeze({
  host: '127.0.0.1',
  port: 9090,
  transport: 'buffered',
  protocol: 'binary',
  defaultTtlMs: 30_000,
  minTtlMs: 100,
  maxTtlMs: 24 * 3_600_000,
  maxWaitMs: 3_600_000,
  maxMessageBytes: 1024 * 1024,
  defaultListLimit: 100,
  maxListLimit: 10_000,
  maxLeases: 10_000_000,
  maxWaiters: 100_000,
  maxConnections: 50_000,
  connectionBufferBytes: 8 * 1024 * 1024,
  totalBufferBytes: 256 * 1024 * 1024,
  readTimeoutMs: 30_000,
  idleTimeoutMs: 3_600_000,
  maxListBytes: 1024 * 1024,
  seedLockTtlMs: 0,
  dataDir: './lockd-data',
  inMemory: false,
  fsync: 'batch',
  forceRecovery: false,
  logLevel: 'info',
  logFormat: 'text',
  tlsCert: undefined,
  tlsKey: undefined,
  tlsCa: undefined,
  authFile: undefined,
  httpPort: -1,
  httpHost: '127.0.0.1',
  httpBodyLimitBytes: 64 * 1024,
  metrics: true,
  metricsPrefixDepth: 1,
  metricsMaxPrefixes: 100,
  forceReleaseHistory: 10_000,
  etcd: undefined,
  cluster: 'lockd',
  nodeId: undefined,
  advertise: undefined,
  partitions: 64,
  nodeTtlMs: 5_000,
});

type Kind = 'string' | 'path' | 'port' | 'port-or-off' | 'duration' | 'duration-or-off' | 'bytes' | 'count' | 'bool' | readonly string[];

interface OptionSpec {
  key: keyof ServerOptions;
  flag: string;
  kind: Kind;
  help: string;
}

/** Flag table: the one list that --help, env parsing and validation read. */
export const SERVER_OPTION_SPECS: readonly OptionSpec[] = [
  { key: 'host', flag: 'host', kind: 'string', help: 'interface to listen on' },
  { key: 'port', flag: 'port', kind: 'port', help: 'TCP port (0 = any free port)' },
  { key: 'transport', flag: 'transport', kind: ['buffered', 'framed'], help: 'Thrift transport assumed when the first bytes fit none (each connection is detected)' },
  { key: 'protocol', flag: 'protocol', kind: ['binary', 'compact'], help: 'Thrift protocol assumed when the first bytes fit none (each connection is detected)' },
  { key: 'defaultTtlMs', flag: 'default-ttl', kind: 'duration', help: 'lease length when a request names none' },
  { key: 'minTtlMs', flag: 'min-ttl', kind: 'duration', help: 'shortest lease a request may ask for' },
  { key: 'maxTtlMs', flag: 'max-ttl', kind: 'duration', help: 'longest lease a request may ask for' },
  { key: 'maxWaitMs', flag: 'max-wait', kind: 'duration', help: 'longest finite waitMs (-1 is always allowed)' },
  { key: 'maxMessageBytes', flag: 'max-message-size', kind: 'bytes', help: 'largest Thrift message accepted' },
  { key: 'defaultListLimit', flag: 'default-list-limit', kind: 'count', help: 'listLocks limit when none is given' },
  { key: 'maxListLimit', flag: 'max-list-limit', kind: 'count', help: 'largest listLocks limit' },
  { key: 'maxLeases', flag: 'max-leases', kind: 'count', help: 'live leases allowed at once (more: RESOURCE_EXHAUSTED)' },
  { key: 'maxWaiters', flag: 'max-waiters', kind: 'count', help: 'parked waiters allowed at once (more: RESOURCE_EXHAUSTED)' },
  { key: 'maxConnections', flag: 'max-connections', kind: 'count', help: 'open connections allowed at once (more are refused)' },
  { key: 'connectionBufferBytes', flag: 'connection-buffer-limit', kind: 'bytes', help: 'reply bytes one connection may hold before lockd stops reading it' },
  { key: 'totalBufferBytes', flag: 'total-buffer-limit', kind: 'bytes', help: 'buffered bytes over all connections (past it the largest holders are closed)' },
  { key: 'readTimeoutMs', flag: 'read-timeout', kind: 'duration', help: 'time for a begun message to arrive whole' },
  { key: 'idleTimeoutMs', flag: 'idle-timeout', kind: 'duration', help: 'close connections that hold nothing and send nothing this long' },
  { key: 'maxListBytes', flag: 'max-list-bytes', kind: 'bytes', help: 'bytes of one listLocks page' },
  { key: 'seedLockTtlMs', flag: 'seed-lock-ttl', kind: 'duration-or-off', help: 'TTL of acquireLock grants (off: until releaseLock or the connection ends)' },
  { key: 'dataDir', flag: 'data-dir', kind: 'string', help: 'directory of the durable store' },
  { key: 'inMemory', flag: 'in-memory', kind: 'bool', help: 'keep no state on disk (a restart forgets every lock)' },
  { key: 'fsync', flag: 'fsync', kind: ['always', 'batch', 'off'], help: 'when changes reach the disk' },
  { key: 'forceRecovery', flag: 'force-recovery', kind: 'bool', help: 'start from the last good record of a corrupt log' },
  { key: 'logLevel', flag: 'log-level', kind: ['error', 'warn', 'info', 'debug'], help: 'log threshold' },
  { key: 'logFormat', flag: 'log-format', kind: ['text', 'json'], help: 'log line format' },
  { key: 'tlsCert', flag: 'tls-cert', kind: 'path', help: 'PEM certificate chain: serve TLS (needs --tls-key)' },
  { key: 'tlsKey', flag: 'tls-key', kind: 'path', help: 'PEM private key of --tls-cert' },
  { key: 'tlsCa', flag: 'tls-ca', kind: 'path', help: 'PEM CA file: require client certificates signed by it' },
  { key: 'authFile', flag: 'auth-file', kind: 'path', help: 'JSON permissions file: identities, rights per key prefix, quotas' },
  { key: 'httpPort', flag: 'http-port', kind: 'port-or-off', help: 'port of the HTTP listener: metrics, health, JSON lock API, admin (0 = any free port)' },
  { key: 'httpHost', flag: 'http-host', kind: 'string', help: 'interface of the HTTP listener' },
  { key: 'httpBodyLimitBytes', flag: 'http-body-limit', kind: 'bytes', help: 'largest HTTP request body' },
  { key: 'metrics', flag: 'metrics', kind: 'bool', help: 'collect lock metrics for GET /metrics (--metrics=false: off)' },
  { key: 'metricsPrefixDepth', flag: 'metrics-prefix-depth', kind: 'count', help: "key path segments that name a metrics prefix ('orders/42' -> 'orders' at 1)" },
  { key: 'metricsMaxPrefixes', flag: 'metrics-max-prefixes', kind: 'count', help: 'distinct metrics prefixes; later ones count as _other' },
  { key: 'forceReleaseHistory', flag: 'force-release-history', kind: 'count', help: "force-releases remembered so the holder's renew learns the reason" },
  { key: 'etcd', flag: 'etcd', kind: 'string', help: 'cluster mode: etcd endpoints, comma-separated (http://127.0.0.1:2379,...); state lives in etcd, not --data-dir' },
  { key: 'cluster', flag: 'cluster', kind: 'string', help: 'cluster mode: cluster name (etcd prefix /lockd/<name>/)' },
  { key: 'nodeId', flag: 'node-id', kind: 'string', help: 'cluster mode: this node\'s id (default <hostname>:<port>)' },
  { key: 'advertise', flag: 'advertise', kind: 'string', help: 'cluster mode: host:port other nodes and clients reach this node at (default --host:--port)' },
  { key: 'partitions', flag: 'partitions', kind: 'count', help: 'cluster mode: partitions of the key space, fixed when the cluster is first started' },
  { key: 'nodeTtlMs', flag: 'node-ttl', kind: 'duration', help: 'cluster mode: TTL of the node\'s etcd lease (failover time)' },
];

/** LOCKD_DEFAULT_TTL for --default-ttl. */
export function envNameOf(flag: string): string {
  return `LOCKD_${flag.toUpperCase().replace(/-/g, '_')}`;
}

function parseBytes(text: string): number | undefined {
  const match = /^\s*(\d+)\s*(b|k|kb|kib|m|mb|mib)?\s*$/i.exec(text);
  if (!match) return undefined;
  const unit = (match[2] ?? 'b').toLowerCase();
  const factor = unit === 'b' ? 1 : unit.startsWith('k') ? 1024 : 1024 * 1024;
  return Number(match[1]) * factor;
}

function parseValue(spec: OptionSpec, raw: string, source: string): string | number | boolean {
  const bad = (expected: string) => new ConfigError(`${source}: ${JSON.stringify(raw)} is not ${expected}`);
  const kind = spec.kind;
  if (Array.isArray(kind)) {
    if (!kind.includes(raw)) throw bad(`one of ${kind.join(', ')}`);
    return raw;
  }
  switch (kind) {
    case 'string':
    case 'path':
      if (raw === '') throw bad(kind === 'path' ? 'a file path' : 'a non-empty value');
      return raw;
    case 'port': {
      const port = Number(raw);
      if (!/^\d+$/.test(raw) || port > 65535) throw bad('a port number 0..65535');
      return port;
    }
    case 'port-or-off': {
      if (raw === 'off') return -1;
      const port = Number(raw);
      if (!/^\d+$/.test(raw) || port > 65535) throw bad('off or a port number 0..65535');
      return port;
    }
    case 'duration': {
      const ms = parseDurationMs(raw);
      if (ms === undefined || ms <= 0) throw bad('a positive duration such as 500ms, 30s or 5m');
      return ms;
    }
    case 'duration-or-off': {
      if (raw === 'off' || raw === '0') return 0;
      const ms = parseDurationMs(raw);
      if (ms === undefined || ms <= 0) throw bad('off or a positive duration such as 30s or 5m');
      return ms;
    }
    case 'bytes': {
      const bytes = parseBytes(raw);
      if (bytes === undefined || bytes < 64) throw bad('a size of at least 64 bytes such as 65536, 64k or 1m');
      return bytes;
    }
    case 'count': {
      const n = Number(raw);
      if (!/^\d+$/.test(raw) || n < 1 || n > 1_000_000_000) throw bad('a whole number from 1 to 1000000000');
      return n;
    }
    case 'bool':
      if (raw === '' || raw === 'true' || raw === '1') return true;
      if (raw === 'false' || raw === '0') return false;
      throw bad('true or false');
  }
  throw bad('valid');
}

/**
 * Reads options from argv (`--flag value`, `--flag=value`, `--bool-flag`) over LOCKD_* variables
 * over the defaults, and checks that they agree with each other. Throws ConfigError with one line.
 */
export function resolveServerOptions(argv: readonly string[], env: NodeJS.ProcessEnv = {}): ServerOptions {
  const options: ServerOptions = { ...DEFAULT_SERVER_OPTIONS };
  const given = new Set<keyof ServerOptions>();
  const set = (spec: OptionSpec, raw: string, source: string) => {
    (options as unknown as Record<string, unknown>)[spec.key] = parseValue(spec, raw, source);
    given.add(spec.key);
  };
  for (const spec of SERVER_OPTION_SPECS) {
    const raw = env[envNameOf(spec.flag)];
    if (raw !== undefined) set(spec, raw, envNameOf(spec.flag));
  }
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const match = /^--([a-z-]+)(?:=(.*))?$/.exec(arg);
    const spec = match && SERVER_OPTION_SPECS.find((s) => s.flag === match[1]);
    if (!match || !spec) throw new ConfigError(`unknown argument ${JSON.stringify(arg)} (see --help)`);
    let raw = match[2];
    if (raw === undefined) {
      if (spec.kind === 'bool') raw = 'true';
      else if (i + 1 < argv.length) raw = argv[++i];
      else throw new ConfigError(`--${spec.flag} needs a value`);
    }
    set(spec, raw, `--${spec.flag}`);
  }
  if (options.etcd !== undefined) {
    // In cluster mode etcd holds the state: a data dir option would be silently ignored.
    const local = (['dataDir', 'inMemory', 'fsync', 'forceRecovery'] as const).find((key) => given.has(key));
    if (local !== undefined) {
      const flag = SERVER_OPTION_SPECS.find((spec) => spec.key === local)!.flag;
      throw new ConfigError(`--${flag} does not apply with --etcd: a cluster node keeps its state in etcd, not in a data dir`);
    }
  }
  return validateServerOptions(options);
}

/** Checks the cross-field rules; returns the same options. */
export function validateServerOptions(options: ServerOptions): ServerOptions {
  const d = formatDurationMs;
  if (options.minTtlMs > options.maxTtlMs) {
    throw new ConfigError(`--min-ttl ${d(options.minTtlMs)} is above --max-ttl ${d(options.maxTtlMs)}`);
  }
  if (options.defaultTtlMs < options.minTtlMs || options.defaultTtlMs > options.maxTtlMs) {
    throw new ConfigError(
      `--default-ttl ${d(options.defaultTtlMs)} is outside --min-ttl ${d(options.minTtlMs)} .. --max-ttl ${d(options.maxTtlMs)}`,
    );
  }
  if (options.seedLockTtlMs !== 0 && (options.seedLockTtlMs < options.minTtlMs || options.seedLockTtlMs > options.maxTtlMs)) {
    throw new ConfigError(`--seed-lock-ttl ${d(options.seedLockTtlMs)} is outside --min-ttl ${d(options.minTtlMs)} .. --max-ttl ${d(options.maxTtlMs)}`);
  }
  if (options.maxTtlMs > 2 ** 31 - 1) throw new ConfigError(`--max-ttl must be at most ${2 ** 31 - 1}ms (about 24 days)`);
  if ((options.tlsCert === undefined) !== (options.tlsKey === undefined)) {
    throw new ConfigError(options.tlsCert === undefined ? '--tls-key needs --tls-cert' : '--tls-cert needs --tls-key');
  }
  if (options.tlsCa !== undefined && options.tlsCert === undefined) {
    throw new ConfigError('--tls-ca needs --tls-cert and --tls-key: client certificates are checked in the TLS handshake');
  }
  if (options.defaultListLimit > options.maxListLimit) {
    throw new ConfigError(`--default-list-limit ${options.defaultListLimit} is above --max-list-limit ${options.maxListLimit}`);
  }
  return options;
}

/** The --help text, generated from the flag table. */
export function serverUsage(): string {
  const lines = ['usage: lockd [flags]', ''];
  for (const spec of SERVER_OPTION_SPECS) {
    const value = DEFAULT_SERVER_OPTIONS[spec.key];
    const shown =
      spec.kind === 'duration'
        ? d(value as number)
        : spec.kind === 'duration-or-off'
          ? value === 0 ? 'off' : d(value as number)
          : spec.kind === 'port-or-off' && value === -1
            ? 'off'
            : spec.kind === 'bytes'
              ? formatBytes(value as number)
              : value === undefined
              ? 'none'
              : String(value);
    lines.push(`  --${spec.flag.padEnd(20)} ${spec.help} (default ${shown}; env ${envNameOf(spec.flag)})`);
  }
  return lines.join('\n');
}

const d = formatDurationMs;

/** 8388608 -> "8m", 65536 -> "64k": sizes as --help shows them (and as the flags accept them). */
function formatBytes(bytes: number): string {
  if (bytes % (1024 * 1024) === 0) return `${bytes / (1024 * 1024)}m`;
  if (bytes % 1024 === 0) return `${bytes / 1024}k`;
  return String(bytes);
}
