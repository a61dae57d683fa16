/**
 * lockctl's credential and TLS flags, kept apart from its commands: --credential-file (else
 * LOCKD_CREDENTIAL), --tls (trust the system's CAs), --tls-ca, --tls-cert, --tls-key.
 */
import { readCredentialFile } from '../client/credentials';
import type { ClientOptions } from '../client/options';

/** The parseArgs option table of the security flags. */
export const SECURITY_FLAGS = {
  'credential-file': { type: 'string' },
  tls: { type: 'boolean' },
  'tls-ca': { type: 'string' },
  'tls-cert': { type: 'string' },
  'tls-key': { type: 'string' },
} as const;

/** The lines of the global help that explain them. */
export const SECURITY_HELP = `  --credential-file F  a file holding "identity:secret" (default $LOCKD_CREDENTIAL), sent with authenticate()
  --tls                connect with TLS, trusting the system's CAs
  --tls-ca F           connect with TLS, trusting lockd's certificate by this CA file
  --tls-cert F         client certificate for TLS (with --tls-key)
  --tls-key F          key of --tls-cert`;

/** The LockClient options the parsed flags ask for; throws ConfigError for an unreadable credential file. */
export function securityOptions(values: {
  'credential-file'?: string;
  tls?: boolean;
  'tls-ca'?: string;
  'tls-cert'?: string;
  'tls-key'?: string;
}): Partial<Pick<ClientOptions, 'credential' | 'tls'>> {
  const credentialFile = values['credential-file'];
  const wantsTls = values.tls === true || values['tls-ca'] !== undefined || values['tls-cert'] !== undefined || values['tls-key'] !== undefined;
  return {
    ...(credentialFile !== undefined && { credential: readCredentialFile(credentialFile) }),
    ...(wantsTls && { tls: { ca: values['tls-ca'], cert: values['tls-cert'], key: values['tls-key'] } }),
  };
}
