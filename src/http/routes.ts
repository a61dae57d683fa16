/**
 * Every HTTP route: method, path, the right it needs, its schemas and its handler, in one table
 * that the server registers and the OpenAPI document is built from. Lock routes follow the
 * Thrift API's rules (they call the same Backend); see status.ts for the error mapping.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import type winston from 'winston';
import { adminOp } from '../backend/admin-op';
import type { Backend, DrainStatus as DrainStatusView } from '../backend/backend';
import type { ClusterRouting } from '../backend/routing';
import { InvalidArgumentError, UnavailableError } from '../errors';
import type { LockMetrics } from '../metrics/lock-metrics';
import { LockMode, type HolderView, type LeaseView, type LockInfoView } from '../table/types';
import type { HttpRight } from './authorize';
import type { HttpGateway } from './gateway';
import type { HttpLocks } from './locks';
import * as S from './schemas';
import { errorBody } from './status';

/** What route handlers work with. */
export interface RouteContext {
  readonly backend: Backend;
  readonly gateway: HttpGateway;
  /** The keyed lock calls and the list, sent to the key's owner in cluster mode (locks.ts). */
  readonly locks: HttpLocks;
  /** Cluster mode's routing (readiness); undefined for a single lockd. */
  readonly routing: ClusterRouting | undefined;
  readonly logger: winston.Logger;
  /** Undefined when metrics are off (--metrics=false). */
  readonly metrics: LockMetrics | undefined;
  readonly limits: { readonly defaultListLimit: number; readonly maxListLimit: number; readonly maxListBytes: number };
  readonly startedAt: number;
}

/** One route of the HTTP API. */
export interface RouteSpec {
  readonly method: 'GET' | 'POST' | 'DELETE';
  /** fastify syntax: /v1/locks/:key */
  readonly url: string;
  readonly operationId: string;
  readonly summary: string;
  readonly description?: string;
  readonly tag: 'locks' | 'seed' | 'admin' | 'operations';
  readonly right: HttpRight;
  readonly schema: {
    readonly params?: object;
    readonly querystring?: object;
    readonly body?: object;
    readonly response: Record<string, object>;
  };
  /** Content type of the success body when it is not JSON. */
  readonly produces?: string;
  readonly handler: (ctx: RouteContext, request: FastifyRequest, reply: FastifyReply) => Promise<unknown>;
}

/** How long /readyz waits for the store to answer a sync before calling it not ready. */
const READY_SYNC_TIMEOUT_MS = 5_000;

type KeyParams = { key: string };
type AcquireBody = { ttlMs?: number; waitMs?: number; mode?: 'exclusive' | 'shared'; owner?: string; token?: string };

