/**
 * lockd's entry point: reads flags and LOCKD_* variables, opens the store, listens, prints
 * `lockd listening on HOST:PORT` on stdout once connections are accepted, and stops cleanly on
 * SIGTERM/SIGINT. Invalid configuration exits 2 with a one-line reason.
 */
import net from 'node:net';
import os from 'node:os';
import { PartitionRouting } from '../cluster/cluster-routing';
import type { ClusterNode } from '../cluster/cluster-node';
import { type ClusterOptions, parseEndpoints, resolveClusterOptions } from '../cluster/options';
import { AuthFile } from '../auth/auth-file';
import type { Backend } from '../backend/backend';
import { LocalBackend } from '../backend/local-backend';
import { authorizeWithPermissions } from '../http/authorize';
import { HttpApi } from '../http/http-api';
import { LockMetrics } from '../metrics/lock-metrics';
import { MeteredBackend } from '../metrics/metered-backend';
import { ConfigError, LockdError } from '../errors';
import { resolveServerOptions, ServerOptions, serverUsage } from '../options';
import { FileStore } from '../store/file-store';
import { LeaseStore, MemoryStore } from '../store/store';
import { monotonicClock } from '../table/types';
import { LockdServer } from './lockd-server';
import { createLogger } from './logger';
import { TlsCertificates } from './tls';
import { LOCKD_VERSION } from '../version';

