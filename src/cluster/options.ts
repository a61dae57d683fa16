/**
 * Options of cluster mode (issue 13), their defaults and their environment variables, in one
 * place. src/options.ts (the server's options) takes these over when cluster mode is wired in:
 * `--etcd` turns it on; without it lockd is the single process it is today.
 */
import { ConfigError } from '../errors';
import { DEFAULT_SERVER_OPTIONS } from '../options';

export interface ClusterOptions {
  /** etcd client endpoints (`http://host:port`). Required for cluster mode; env LOCKD_ETCD (comma-separated). */
  etcdEndpoints: string[];
  /** Cluster name: every key lockd keeps in etcd is under `/lockd/<cluster>/`. Default `lockd`; env LOCKD_CLUSTER. */
  cluster: string;
  /** This node's id, unique in the cluster. Default `<hostname>:<port>` (the caller fills it); env LOCKD_NODE_ID. */
  nodeId: string;
  /** host:port other nodes and clients reach this node at. Default: the listen address; env LOCKD_ADVERTISE. */
  advertise: string;
  /**
   * Partitions the key space is cut into, fixed when the cluster is first started (a node with
   * another value refuses to start). Default 64: enough to spread over dozens of nodes, few
   * enough that a claim of all of them is a handful of txns (etcd's --max-txn-ops is 128).
   */
  partitions: number;
  /**
   * TTL of this node's etcd lease, in ms (etcd counts whole seconds and may raise it to its
   * 2 s floor). Default 5000: an etcd leader election (1.5-2.5 s measured) does not make a node
   * step down, and a dead node's partitions move within ~5.5 s.
   */
  nodeTtlMs: number;
  /**
   * How long a starting node keeps trying to reach etcd before it gives up, in ms. Default
   * 30 s: etcd members started at the same time as lockd need a few seconds to elect a leader.
   */
  etcdStartupTimeoutMs: number;
  /** Deadline of each etcd call, in ms. Default 2000 (at most half the node TTL): a paused member fails fast and calls move on to the next. */
  etcdCallTimeoutMs: number;
  /**
   * Margin added to the expiry of leases a new owner replays, in ms: the wall clocks of lockd
   * nodes may differ by this much. Default 500 (lockd nodes must run NTP).
   */
  maxClockSkewMs: number;
  /** A partition's log is compacted into a snapshot past this many entries. Default 10,000. */
  compactLogEntries: number;
  /**
   * ...or past this many bytes of log, or twice its snapshot's size if that is more: a failover
   * replays the log, so it is kept short, but a snapshot rewrites the partition's live leases, so
   * a partition with many is compacted less often. Default 16 KiB (~200 entries, so a claim's own
   * txn reads the whole log: at 64 KiB a failover right after heavy load replayed 400-750 entries
   * per partition in reads of their own, and its first grant came 7.2-8.7 s after the kill, against
   * 6.1 s now).
   */
  compactLogBytes: number;
  /** etcd revisions of history kept when lockd compacts etcd's keyspace. Default 10,000. */
  historyRetainRevisions: number;
  /** How often one node compacts etcd's history, in ms. Default 30 s (etcd's own auto-compaction runs every 5 min). */
  historyCompactIntervalMs: number;
}

/** Defaults of every option that has one. */
export const CLUSTER_DEFAULTS = Object.freeze({
  // The three a user sets are server flags: their defaults live with the others in src/options.ts.
  cluster: DEFAULT_SERVER_OPTIONS.cluster,
  partitions: DEFAULT_SERVER_OPTIONS.partitions,
  nodeTtlMs: DEFAULT_SERVER_OPTIONS.nodeTtlMs,
  etcdCallTimeoutMs: 2_000,
  etcdStartupTimeoutMs: 30_000,
  maxClockSkewMs: 500,
  compactLogEntries: 10_000,
  compactLogBytes: 16 * 1024,
  historyRetainRevisions: 10_000,
  historyCompactIntervalMs: 30_000,
});