export const ROUTES: readonly RouteSpec[] = [
  {
    method: 'POST',
    url: '/v1/locks/:key',
    operationId: 'acquire',
    tag: 'locks',
    summary: 'Acquire (or re-enter) a lock',
    description:
      '200 with the lease; 409 BUSY when the lock is held and no wait was asked; 408 LOCK_TIMEOUT when waitMs ran out. A client that disconnects while waiting has its wait cancelled.',
    right: 'lock',
    schema: { params: S.KeyParams, body: S.AcquireBody, response: { 200: S.Lease, ...S.lockErrors } },
    async handler(ctx, request, reply) {
      const { key } = request.params as KeyParams;
      const body = (request.body ?? {}) as AcquireBody;
      const result = await ctx.locks.acquire(
        { key, owner: body.owner, ttlMs: body.ttlMs, waitMs: body.waitMs, mode: body.mode === 'shared' ? LockMode.SHARED : LockMode.EXCLUSIVE, token: body.token },
        clientGone(request, reply),
      );
      if (result.kind === 'busy') return reply.code(409).send(errorBody('BUSY', `${JSON.stringify(key)} is held; ask with waitMs to wait for it`));
      if (result.kind === 'timed_out') return reply.code(408).send(errorBody('LOCK_TIMEOUT', `${JSON.stringify(key)} was still held when waitMs (${body.waitMs} ms) ran out`));
      return { ...leaseJson(result.lease), reentered: result.reentered };
    },
  },
  {
    method: 'POST',
    url: '/v1/locks/:key/renew',
    operationId: 'renew',
    tag: 'locks',
    summary: 'Extend a lease to now + ttlMs, keeping token and fence',
    description: '409 NOT_HOLDER when the token names no live lease (released, expired, or force-released: the message then says by whom and why).',
    right: 'lock',
    schema: { params: S.KeyParams, body: S.RenewBody, response: { 200: S.Lease, ...S.lockErrors } },
    async handler(ctx, request) {
      const { key } = request.params as KeyParams;
      const { token, ttlMs } = request.body as { token: string; ttlMs?: number };
      return leaseJson(await ctx.locks.renew(key, token, ttlMs));
    },
  },
  {
    method: 'DELETE',
    url: '/v1/locks/:key',
    operationId: 'release',
    tag: 'locks',
    summary: 'Release a lease once (the lock frees when its hold count reaches 0)',
    description: 'The token goes in ?token= or a JSON body {"token": ...}. 409 NOT_HOLDER when it names no live lease on the key.',
    right: 'lock',
    schema: { params: S.KeyParams, querystring: S.TokenQuery, body: S.ReleaseBody, response: { 200: S.Released, ...S.lockErrors } },
    async handler(ctx, request, reply) {
      const { key } = request.params as KeyParams;
      const token = (request.query as { token?: string }).token ?? (request.body as { token?: string } | null)?.token;
      if (token === undefined) throw new InvalidArgumentError('the token is required: ?token=... or a JSON body {"token": "..."}');
      if (!(await ctx.locks.release(key, token))) {
        return reply.code(409).send(errorBody('NOT_HOLDER', `the token names no live lease on ${JSON.stringify(key)}: it was released, expired or never granted`));
      }
      return { key, released: true };
    },
  },
  {
    method: 'GET',
    url: '/v1/locks/:key',
    operationId: 'inspect',
    tag: 'locks',
    summary: "A key's holders (no tokens) and how many wait",
    right: 'read',
    schema: { params: S.KeyParams, response: { 200: S.LockInfo, ...S.lockErrors } },
    async handler(ctx, request) {
      return lockInfoJson(await ctx.locks.inspect((request.params as KeyParams).key));
    },
  },
  {
    method: 'GET',
    url: '/v1/locks',
    operationId: 'list',
    tag: 'locks',
    summary: 'Held keys starting with prefix, in key order, one page at a time',
    description: 'In cluster mode any node lists the keys of every node (each other live node is asked for its page; the pages are merged in key order).',
    right: 'read',
    schema: { querystring: S.ListQuery, response: { 200: S.LockList, ...S.lockErrors } },
    async handler(ctx, request) {
      const { prefix, limit, startAfter } = request.query as { prefix: string; limit?: number; startAfter?: string };
      return listPage(ctx, prefix, limit, startAfter);
    },
  },
  {
    method: 'GET',
    url: '/v1/locks/:key/fence/:fence',
    operationId: 'checkFence',
    tag: 'locks',
    summary: 'Whether a live lease on the key carries this fence',
    right: 'read',
    schema: { params: S.FenceParams, response: { 200: S.FenceCheck, ...S.lockErrors } },
    async handler(ctx, request) {
      const { key, fence } = request.params as { key: string; fence: number };
      return { key, fence, current: await ctx.locks.checkFence(key, fence) };
    },
  },
  {
    method: 'POST',
    url: '/lock',
    operationId: 'seedAcquire',
    tag: 'seed',
    summary: "Seed 004's route: try to take lock_key (200) or find it held (409)",
    description:
      'Answers as the seed did, {"message": "Lock acquired successfully"} or {"message": "Unable to acquire lock"}, with lockd\'s lease (token, fence, expiry) added. Leases last --default-ttl unless ttl_ms is given; release with DELETE /lock.',
    right: 'lock',
    schema: { querystring: S.SeedQuery, response: { 200: S.SeedGranted, 409: S.SeedMessage, ...S.lockErrors } },
    async handler(ctx, request, reply) {
      const q = request.query as { lock_key: string; lock_value?: string; ttl_ms?: number; wait_ms?: number };
      const result = await ctx.locks.acquire({ key: q.lock_key, owner: q.lock_value, ttlMs: q.ttl_ms, waitMs: q.wait_ms }, clientGone(request, reply));
      if (result.kind !== 'granted') return reply.code(409).send({ message: 'Unable to acquire lock', lock_key: q.lock_key });
      const { lease } = result;
      return {
        message: 'Lock acquired successfully',
        lock_key: lease.key,
        lock_value: q.lock_value,
        token: lease.token,
        fence: lease.fence,
        ttl_ms: lease.ttlMs,
        expires_at_ms: lease.expiresAtMs,
      };
    },
  },
  {
    method: 'DELETE',
    url: '/lock',
    operationId: 'seedRelease',
    tag: 'seed',
    summary: 'Release a lease taken with POST /lock (200), or find it not held (409)',
    right: 'lock',
    schema: { querystring: S.SeedReleaseQuery, response: { 200: S.SeedMessage, 409: S.SeedMessage, ...S.lockErrors } },
    async handler(ctx, request, reply) {
      const { lock_key: key, token } = request.query as { lock_key: string; token: string };
      if (!(await ctx.locks.release(key, token))) return reply.code(409).send({ message: 'Unable to release lock', lock_key: key });
      return { message: 'Lock released successfully', lock_key: key };
    },
  },
  {
    method: 'POST',
    url: '/v1/admin/locks/:key/force-release',
    operationId: 'forceRelease',
    tag: 'admin',
    summary: 'Free a lock whatever its holders say, with a reason',
    description:
      "Frees every lease on the key (or only the one with `fence`). Each holder's next renew is refused NOT_HOLDER with the reason, so LockClient's lease.signal aborts with it. One audit line per freed lease is logged at info.",
    right: 'admin',
    schema: { params: S.KeyParams, body: S.ForceReleaseBody, response: { 200: S.ForceReleased, ...S.lockErrors } },
    async handler(ctx, request) {
      const { key } = request.params as KeyParams;
      const { reason, fence, operator } = request.body as { reason: string; fence?: number; operator?: string };
      const who = request.principal?.name ?? 'unknown';
      const freed = await ctx.gateway.forceRelease(key, fence, reason, operator === undefined ? who : `${operator} (${who})`);
      for (const lease of freed) {
        ctx.logger.info('force-release', { who, operator, key, fence: lease.fence, owner: lease.owner, mode: modeJson(lease.mode), reason });
      }
      if (freed.length === 0) ctx.logger.info('force-release found nothing held', { who, operator, key, fence, reason });
      return { key, released: freed.map((lease) => ({ owner: lease.owner, fence: lease.fence, mode: modeJson(lease.mode) })) };
    },
  },
  {
    method: 'POST',
    url: '/v1/admin/drain',
    operationId: 'startDrain',
    tag: 'admin',
    summary: 'Start draining: refuse new leases (503 UNAVAILABLE "draining"), let holders finish',
    description: 'Parked waits are refused at once. /readyz answers 503 while draining. Poll GET /v1/admin/drain until done is true, then stop lockd.',
    right: 'admin',
    schema: { response: { 200: S.DrainStatus, ...S.lockErrors } },
    async handler(ctx, request) {
      const status = adminOp(ctx.backend.startDrain, 'drain').call(ctx.backend);
      ctx.logger.info('drain started', { who: request.principal?.name, leases: status.leases });
      return drainJson(status);
    },
  },
  {
    method: 'GET',
    url: '/v1/admin/drain',
    operationId: 'drainStatus',
    tag: 'admin',
    summary: 'Drain progress: leases still held',
    right: 'admin',
    schema: { response: { 200: S.DrainStatus, ...S.lockErrors } },
    async handler(ctx) {
      return drainJson(adminOp(ctx.backend.drainStatus, 'drain').call(ctx.backend));
    },
  },
  {
    method: 'DELETE',
    url: '/v1/admin/drain',
    operationId: 'stopDrain',
    tag: 'admin',
    summary: 'Stop draining: grant new leases again',
    right: 'admin',
    schema: { response: { 200: S.DrainStatus, ...S.lockErrors } },
    async handler(ctx, request) {
      const status = adminOp(ctx.backend.stopDrain, 'drain').call(ctx.backend);
      ctx.logger.info('drain stopped', { who: request.principal?.name });
      return drainJson(status);
    },
  },
  {
    method: 'GET',
    url: '/healthz',
    operationId: 'healthz',
    tag: 'operations',
    summary: 'Alive: the process answers',
    right: 'public',
    schema: { response: { 200: S.Health } },
    async handler(ctx) {
      return { status: 'ok', uptimeSeconds: (Date.now() - ctx.startedAt) / 1000, pid: process.pid };
    },
  },
  {
    method: 'GET',
    url: '/readyz',
    operationId: 'readyz',
    tag: 'operations',
    summary: 'Ready: the store syncs, lockd is not draining and, in cluster mode, its etcd session is live (503 otherwise)',
    description:
      "In cluster mode checks.cluster says whether this node's etcd session is live: without it (etcd unreachable, the node's ownership deadline passed) the node serves none of its partitions, and `reason` says why.",
    right: 'public',
    schema: { response: { 200: S.Readiness, 503: S.Readiness } },
    async handler(ctx, _request, reply) {
      const store = await storeCheck(ctx.backend);
      const draining = drainingNow(ctx.backend);
      const cluster = ctx.routing === undefined ? undefined : { nodeId: ctx.routing.nodeId, ...ctx.routing.ready() };
      const ready = store.ok && !draining && (cluster?.ok ?? true);
      return reply.code(ready ? 200 : 503).send({ ready, checks: { store, accepting: { ok: !draining, draining }, ...(cluster && { cluster }) } });
    },
  },
  {
    method: 'GET',
    url: '/metrics',
    operationId: 'metrics',
    tag: 'operations',
    summary: 'Prometheus metrics (text exposition format)',
    right: 'read',
    produces: 'text/plain; version=0.0.4; charset=utf-8',
    schema: { response: { 200: { type: 'string' }, 404: S.ErrorResponse } },
    async handler(ctx, _request, reply) {
      if (ctx.metrics === undefined) return reply.code(404).send(errorBody('NOT_FOUND', 'metrics are off (--metrics=false)'));
      return reply.type(ctx.metrics.contentType).send(await ctx.metrics.scrape());
    },
  },
];

