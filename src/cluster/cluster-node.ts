/**
 * One lockd node of a cluster, wired: etcd client, node session, journal, partition manager,
 * cluster backend, and the periodic compaction of etcd's history. main.ts builds this instead of
 * a LocalBackend when --etcd is given, serves `backend`, and calls `stop()` on shutdown.
 */
import type { Etcd3 } from 'etcd3';
import { ConfigError, UnavailableError } from '../errors';
import type { TableLimits } from '../table/lock-table';
import type { Clock } from '../table/types';
import { ClusterBackend } from './cluster-backend';
import { createEtcdClient, MemberClients } from './etcd-client';
import { EtcdTxnChannel } from './etcd-txn-channel';
import { compactEtcdHistory, EtcdJournal } from './etcd-journal';
import { ClusterKeys } from './keys';
import { NodeSession } from './node-session';
import type { ClusterOptions } from './options';
import { PartitionManager } from './partition-manager';

/** The cluster's fixed parameters, written once by the first node (config key). */
export interface ClusterConfig {
  version: 1;
  partitions: number;
  fenceBase: number;
}

export interface ClusterNode {
  readonly backend: ClusterBackend;
  readonly manager: PartitionManager;
  readonly session: NodeSession;
  readonly journal: EtcdJournal;
  readonly client: Etcd3;
  readonly config: ClusterConfig;
  /** Hands every partition back, revokes the node lease, closes the etcd client. */
  stop(): Promise<void>;
}

/** Where a node reports what happened; a winston logger fits (`logger.log(level, message, fields)`). */
export interface ClusterLog {
  log(level: 'error' | 'warn' | 'info' | 'debug', message: string, fields?: Record<string, unknown>): void;
}

/** etcd errors are logged at most this often (the journal retries them; one line says etcd is slow or away). */
const ETCD_ERROR_LOG_INTERVAL_MS = 5_000;

/** Extra knobs, mostly for tests. */
export interface ClusterNodeTuning {
  claimGraceMs?: number;
  settleMs?: number;
  reconcileMs?: number;
}

/**
 * Joins the cluster: reads (or, first, writes) its config, registers this node, claims its
 * partitions. Throws ConfigError when the cluster was created with another partition count.
 */