/** Environment variables of the options a user sets most. */
export const CLUSTER_ENV = Object.freeze({
  etcdEndpoints: 'LOCKD_ETCD',
  cluster: 'LOCKD_CLUSTER',
  nodeId: 'LOCKD_NODE_ID',
  advertise: 'LOCKD_ADVERTISE',
});

/** Most partitions allowed: a published fence carries the partition in its low bits (see partitions.ts). */
export const MAX_PARTITIONS = 4096;
const CLUSTER_NAME = /^[A-Za-z0-9._-]{1,64}$/;

/**
 * Fills defaults over `partial` (flags already parsed, then the environment) and validates.
 * Throws ConfigError naming the bad option.
 */
export function resolveClusterOptions(
  partial: Partial<ClusterOptions> & { nodeId: string; advertise: string },
  env: NodeJS.ProcessEnv = process.env,
): ClusterOptions {
  const endpoints = partial.etcdEndpoints ?? parseEndpoints(env[CLUSTER_ENV.etcdEndpoints] ?? '');
  const nodeTtlMs = partial.nodeTtlMs ?? CLUSTER_DEFAULTS.nodeTtlMs;
  const options: ClusterOptions = {
    ...CLUSTER_DEFAULTS,
    // A call must be able to fail over to another etcd member well within the node TTL.
    etcdCallTimeoutMs: Math.min(CLUSTER_DEFAULTS.etcdCallTimeoutMs, Math.floor(nodeTtlMs / 2)),
    cluster: env[CLUSTER_ENV.cluster] ?? CLUSTER_DEFAULTS.cluster,
    ...partial,
    etcdEndpoints: endpoints,
    nodeId: partial.nodeId || env[CLUSTER_ENV.nodeId] || '',
    advertise: partial.advertise || env[CLUSTER_ENV.advertise] || '',
  };
  if (options.etcdEndpoints.length === 0) throw new ConfigError('--etcd needs at least one endpoint, e.g. --etcd http://127.0.0.1:2379');
  for (const endpoint of options.etcdEndpoints) {
    if (!/^https?:\/\/[^/\s]+$/.test(endpoint)) throw new ConfigError(`--etcd endpoint ${JSON.stringify(endpoint)} must look like http://host:port`);
  }
  if (!CLUSTER_NAME.test(options.cluster)) throw new ConfigError(`--cluster must be 1..64 of A-Z a-z 0-9 . _ -, got ${JSON.stringify(options.cluster)}`);
  if (options.nodeId === '' || options.nodeId.includes('/')) throw new ConfigError(`--node-id must be non-empty and contain no '/', got ${JSON.stringify(options.nodeId)}`);
  if (!/^[^\s:]+:\d{1,5}$/.test(options.advertise)) throw new ConfigError(`--advertise must be host:port, got ${JSON.stringify(options.advertise)}`);
  if (!Number.isInteger(options.partitions) || options.partitions < 1 || options.partitions > MAX_PARTITIONS) {
    throw new ConfigError(`--partitions must be an integer 1..${MAX_PARTITIONS}, got ${options.partitions}`);
  }
  if (!(options.nodeTtlMs >= 2_000 && options.nodeTtlMs <= 600_000)) throw new ConfigError(`--node-ttl must be 2 s..10 min (etcd's lease floor is 2 s), got ${options.nodeTtlMs} ms`);
  if (!(options.etcdCallTimeoutMs >= 100 && options.etcdCallTimeoutMs < options.nodeTtlMs)) {
    throw new ConfigError(`the etcd call timeout must be 100 ms..node TTL, got ${options.etcdCallTimeoutMs} ms`);
  }
  return options;
}

/** Splits a comma-separated endpoint list (LOCKD_ETCD, --etcd). */
export function parseEndpoints(list: string): string[] {
  return list
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
}
