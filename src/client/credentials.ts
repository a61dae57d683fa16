/**
 * What a client proves itself with: an identity and its secret (sent with authenticate() on
 * each new connection) and the TLS files (read at each connect, so a rotated client
 * certificate is picked up by the next reconnect). A Credential never prints its secret.
 */
import fs from 'node:fs';
// Named imports: consumers of the typings may compile without esModuleInterop.
import type { ConnectionOptions } from 'node:tls';
import { ConfigError } from '../errors';

/** The variable holding "identity:secret" when no credential is passed. */
export const CREDENTIAL_ENV = 'LOCKD_CREDENTIAL';

/** An identity and its secret; JSON, util.inspect and string forms show the identity only. */
export class Credential {
  readonly identity: string;
  readonly #secret: string;

  constructor(identity: string, secret: string) {
    if (identity === '' || /[:\s]/.test(identity)) throw new ConfigError(`credential identity ${JSON.stringify(identity)} must be non-empty, without ":" or spaces`);
    if (secret === '') throw new ConfigError(`credential for ${JSON.stringify(identity)} has an empty secret`);
    this.identity = identity;
    this.#secret = secret;
  }

  /** The secret, for authenticate() only. */
  get secret(): string {
    return this.#secret;
  }

  toJSON(): { identity: string; secret: string } {
    return { identity: this.identity, secret: '[redacted]' };
  }

  toString(): string {
    return `Credential(${this.identity})`;
  }

  [Symbol.for('nodejs.util.inspect.custom')](): string {
    return this.toString();
  }
}

/** Parses "identity:secret" (surrounding whitespace and a trailing newline ignored); `source` names where it came from in errors. */
export function parseCredential(text: string, source: string): Credential {
  const trimmed = text.trim();
  const colon = trimmed.indexOf(':');
  if (colon <= 0 || colon === trimmed.length - 1) throw new ConfigError(`${source}: expected "identity:secret" (the secret is never printed)`);
  return new Credential(trimmed.slice(0, colon), trimmed.slice(colon + 1));
}

/** Reads a credential file (one line, "identity:secret"). Throws ConfigError naming the file. */
export function readCredentialFile(path: string): Credential {
  let text: string;
  try {
    text = fs.readFileSync(path, 'utf8');
  } catch (error) {
    throw new ConfigError(`credential file ${path}: cannot read it: ${(error as Error).message}`);
  }
  return parseCredential(text, `credential file ${path}`);
}

/** LOCKD_CREDENTIAL from `env`, or undefined when it is unset. */
export function credentialFromEnv(env: NodeJS.ProcessEnv): Credential | undefined {
  const text = env[CREDENTIAL_ENV];
  return text === undefined || text === '' ? undefined : parseCredential(text, CREDENTIAL_ENV);
}

/** TLS files of a client: the CA to trust lockd by, and a client certificate and key. */
export interface ClientTlsFiles {
  /** PEM CA certificates lockd's certificate must chain to. Default: the system's CAs. */
  ca?: string;
  /** PEM client certificate (lockd's --tls-ca must trust it). */
  cert?: string;
  /** PEM key of `cert`. */
  key?: string;
}

/** The tls.connect options for `files`, read now. Throws ConfigError naming an unreadable file. */
export function readClientTls(files: ClientTlsFiles): ConnectionOptions {
  if ((files.cert === undefined) !== (files.key === undefined)) throw new ConfigError('a TLS client certificate needs both its cert and its key file');
  const read = (what: string, file: string) => {
    try {
      return fs.readFileSync(file);
    } catch (error) {
      throw new ConfigError(`TLS ${what} ${file}: cannot read it: ${(error as Error).message}`);
    }
  };
  return {
    ...(files.ca !== undefined && { ca: read('CA file', files.ca) }),
    ...(files.cert !== undefined && { cert: read('certificate', files.cert) }),
    ...(files.key !== undefined && { key: read('key', files.key) }),
  };
}
