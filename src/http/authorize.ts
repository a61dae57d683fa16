/**
 * The seam where authentication and permissions plug into the HTTP API. Every route declares the
 * right it needs; one hook calls `authorize` before the handler runs. Without --auth-file,
 * `allowEveryone` lets every caller through and names them by address (for audit lines).
 */
import type { FastifyRequest } from 'fastify';
import type { Permissions } from '../auth/permissions';
import { secretMatches } from '../auth/secrets';
import { PermissionDeniedError, UnauthenticatedError } from '../errors';

/** The right a route needs (the security work's read, lock, admin); `public` routes (health, readiness, OpenAPI) are never refused. */
export type HttpRight = 'public' | 'read' | 'lock' | 'admin';

/** Who made a request, as audit lines name them. */
export interface Principal {
  readonly name: string;
}

/**
 * Decides whether `request` may use `right` (on `key`, for lock routes). Returns the caller's
 * principal, or throws UnauthenticatedError (401) / PermissionDeniedError (403).
 */
export type Authorize = (request: FastifyRequest, right: HttpRight, key: string | undefined) => Principal | Promise<Principal>;

/** No --auth-file: everyone may do everything, named by their address. */
export const allowEveryone: Authorize = (request) => ({ name: `unauthenticated ${request.ip}` });

/**
 * Authorization from lockd's permissions file (`--auth-file`): a caller proves an identity with
 * HTTP Basic credentials (`curl -u identity:secret`, checked against the file's secretSha256 in
 * constant time) or is the file's anonymous caller; the route's right must be granted on the
 * key (lock routes), on the listed prefix (list), or on every key (admin routes without a key).
 * Quotas are the Thrift port's: the HTTP gateway is one session and counts against nobody.
 */
export function authorizeWithPermissions(permissions: () => Permissions): Authorize {
  return (request, right, key) => {
    if (right === 'public') return { name: 'public' };
    const current = permissions();
    const credentials = basicCredentials(request.headers.authorization);
    let name = 'anonymous';
    let policy = current.anonymous;
    if (credentials !== undefined) {
      const entry = current.identities.get(credentials.identity);
      if (!secretMatches(entry?.secretSha256, credentials.secret) || entry === undefined) {
        throw new UnauthenticatedError(`identity ${JSON.stringify(credentials.identity)} with that secret is not in the auth file`);
      }
      name = entry.name;
      policy = entry.policy;
    }
    const target = key ?? (request.query as { prefix?: string } | undefined)?.prefix ?? '';
    if (!policy.allows(right, target)) {
      throw new PermissionDeniedError(`${name} may not ${right} ${JSON.stringify(target)}: the auth file grants no ${JSON.stringify(right)} right on a prefix of it`);
    }
    return { name };
  };
}

/** identity and secret from an `Authorization: Basic ...` header; undefined without one. */
function basicCredentials(header: string | undefined): { identity: string; secret: string } | undefined {
  if (header === undefined) return undefined;
  const match = /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(header);
  if (!match) throw new UnauthenticatedError('the Authorization header must be Basic base64(identity:secret)');
  const decoded = Buffer.from(match[1], 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon <= 0) throw new UnauthenticatedError('Basic credentials must be identity:secret');
  return { identity: decoded.slice(0, colon), secret: decoded.slice(colon + 1) };
}
