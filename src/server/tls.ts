/**
 * TLS on the Thrift port: the certificate, key and (for client certificates) CA files, loaded
 * at start and reloaded without a restart when they change on disk or on SIGHUP. A reload that
 * fails (a half-copied key, a key that does not match its certificate) keeps serving the old
 * ones and logs why. Connections already open keep the context they started with.
 */
import { X509Certificate } from 'node:crypto';
import fs from 'node:fs';
import tls from 'node:tls';
import type winston from 'winston';
import type { PeerCertificateNames } from '../auth/access-control';
import { ConfigError } from '../errors';
import { watchFiles } from '../util/watch-files';

/** The PEM files, as the flags name them. */
export interface TlsFiles {
  /** --tls-cert: the server's certificate chain. */
  readonly cert: string;
  /** --tls-key: its private key. */
  readonly key: string;
  /** --tls-ca: CA certificates client certificates must chain to; when set, every client needs one. */
  readonly ca: string | undefined;
}

/** The oldest protocol offered: TLS 1.0 and 1.1 are broken and off by default in every current client. */
const MIN_TLS_VERSION = 'TLSv1.2';

export class TlsCertificates {
  private context: tls.SecureContextOptions;
  private readonly servers = new Set<tls.Server>();
  private stopWatching: (() => void) | undefined;

  /** Loads and checks the files; throws ConfigError naming the flag and file at fault. */
  constructor(
    readonly files: TlsFiles,
    private readonly logger?: winston.Logger,
  ) {
    this.context = loadContext(files);
    this.describe('TLS certificate loaded');
  }

  /**
   * Options for connecting to another lockd node (cluster links): this node's certificate as the
   * client certificate and --tls-ca as the trust, from the files loaded last (reloads included).
   * Nodes are addressed by --advertise, which need not be a name in their certificates: the CA
   * vouches for them, so the host name is not checked.
   */
  clientOptions(): tls.ConnectionOptions {
    return { cert: this.context.cert, key: this.context.key, ca: this.context.ca, minVersion: MIN_TLS_VERSION, checkServerIdentity: () => undefined };
  }

  /** True when clients must present a certificate signed by --tls-ca. */
  get requiresClientCertificates(): boolean {
    return this.files.ca !== undefined;
  }

  /**
   * Options for tls.createServer: the certificates, client-certificate policy and handshake
   * timeout. Client certificates are requested but judged by the caller (clientCertificateRefusal)
   * before the first byte is read: Node's own refusal logs only "socket hang up", not why.
   */
  serverOptions(handshakeTimeoutMs: number): tls.TlsOptions {
    return { ...this.context, requestCert: this.requiresClientCertificates, rejectUnauthorized: false, handshakeTimeout: handshakeTimeoutMs, minVersion: MIN_TLS_VERSION };
  }

  /** Why a connection's client certificate is refused (expired, untrusted, missing), or undefined when it passes or none is required. */
  clientCertificateRefusal(socket: tls.TLSSocket): string | undefined {
    if (!this.requiresClientCertificates || socket.authorized) return undefined;
    const reason = socket.authorizationError;
    if (reason === undefined || reason === null) return 'NO_CLIENT_CERTIFICATE';
    return typeof reason === 'string' ? reason : ((reason as NodeJS.ErrnoException).code ?? reason.message);
  }

  /** New connections to `server` use the files loaded by later reloads. */
  attach(server: tls.Server): void {
    this.servers.add(server);
  }

  /** Reads the files again; true when the new ones took effect, false (old ones kept, reason logged) otherwise. */
  reload(reason: string): boolean {
    let next: tls.SecureContextOptions;
    try {
      next = loadContext(this.files);
    } catch (error) {
      this.logger?.error('TLS files not reloaded; the certificate loaded before stays in use', { reason, error: (error as Error).message });
      return false;
    }
    this.context = next;
    for (const server of this.servers) server.setSecureContext(next);
    this.describe('TLS certificate reloaded', reason);
    return true;
  }

  /** Reloads whenever one of the files changes on disk (until close()). */
  watch(): void {
    const { cert, key, ca } = this.files;
    this.stopWatching ??= watchFiles(ca === undefined ? [cert, key] : [cert, key, ca], () => this.reload('file changed'));
  }

  close(): void {
    this.stopWatching?.();
    this.stopWatching = undefined;
    this.servers.clear();
  }

  private describe(message: string, reason?: string): void {
    if (this.logger === undefined) return;
    const certificate = new X509Certificate(this.context.cert as Buffer);
    const expired = Date.parse(certificate.validTo) < Date.now();
    const meta = { reason, subject: certificate.subject.replace(/\n/g, ', '), validTo: certificate.validTo, clientCertificates: this.requiresClientCertificates };
    if (expired) this.logger.warn(`${message}, but it has EXPIRED: clients will refuse it`, meta);
    else this.logger.info(message, meta);
  }
}

/** The names an authorized TLS peer's certificate carries; undefined for plain sockets and unverified peers. */
export function verifiedPeerNames(socket: unknown): PeerCertificateNames | undefined {
  if (!(socket instanceof tls.TLSSocket) || !socket.authorized) return undefined;
  const certificate = socket.getPeerCertificate();
  if (certificate === null || Object.keys(certificate).length === 0) return undefined;
  return { subject: certificate.subject as unknown as Record<string, string | string[]>, subjectaltname: certificate.subjectaltname };
}

/** The warning for a failed handshake: what the error code usually means for a lockd client. */
export function handshakeFailure(code: string): string {
  if (code === 'ERR_SSL_WRONG_VERSION_NUMBER' || code === 'ERR_SSL_HTTP_REQUEST') {
    return 'closing connection: a plain-text client reached the TLS port: connect with TLS (lockctl --tls-ca, LockClient { tls }, TSSLSocket)';
  }
  return 'closing connection: TLS handshake failed';
}

function loadContext(files: TlsFiles): tls.SecureContextOptions {
  const context: tls.SecureContextOptions = { cert: readPem('--tls-cert', files.cert), key: readPem('--tls-key', files.key) };
  if (files.ca !== undefined) context.ca = readPem('--tls-ca', files.ca);
  try {
    new X509Certificate(context.cert as Buffer);
  } catch (error) {
    throw new ConfigError(`--tls-cert ${files.cert}: not a PEM certificate: ${(error as Error).message}`);
  }
  try {
    tls.createSecureContext(context);
  } catch (error) {
    const reason = (error as Error).message;
    const hint = /key values mismatch/.test(reason) ? ' (the key does not belong to the certificate)' : '';
    throw new ConfigError(`TLS files --tls-cert ${files.cert}, --tls-key ${files.key}${files.ca ? `, --tls-ca ${files.ca}` : ''}: ${reason}${hint}`);
  }
  return context;
}

function readPem(flag: string, file: string): Buffer {
  try {
    return fs.readFileSync(file);
  } catch (error) {
    throw new ConfigError(`${flag} ${file}: cannot read it: ${(error as Error).message}`);
  }
}
