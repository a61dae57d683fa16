/**
 * A real lockd (LockdServer on a real socket, port 0) inside the test process, plus stubs
 * connected to it. Everything started is tracked and stopped by stopAll().
 */
import winston from 'winston';
import { LocalBackend } from '../../src/backend/local-backend';
import { LockServiceStub } from '../../src/client/service-stub';
import { ThriftConnection } from '../../src/client/thrift-connection';
import { DEFAULT_SERVER_OPTIONS, ServerOptions, validateServerOptions } from '../../src/options';
import { LockdServer, ServerSecurity } from '../../src/server/lockd-server';
import { MemoryStore } from '../../src/store/store';
import { systemClock } from '../../src/table/types';

export interface InProcessLockd {
  port: number;
  server: LockdServer;
  backend: LocalBackend;
  options: ServerOptions;
  /** A new connection with a typed stub over it. */
  connect(): Promise<LockServiceStub>;
}

const servers: LockdServer[] = [];
const connections: ThriftConnection[] = [];

/**
 * Test defaults: loopback, any port, short minimum TTL so expiry tests stay quick. `extras` give
 * a logger to read (default: silent) and TLS or an auth file (test/auth/secure-lockd.ts).
 */
export async function startInProcess(overrides: Partial<ServerOptions> = {}, extras: { logger?: winston.Logger; security?: ServerSecurity } = {}): Promise<InProcessLockd> {
  const options = validateServerOptions({ ...DEFAULT_SERVER_OPTIONS, host: '127.0.0.1', port: 0, inMemory: true, minTtlMs: 20, ...overrides });
  const logger = extras.logger ?? winston.createLogger({ level: 'error', silent: true, transports: [new winston.transports.Console()] });
  const backend = new LocalBackend(options, new MemoryStore(), systemClock, false);
  await backend.open();
  const server = new LockdServer(options, backend, logger, extras.security);
  servers.push(server);
  const { port } = await server.listen();
  return {
    port,
    server,
    backend,
    options,
    connect: () => connectStub(port, options),
  };
}

/** Connects a stub to a lockd on 127.0.0.1:port. */
export async function connectStub(port: number, options: Pick<ServerOptions, 'transport' | 'protocol'> = DEFAULT_SERVER_OPTIONS): Promise<LockServiceStub> {
  const connection = await ThriftConnection.connect({
    host: '127.0.0.1',
    port,
    transport: options.transport,
    protocol: options.protocol,
    connectTimeoutMs: 5_000,
    maxMessageBytes: 16 * 1024 * 1024,
  });
  connections.push(connection);
  return new LockServiceStub(connection, 10_000);
}

/** Closes every stub and server started through this module. */
export async function stopAll(): Promise<void> {
  for (const connection of connections.splice(0)) connection.close();
  await Promise.all(servers.splice(0).map((server) => server.close()));
}

/** Resolves when `condition` holds, checking on each event-loop turn; rejects after `timeoutMs`. */
export async function until(condition: () => boolean | Promise<boolean>, what: string, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}
