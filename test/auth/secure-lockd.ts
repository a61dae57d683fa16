/**
 * A real LockdServer in the test process (port 0, memory store) with an auth file and, when
 * asked, TLS; plus stubs that connect plainly or over TLS and prove a secret. Everything started
 * is stopped by stopSecure().
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { Writable } from 'node:stream';
import winston from 'winston';
import { AuthFile } from '../../src/auth/auth-file';
import { sha256Hex } from '../../src/auth/secrets';
import type { LocalBackend } from '../../src/backend/local-backend';
import { LockServiceStub } from '../../src/client/service-stub';
import { ThriftConnection } from '../../src/client/thrift-connection';
import type { ProtocolKind } from '../../src/options';
import type { LockdServer } from '../../src/server/lockd-server';
import { TlsCertificates } from '../../src/server/tls';
import type { CertFiles } from '../helpers/certs';
import { startInProcess, stopAll } from '../helpers/in-process-lockd';

/** One log line the server wrote. */
export type LogLine = { level: string; message: string; [key: string]: unknown };

/** A logger that keeps every line (as parsed JSON), for assertions on warnings. */
function memoryLogger(): { logger: winston.Logger; lines: LogLine[] } {
  const lines: LogLine[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(JSON.parse(chunk.toString('utf8')) as LogLine);
      done();
    },
  });
  const logger = winston.createLogger({ level: 'debug', format: winston.format.json(), transports: [new winston.transports.Stream({ stream })] });
  return { logger, lines };
}

export interface SecureLockd {
  port: number;
  server: LockdServer;
  backend: LocalBackend;
  authFile: AuthFile | undefined;
  authPath: string | undefined;
  protocol: ProtocolKind;
  logs: LogLine[];
  /** Rewrites the auth file and resolves once the server reloaded it (by its file watch). */
  rewriteAuthFile(json: unknown): Promise<void>;
  /** A new connection; `tlsFiles` for a TLS one (ca, and a client certificate when given). */
  connect(options?: { ca?: string; client?: CertFiles }): Promise<LockServiceStub>;
  /** Stops this server (its connections end with it). */
  stop(): Promise<void>;
}

export interface SecureOptions {
  /** The auth file's JSON; undefined runs without --auth-file. */
  auth?: unknown;
  protocol?: ProtocolKind;
  /** Serve TLS with these files. */
  tls?: { cert: string; key: string; ca?: string };
}

const connections: ThriftConnection[] = [];
const closers: Array<() => void> = [];
const dirs: string[] = [];

export async function startSecure(opts: SecureOptions): Promise<SecureLockd> {
  const protocol = opts.protocol ?? 'binary';
  const { logger, lines } = memoryLogger();
  let authFile: AuthFile | undefined;
  let authPath: string | undefined;
  if (opts.auth !== undefined) {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lockd-auth-'));
    dirs.push(dir);
    authPath = path.join(dir, 'auth.json');
    fs.writeFileSync(authPath, JSON.stringify(opts.auth));
    authFile = new AuthFile(authPath, logger);
    authFile.watch();
    closers.push(() => authFile!.close());
  }
  const certificates = opts.tls && new TlsCertificates({ cert: opts.tls.cert, key: opts.tls.key, ca: opts.tls.ca }, logger);
  const { port, server, backend } = await startInProcess({ protocol }, { logger, security: { authFile, tls: certificates } });
  return {
    port,
    server,
    backend,
    authFile,
    authPath,
    protocol,
    logs: lines,
    rewriteAuthFile(json) {
      const reloaded = new Promise<void>((resolve) => authFile!.onReload(() => resolve()));
      fs.writeFileSync(authPath!, JSON.stringify(json));
      return reloaded;
    },
    connect: (tlsFiles) => connectStub(port, protocol, tlsFiles),
    stop: async () => {
      authFile?.close();
      await server.close();
    },
  };
}

/** A stub on a new connection to 127.0.0.1:port, over TLS when `tlsFiles` is given. */
export async function connectStub(port: number, protocol: ProtocolKind, tlsFiles?: { ca?: string; client?: CertFiles }): Promise<LockServiceStub> {
  const tlsOptions: tls.ConnectionOptions | undefined =
    tlsFiles &&
    ({
      ca: tlsFiles.ca && fs.readFileSync(tlsFiles.ca),
      cert: tlsFiles.client && fs.readFileSync(tlsFiles.client.cert),
      key: tlsFiles.client && fs.readFileSync(tlsFiles.client.key),
    } as tls.ConnectionOptions);
  const connection = await ThriftConnection.connect({
    host: '127.0.0.1',
    port,
    transport: 'buffered',
    protocol,
    connectTimeoutMs: 5_000,
    maxMessageBytes: 16 * 1024 * 1024,
    tls: tlsOptions,
  });
  connections.push(connection);
  return new LockServiceStub(connection, 10_000);
}

/** The auth-file form of a secret. */
export function hashOf(secret: string): string {
  return sha256Hex(secret);
}

export async function stopSecure(): Promise<void> {
  for (const connection of connections.splice(0)) connection.close();
  for (const close of closers.splice(0)) close();
  await stopAll();
  for (const dir of dirs.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
}