export async function startClusterNode(
  options: ClusterOptions,
  limits: TableLimits,
  clock: Clock,
  tuning: ClusterNodeTuning = {},
  log: ClusterLog = { log() {} },
): Promise<ClusterNode> {
  const client = createEtcdClient(options.etcdEndpoints, options.etcdCallTimeoutMs);
  // Replays, snapshots and claims on connections of their own (see JournalOptions.bulkClient).
  const bulkClient = createEtcdClient(options.etcdEndpoints, options.etcdCallTimeoutMs, 'bulk');
  // Keep-alives stay on one member and move on when it stalls (a paused etcd leader).
  const sessionMembers = new MemberClients(options.etcdEndpoints, options.etcdCallTimeoutMs, 'session');
  const appends = new EtcdTxnChannel(options.etcdEndpoints, options.etcdCallTimeoutMs);
  const closeClients = () => {
    appends.close();
    sessionMembers.close();
    bulkClient.close();
    client.close();
  };
  try {
    const keys = new ClusterKeys(options.cluster);
    const config = await retryUntil(options.etcdStartupTimeoutMs, () => readOrCreateConfig(client, keys, options.partitions));
    const session = new NodeSession(client, keys, { nodeId: options.nodeId, advertise: options.advertise, nodeTtlMs: options.nodeTtlMs, keepAliveMembers: sessionMembers });
    const journal = new EtcdJournal(client, keys, {
      deadline: () => session.deadline,
      compactLogEntries: options.compactLogEntries,
      compactLogBytes: options.compactLogBytes,
      bulkClient,
      appendClient: appends,
    });
    let backend: ClusterBackend | undefined;
    const manager = new PartitionManager(
      client,
      keys,
      session,
      journal,
      {
        adopt: (p, replay) => {
          backend!.adopt(p, replay);
          log.log('info', 'partition claimed', { partition: p, leases: replay.leases.length, snapshotLeases: replay.snapshotLeases, logEntries: replay.logEntries, nextSeq: replay.nextSeq });
        },
        evict: (p, reason) => {
          backend?.evict(p, reason);
          log.log('info', 'partition left this node', { partition: p, reason });
        },
      },
      { nodeId: options.nodeId, partitions: config.partitions, ...tuning, claimClient: bulkClient },
    );
    backend = new ClusterBackend(limits, journal, manager, clock, {
      nodeId: options.nodeId,
      partitions: config.partitions,
      fenceBase: config.fenceBase,
      maxClockSkewMs: options.maxClockSkewMs,
    });
    let etcdErrorLoggedAt = -Infinity;
    journal.addListener({
      partitionLost: (p, reason) => log.log('warn', 'partition lost', { partition: p, reason }),
      batchCommitted: (p, seq, claimRev, how) => log.log('debug', 'journal batch committed', { partition: p, seq, claimRev, how }),
      etcdError: (error) => {
        if (performance.now() - etcdErrorLoggedAt < ETCD_ERROR_LOG_INTERVAL_MS) return;
        etcdErrorLoggedAt = performance.now();
        log.log('warn', 'etcd is slow or unreachable; journal writes are retried until the ownership deadline', { error: error.message });
      },
    });
    session.onEnd((why) => why !== 'closed' && log.log('warn', 'node session ended: this node stopped answering for its partitions and will rejoin', { why }));
    log.log('info', 'joining cluster', { cluster: options.cluster, nodeId: options.nodeId, partitions: config.partitions, etcd: options.etcdEndpoints });
    // One node compacts etcd's history: the owner of partition 0 (any node would be correct; one saves work).
    const compactor = setInterval(() => {
      if (!manager.serves(0)) return;
      compactEtcdHistory(client, keys, options.historyRetainRevisions).then(
        (revision) => revision !== undefined && log.log('debug', 'etcd history compacted', { revision }),
        (error: Error) => log.log('warn', 'etcd history compaction failed; retried at the next interval', { error: error.message }),
      );
    }, options.historyCompactIntervalMs);
    compactor.unref();
    await manager.start();
    const node: ClusterNode = {
      backend,
      manager,
      session,
      journal,
      client,
      config,
      async stop() {
        clearInterval(compactor);
        await manager.stop();
        await backend!.close();
        await session.close();
        closeClients();
      },
    };
    return node;
  } catch (error) {
    closeClients();
    throw error;
  }
}

/** Runs `attempt` until it succeeds or `timeoutMs` passed; a ConfigError is final at once. */
async function retryUntil<T>(timeoutMs: number, attempt: () => Promise<T>): Promise<T> {
  const giveUpAt = performance.now() + timeoutMs;
  for (;;) {
    try {
      return await attempt();
    } catch (error) {
      if (error instanceof ConfigError) throw error;
      if (performance.now() >= giveUpAt) {
        throw new UnavailableError(`etcd did not answer within ${timeoutMs} ms (--etcd endpoints reachable?): ${(error as Error).message}`, { cause: error });
      }
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  }
}

async function readOrCreateConfig(client: Etcd3, keys: ClusterKeys, partitions: number): Promise<ClusterConfig> {
  const key = Buffer.from(keys.config);
  const wanted: ClusterConfig = { version: 1, partitions, fenceBase: 0 };
  const response = await client.kv.txn({
    compare: [{ key, target: 'Create', result: 'Equal', create_revision: 0 }],
    success: [{ request_put: { key, value: Buffer.from(JSON.stringify(wanted)) } }],
    failure: [{ request_range: { key } }],
  });
  if (response.succeeded) return wanted;
  const existing = JSON.parse(response.responses[0].response_range.kvs[0].value.toString()) as ClusterConfig;
  if (existing.partitions !== partitions) {
    throw new ConfigError(`cluster ${JSON.stringify(keys.cluster)} was created with --partitions ${existing.partitions}; this node asks for ${partitions} (the count is fixed at bootstrap)`);
  }
  return existing;
}
