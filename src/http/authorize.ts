/**
 * The seam where authentication and permissions plug into the HTTP API. Every route declares the
 * right it needs; one hook calls `authorize` before the handler runs. Until the security work
 * lands, `allowEveryone` lets every caller through and names them by address (for audit lines).
 */
import type { FastifyRequest } from 'fastify';

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

/** No authentication yet: everyone may do everything, named by their address. */
export const allowEveryone: Authorize = (request) => ({ name: `unauthenticated ${request.ip}` });