async function main(argv: string[]): Promise<void> {
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(`${serverUsage()}\n`);
    return;
  }
  if (argv.includes('--version')) {
    process.stdout.write(`lockd ${LOCKD_VERSION}\n`);
    return;
  }
  let options: ServerOptions;
  try {
    options = resolveServerOptions(argv, process.env);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    process.stderr.write(`lockd: ${error.message}\n`);
    process.exit(2);
  }
  const logger = createLogger(options.logLevel, options.logFormat);
  const security = loadSecurity(options, logger);
  // Cluster mode keeps the state in etcd; otherwise this process's own store does.
  const cluster = options.etcd === undefined ? undefined : await joinCluster(options, logger, security.tls);
  const backend: Backend = cluster?.node.backend ?? (await openLocalBackend(options, logger));
  // Operations: metrics wrap the backend the front ends use (only when the HTTP listener serves them).
  const httpOn = options.httpPort >= 0;
  let http: HttpApi | undefined;
  let server: LockdServer | undefined;
  const metrics =
    httpOn && options.metrics
      ? new LockMetrics(
          {
            prefixDepth: options.metricsPrefixDepth,
            maxPrefixes: options.metricsMaxPrefixes,
            onPrefixOverflow: (prefix) =>
              logger.warn('metrics: more distinct key prefixes than --metrics-max-prefixes; further ones are counted as prefix="_other"', {
                limit: options.metricsMaxPrefixes,
                depth: options.metricsPrefixDepth,
                firstFolded: prefix,
              }),
          },
          {
            leases: () => backend.stats().leases,
            waiters: () => backend.stats().waiters,
            connections: () => server?.connectionCount ?? 0,
            httpWaits: () => http?.gateway.waiting ?? 0,
            draining: () => backend.drainStatus?.().draining ?? false,
          },
        )
      : undefined;
  const frontBackend: Backend = metrics ? new MeteredBackend(backend, metrics) : backend;
  server = new LockdServer(options, frontBackend, logger, security, cluster?.routing);
  // Leases that end without their holder's release, at info with key, owner and fence (never
  // the token); a closed connection's ephemeral leases at debug, with the connection's own line.
  backend.addListener({
    leaseLost: (key, owner, fence, reason) => {
      if (reason === 'session-closed') {
        if (logger.isDebugEnabled()) logger.debug('lease ended with its connection', { key, owner, fence });
      } else {
        logger.info(reason === 'expired' ? 'lease expired' : `lease ended: ${reason}`, { key, owner, fence });
      }
    },
  });
  const authFile = security.authFile;
  // The permissions file governs the HTTP API too (Basic credentials), re-read at every request.
  const authorize = authFile === undefined ? undefined : authorizeWithPermissions(() => authFile.permissions);
  if (httpOn) http = new HttpApi({ backend: frontBackend, logger, options, metrics, authorize, routing: cluster?.routing });
  // Handlers go in before the ready line: a supervisor may send SIGTERM the moment it reads it,
  // and without a handler the default action kills the process by signal instead of exit 0.
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info('stopping', { signal });
    security.authFile?.close();
    security.tls?.close();
    (http?.close() ?? Promise.resolve())
      .then(() => server.close())
      // A cluster node hands its partitions back before it goes: others take them at once, not after its TTL.
      .then(() => cluster?.node.stop())
      .then(
      () => {
        logger.info('stopped');
        process.exit(0);
      },
      (error: Error) => {
        logger.error('unclean stop', { error: error.message });
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  // SIGHUP reloads the auth and TLS files (they are also watched); it never stops lockd.
  process.on('SIGHUP', () => {
    if (security.authFile === undefined && security.tls === undefined) logger.info('SIGHUP: nothing to reload (no --auth-file, no --tls-cert)');
    security.authFile?.reload('SIGHUP');
    security.tls?.reload('SIGHUP');
  });
  security.authFile?.watch();
  security.tls?.watch();

  if (http !== undefined) {
    const httpAddress = await http.listen().catch((error: NodeJS.ErrnoException) => {
      const hint = error.code === 'EADDRINUSE' ? ' (another process listens there: pick another port with --http-port)' : '';
      process.stderr.write(`lockd: cannot listen for HTTP on ${options.httpHost}:${options.httpPort}: ${error.message}${hint}\n`);
      process.exit(1);
    });
    // Before the ready line: once a supervisor reads that, every listener answers.
    process.stdout.write(`lockd http listening on ${httpAddress.address}:${httpAddress.port}\n`);
    server.httpPort = httpAddress.port;
  }
  const address = await server.listen().catch((error: NodeJS.ErrnoException) => {
    const hint =
      error.code === 'EADDRINUSE'
        ? ` (another process listens there, perhaps another lockd: stop it, or pick another port with --port)`
        : error.code === 'EACCES'
          ? ' (ports below 1024 need privileges: pick another with --port)'
          : '';
    process.stderr.write(`lockd: cannot listen on ${options.host}:${options.port}: ${error.message}${hint}\n`);
    process.exit(1);
  });
  logger.info('lockd started', { config: options });
  process.stdout.write(`lockd listening on ${address.address}:${address.port}\n`);
  announceExposure(address.address, options, server.secure, logger);
}

/** The single-process backend over --data-dir (or memory); a store that cannot be opened exits 1. */
async function openLocalBackend(options: ServerOptions, logger: ReturnType<typeof createLogger>): Promise<LocalBackend> {
  try {
    const store: LeaseStore = options.inMemory
      ? new MemoryStore()
      : new FileStore({
          dataDir: options.dataDir,
          fsync: options.fsync,
          forceRecovery: options.forceRecovery,
          logger,
        });
    const backend = new LocalBackend(options, store, monotonicClock, !options.inMemory, { forceReleaseHistory: options.forceReleaseHistory });
    if (options.inMemory) logger.warn('IN-MEMORY MODE: no lock state is kept on disk; a restart forgets every lock and may hand a held lock to a second client');
    const { restored, summary } = await backend.open();
    logger.info('store opened', { summary, restoredLeases: restored });
    return backend;
  } catch (error) {
    process.stderr.write(`lockd: ${error instanceof LockdError ? error.message : String(error)}\n`);
    process.exit(1);
  }
}

/**
 * How long a call waits for its key's partition to find a new owner before UNAVAILABLE: the
 * owner's etcd lease runs out (node TTL), a node claims the free partition (claim grace, 2 s),
 * plus 2 s for the claim and replay.
 */
const FAILOVER_WAIT_MS = (nodeTtlMs: number) => nodeTtlMs + 4_000;

/** A cluster node and the routing its server forwards by. */
interface JoinedCluster {
  readonly node: ClusterNode;
  readonly routing: PartitionRouting;
}

/**
 * Cluster mode: joins the cluster in etcd (its partitions claimed and replayed) before the port
 * opens. Bad cluster flags exit 2; an etcd that does not answer in time exits 1.
 */
async function joinCluster(options: ServerOptions, logger: ReturnType<typeof createLogger>, tls: TlsCertificates | undefined): Promise<JoinedCluster> {
  let clusterOptions: ClusterOptions;
  try {
    const wildcard = options.host === '0.0.0.0' || options.host === '::';
    if (options.advertise === undefined && (wildcard || options.port === 0)) {
      throw new ConfigError(`cluster mode needs --advertise host:port when --host is a wildcard or --port is 0 (other nodes and clients connect there)`);
    }
    clusterOptions = resolveClusterOptions(
      {
        etcdEndpoints: parseEndpoints(options.etcd ?? ''),
        cluster: options.cluster,
        nodeId: options.nodeId ?? `${os.hostname()}:${options.port}`,
        advertise: options.advertise ?? `${options.host}:${options.port}`,
        partitions: options.partitions,
        nodeTtlMs: options.nodeTtlMs,
      },
      process.env,
    );
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    process.stderr.write(`lockd: ${error.message}\n`);
    process.exit(2);
  }
  try {
    // Loaded only here: etcd3 and gRPC cost ~0.4 s of CPU to load, which every single-node start
    // (a restart with a million leases included) would otherwise pay.
    const { startClusterNode } = await import('../cluster/cluster-node');
    const node = await startClusterNode(clusterOptions, options, monotonicClock, {}, logger);
    const routing = new PartitionRouting(clusterOptions.cluster, node.config.partitions, node.manager, {
      nodeId: clusterOptions.nodeId,
      connectTimeoutMs: clusterOptions.etcdCallTimeoutMs,
      maxMessageBytes: Math.max(options.maxMessageBytes, options.maxListBytes * 2),
      tls: tls && (() => tls.clientOptions()),
    }, FAILOVER_WAIT_MS(clusterOptions.nodeTtlMs), node.session);
    logger.info('joined cluster', { cluster: clusterOptions.cluster, nodeId: clusterOptions.nodeId, advertise: clusterOptions.advertise, partitions: node.manager.owned().length });
    return { node, routing };
  } catch (error) {
    process.stderr.write(`lockd: cannot join the cluster: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(error instanceof ConfigError ? 2 : 1);
  }
}

/** Loads --auth-file and the TLS files; a bad one exits 2 naming the file and the fault. */
function loadSecurity(options: ServerOptions, logger: ReturnType<typeof createLogger>): { authFile?: AuthFile; tls?: TlsCertificates } {
  try {
    const authFile = options.authFile === undefined ? undefined : new AuthFile(options.authFile, logger);
    const tls = options.tlsCert === undefined ? undefined : new TlsCertificates({ cert: options.tlsCert, key: options.tlsKey!, ca: options.tlsCa }, logger);
    return { authFile, tls };
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    process.stderr.write(`lockd: ${error.message}\n`);
    process.exit(2);
  }
}

/**
 * Says who can reach lockd: on loopback, a second stdout line (after the ready line, which
 * scripts parse) explains how to listen wider; on any other address without --auth-file, one
 * warning that anyone who reaches the port may take, release and list every lock.
 */
function announceExposure(address: string, options: ServerOptions, secure: boolean, logger: ReturnType<typeof createLogger>): void {
  const loopback = address === 'localhost' || (net.isIPv4(address) ? address.startsWith('127.') : address === '::1');
  if (loopback) {
    process.stdout.write(`lockd accepts connections from this machine only; --host 0.0.0.0 listens on every interface (with --auth-file and --tls-cert/--tls-key, see docs/security.md)\n`);
    return;
  }
  if (options.authFile === undefined) {
    logger.warn(
      `listening on ${address} without --auth-file: anyone who can reach this port may take, release and list every lock${secure ? '' : ', in clear text'}; add --auth-file${secure ? '' : ' and --tls-cert/--tls-key'} (docs/security.md)`,
    );
  }
}

main(process.argv.slice(2)).catch((error) => {
  process.stderr.write(`lockd: ${error instanceof Error ? error.stack : String(error)}\n`);
  process.exit(1);
});
