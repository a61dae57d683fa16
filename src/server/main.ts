/**
 * lockd's entry point: reads flags and LOCKD_* variables, opens the store, listens, prints
 * `lockd listening on HOST:PORT` on stdout once connections are accepted, and stops cleanly on
 * SIGTERM/SIGINT. Invalid configuration exits 2 with a one-line reason.
 */
import type { Backend } from '../backend/backend';
import { LocalBackend } from '../backend/local-backend';
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
  let backend: LocalBackend;
  try {
    const store: LeaseStore = options.inMemory
      ? new MemoryStore()
      : new FileStore({
          dataDir: options.dataDir,
          fsync: options.fsync,
          forceRecovery: options.forceRecovery,
          logger,
        });
    backend = new LocalBackend(options, store, monotonicClock, !options.inMemory, { forceReleaseHistory: options.forceReleaseHistory });
    if (options.inMemory) logger.warn('IN-MEMORY MODE: no lock state is kept on disk; a restart forgets every lock and may hand a held lock to a second client');
    const { restored, summary } = await backend.open();
    logger.info('store opened', { summary, restoredLeases: restored });
  } catch (error) {
    process.stderr.write(`lockd: ${error instanceof LockdError ? error.message : String(error)}\n`);
    process.exit(1);
  }
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
            draining: () => backend.drainStatus().draining,
          },
        )
      : undefined;
  const frontBackend: Backend = metrics ? new MeteredBackend(backend, metrics) : backend;
  server = new LockdServer(options, frontBackend, logger);
  if (httpOn) http = new HttpApi({ backend: frontBackend, logger, options, metrics });
  // Handlers go in before the ready line: a supervisor may send SIGTERM the moment it reads it,
  // and without a handler the default action kills the process by signal instead of exit 0.
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info('stopping', { signal });
    (http?.close() ?? Promise.resolve()).then(() => server.close()).then(
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

  if (http !== undefined) {
    const httpAddress = await http.listen().catch((error: NodeJS.ErrnoException) => {
      const hint = error.code === 'EADDRINUSE' ? ' (another process listens there: pick another port with --http-port)' : '';
      process.stderr.write(`lockd: cannot listen for HTTP on ${options.httpHost}:${options.httpPort}: ${error.message}${hint}\n`);
      process.exit(1);
    });
    // Before the ready line: once a supervisor reads that, every listener answers.
    process.stdout.write(`lockd http listening on ${httpAddress.address}:${httpAddress.port}\n`);
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
}

main(process.argv.slice(2)).catch((error) => {
  process.stderr.write(`lockd: ${error instanceof Error ? error.stack : String(error)}\n`);
  process.exit(1);
});