/** An AbortSignal that aborts when the client closes its connection before the reply was sent. */
function clientGone(request: FastifyRequest, reply: FastifyReply): AbortSignal {
  const controller = new AbortController();
  const onClose = () => {
    if (!reply.raw.writableFinished) controller.abort();
  };
  reply.raw.once('close', onClose);
  request.raw.once('aborted', onClose);
  return controller.signal;
}

function modeJson(mode: number): 'exclusive' | 'shared' {
  return mode === LockMode.SHARED ? 'shared' : 'exclusive';
}

function leaseJson(lease: LeaseView) {
  return {
    key: lease.key,
    token: lease.token,
    fence: lease.fence,
    mode: modeJson(lease.mode),
    ttlMs: lease.ttlMs,
    expiresAtMs: lease.expiresAtMs,
    holdCount: lease.holdCount,
    owner: lease.owner,
  };
}

function holderJson(holder: HolderView) {
  return { owner: holder.owner, mode: modeJson(holder.mode), fence: holder.fence, expiresAtMs: holder.expiresAtMs, holdCount: holder.holdCount };
}

function lockInfoJson(info: LockInfoView) {
  return { key: info.key, holders: info.holders.map(holderJson), waiters: info.waiters };
}

/**
 * One page: at most `limit` keys and about --max-list-bytes of JSON; `next` when more may follow.
 * In cluster mode the page holds every node's keys, merged in key order.
 */
