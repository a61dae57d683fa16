/**
 * lockd's HTTP listener (fastify): metrics, health, the JSON lock API, seed 004's route and the
 * admin routes, all from the table in routes.ts. Off unless --http-port is given; bound to
 * --http-host (127.0.0.1 by default).
 */
import type { AddressInfo } from 'node:net';
import Fastify, { FastifyError, FastifyInstance } from 'fastify';
import type winston from 'winston';
import type { Backend } from '../backend/backend';
import type { ClusterRouting } from '../backend/routing';
import { LockdError } from '../errors';
import type { LockMetrics } from '../metrics/lock-metrics';
import type { ServerOptions } from '../options';
import { allowEveryone, Authorize, HttpRight, Principal } from './authorize';
import { HttpGateway } from './gateway';
import { HttpLocks } from './locks';
import { buildOpenApiDocument } from './openapi';
import { ROUTES, RouteContext } from './routes';
import { errorBody, httpErrorOf } from './status';

declare module 'fastify' {
  interface FastifyRequest {
    /** Who made the request, as `authorize` named them (set before every handler). */
    principal: Principal | undefined;
  }
  interface FastifyContextConfig {
    right?: HttpRight;
  }
}

/** How long shutdown lets HTTP requests in flight finish before cutting their connections. */
const SHUTDOWN_GRACE_MS = 2_000;

export interface HttpApiDeps {
  readonly backend: Backend;
  readonly logger: winston.Logger;
  readonly options: ServerOptions;
  /** Undefined when metrics are off. */
  readonly metrics?: LockMetrics;
  /** The security seam; default allowEveryone (no authentication yet). */
  readonly authorize?: Authorize;
  /** Cluster mode: keys other nodes serve are sent to them, /readyz checks the etcd session. */
  readonly routing?: ClusterRouting;
}

export class HttpApi {
  readonly app: FastifyInstance;
  readonly gateway: HttpGateway;
  readonly locks: HttpLocks;

  constructor(private readonly deps: HttpApiDeps) {
    const { options, logger } = deps;
    this.gateway = new HttpGateway(deps.backend);
    this.locks = new HttpLocks(this.gateway, deps.backend, deps.routing);
    this.app = Fastify({
      logger: false,
      bodyLimit: options.httpBodyLimitBytes,
      // A request must arrive whole within --read-timeout (slowloris); waiting for a lock after
      // that is not limited by it.
      requestTimeout: options.readTimeoutMs,
      keepAliveTimeout: 5_000,
      // Idle keep-alive connections close at once; requests in flight (parked waits are answered
      // UNAVAILABLE first) get their replies before the listener closes.
      forceCloseConnections: 'idle',
      // A key is up to 1024 UTF-8 bytes, so up to 3072 characters percent-encoded in a path.
      routerOptions: { maxParamLength: 3 * 1024 },
      return503OnClosing: true,
      ajv: { customOptions: { removeAdditional: false, coerceTypes: 'array', useDefaults: true } },
    });
    this.app.server.maxConnections = options.maxConnections;
    this.app.decorateRequest('principal', undefined);
    const authorize = deps.authorize ?? allowEveryone;
    this.app.addHook('preHandler', async (request) => {
      const right = request.routeOptions.config.right ?? 'admin';
      if (right === 'public') return;
      request.principal = await authorize(request, right, (request.params as { key?: string } | undefined)?.key);
    });
    this.app.setErrorHandler((error: FastifyError, request, reply) => {
      if (error instanceof LockdError) {
        const { status, body } = httpErrorOf(error);
        return reply.code(status).send(body);
      }
      if (error.validation !== undefined) return reply.code(400).send(errorBody('INVALID_ARGUMENT', error.message));
      if (error.statusCode === 413) {
        return reply.code(413).send(errorBody('PAYLOAD_TOO_LARGE', `the request body is larger than --http-body-limit (${options.httpBodyLimitBytes} bytes)`));
      }
      if (error.statusCode === 415) return reply.code(415).send(errorBody('UNSUPPORTED_MEDIA_TYPE', `${error.message}; send application/json`));
      if (error.statusCode !== undefined && error.statusCode >= 400 && error.statusCode < 500) {
        return reply.code(400).send(errorBody('INVALID_ARGUMENT', error.message));
      }
      logger.error('internal error while serving an HTTP request', { method: request.method, url: request.url, error: String(error.stack ?? error) });
      return reply.code(500).send(errorBody('INTERNAL', 'internal error; see the server log'));
    });
    this.app.setNotFoundHandler((request, reply) =>
      reply.code(404).send(errorBody('NOT_FOUND', `no route ${request.method} ${request.url.split('?')[0]}; GET /openapi.json lists them`)),
    );

    const ctx: RouteContext = {
      backend: deps.backend,
      gateway: this.gateway,
      locks: this.locks,
      routing: deps.routing,
      logger,
      metrics: deps.metrics,
      limits: { defaultListLimit: options.defaultListLimit, maxListLimit: options.maxListLimit, maxListBytes: options.maxListBytes },
      startedAt: Date.now(),
    };
    for (const route of ROUTES) {
      this.app.route({
        method: route.method,
        url: route.url,
        schema: route.schema,
        config: { right: route.right },
        handler: (request, reply) => route.handler(ctx, request, reply),
      });
    }
    const document = buildOpenApiDocument();
    this.app.get('/openapi.json', { config: { right: 'public' } }, async () => document);
  }

  /** Starts listening on --http-host:--http-port; resolves with the bound address. */
  async listen(): Promise<AddressInfo> {
    await this.app.listen({ host: this.deps.options.httpHost, port: this.deps.options.httpPort });
    return this.app.server.address() as AddressInfo;
  }

  /** Answers parked waits UNAVAILABLE, stops accepting, closes connections (all of them after a grace). */
  async close(): Promise<void> {
    this.gateway.close('lockd is shutting down; retry after it restarts or against another instance');
    this.locks.close();
    const closed = this.app.close();
    const cutOff = setTimeout(() => this.app.server.closeAllConnections(), SHUTDOWN_GRACE_MS);
    cutOff.unref();
    await closed;
    clearTimeout(cutOff);
  }
}