async function listPage(ctx: RouteContext, prefix: string, limit: number | undefined, startAfter: string | undefined) {
  const { defaultListLimit, maxListLimit, maxListBytes } = ctx.limits;
  if (limit !== undefined && limit > maxListLimit) throw new InvalidArgumentError(`limit must be at most ${maxListLimit} (--max-list-limit), got ${limit}`);
  const sizeOf = (info: LockInfoView) => JSON.stringify(lockInfoJson(info)).length;
  const { page, complete } = await ctx.locks.list({ prefix, startAfter, count: limit ?? defaultListLimit, maxBytes: maxListBytes, sizeOf });
  const locks = page.map(lockInfoJson);
  return complete || locks.length === 0 ? { locks } : { locks, next: locks[locks.length - 1].key };
}

function drainJson(status: DrainStatusView) {
  return {
    draining: status.draining,
    since: status.sinceMs === undefined ? undefined : new Date(status.sinceMs).toISOString(),
    leases: status.leases,
    waiters: status.waiters,
    done: status.draining && status.leases === 0,
  };
}

/**
 * True while lockd drains. A backend without drain (a cluster node's) never drains; its refusal
 * must not escape /readyz, whose 503 body has the readiness schema (an error body fails it).
 */
function drainingNow(backend: Backend): boolean {
  try {
    return backend.drainStatus?.().draining ?? false;
  } catch (error) {
    if (error instanceof UnavailableError) return false;
    throw error;
  }
}

/** The store answers a sync within READY_SYNC_TIMEOUT_MS (a no-op for --in-memory). */
function storeCheck(backend: Backend): Promise<{ ok: boolean; durable: boolean; syncMs?: number; error?: string }> {
  const durable = backend.durable;
  const startedAt = performance.now();
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve({ ok: false, durable, error: `the store did not answer a sync within ${READY_SYNC_TIMEOUT_MS} ms` }), READY_SYNC_TIMEOUT_MS);
    backend.sync((error) => {
      clearTimeout(timer);
      const syncMs = performance.now() - startedAt;
      resolve(error === null ? { ok: true, durable, syncMs } : { ok: false, durable, syncMs, error: error.message });
    });
  });
}
