/**
 * JSON schemas of the HTTP API: fastify validates requests and serializes responses with them,
 * and the OpenAPI document is built from the same objects, so the two cannot drift apart.
 */
import { HTTP_STATUS_BY_CODE } from './status';

const integer = (description: string, minimum?: number) => ({ type: 'integer', description, ...(minimum !== undefined && { minimum }) });

export const KeyParam = {
  type: 'string',
  minLength: 1,
  maxLength: 1024,
  description: 'The lock key, percent-encoded in the path (encodeURIComponent): "orders/42" is orders%2F42.',
};
export const Mode = { type: 'string', enum: ['exclusive', 'shared'], description: 'exclusive (one holder) or shared (any number of shared holders).' };

export const KeyParams = { type: 'object', required: ['key'], properties: { key: KeyParam } };

export const ErrorResponse = {
  type: 'object',
  required: ['error'],
  properties: {
    error: {
      type: 'object',
      required: ['code', 'message'],
      properties: {
        code: { type: 'string', enum: Object.keys(HTTP_STATUS_BY_CODE), description: 'Stable code to branch on.' },
        message: { type: 'string', description: 'What was wrong and what to do.' },
      },
    },
  },
};

export const AcquireBody = {
  type: 'object',
  additionalProperties: false,
  properties: {
    ttlMs: integer("Lease length, ms (lockd's --min-ttl..--max-ttl). Default: lockd's --default-ttl.", 1),
    waitMs: integer('How long to wait for a busy lock, ms: 0 (default) answers 409 at once, -1 waits until granted or the client disconnects.', -1),
    mode: Mode,
    owner: { type: 'string', maxLength: 256, description: 'A label for people (inspect shows it); not a credential.' },
    token: { type: 'string', description: 'The token of a live lease on this key and mode: re-enter it (holdCount + 1).' },
  },
};

export const RenewBody = {
  type: 'object',
  additionalProperties: false,
  required: ['token'],
  properties: {
    token: { type: 'string', minLength: 1 },
    ttlMs: integer("New lease length, ms; absent: the lease's own TTL.", 1),
  },
};

export const ReleaseBody = {
  type: ['object', 'null'],
  additionalProperties: false,
  properties: { token: { type: 'string', minLength: 1 } },
};

export const TokenQuery = { type: 'object', additionalProperties: false, properties: { token: { type: 'string', minLength: 1 } } };

export const Lease = {
  type: 'object',
  required: ['key', 'token', 'fence', 'mode', 'ttlMs', 'expiresAtMs', 'holdCount'],
  properties: {
    key: { type: 'string' },
    token: { type: 'string', description: 'Proves ownership: renews and releases the lease. Keep it secret.' },
    fence: integer('Fencing token: greater than every fence lockd issued before this grant.'),
    mode: Mode,
    ttlMs: { type: 'integer' },
    expiresAtMs: integer('When the lease ends unless renewed: Unix ms on lockd\'s clock.'),
    holdCount: { type: 'integer' },
    owner: { type: 'string' },
    reentered: { type: 'boolean', description: 'True when this call re-entered a lease it already held.' },
  },
};

export const Holder = {
  type: 'object',
  required: ['mode', 'fence', 'expiresAtMs', 'holdCount'],
  properties: { owner: { type: 'string' }, mode: Mode, fence: { type: 'integer' }, expiresAtMs: { type: 'integer' }, holdCount: { type: 'integer' } },
};

export const LockInfo = {
  type: 'object',
  required: ['key', 'holders', 'waiters'],
  properties: { key: { type: 'string' }, holders: { type: 'array', items: Holder }, waiters: { type: 'integer' } },
};

export const ListQuery = {
  type: 'object',
  additionalProperties: false,
  properties: {
    prefix: { type: 'string', default: '' },
    limit: integer("At most this many keys (default lockd's --default-list-limit, at most --max-list-limit).", 1),
    startAfter: { type: 'string', description: 'Continue after this key (the previous page\'s `next`).' },
  },
};

export const LockList = {
  type: 'object',
  required: ['locks'],
  properties: {
    locks: { type: 'array', items: LockInfo },
    next: { type: 'string', description: 'Present when more keys may follow: pass it as startAfter.' },
  },
};

export const FenceParams = {
  type: 'object',
  required: ['key', 'fence'],
  properties: { key: KeyParam, fence: integer('The fence to check.', 0) },
};

export const FenceCheck = {
  type: 'object',
  required: ['key', 'fence', 'current'],
  properties: { key: { type: 'string' }, fence: { type: 'integer' }, current: { type: 'boolean', description: 'True while a live lease on the key carries this fence.' } },
};

export const Released = { type: 'object', required: ['key', 'released'], properties: { key: { type: 'string' }, released: { type: 'boolean' } } };

export const SeedQuery = {
  type: 'object',
  required: ['lock_key'],
  properties: {
    lock_key: { type: 'string', minLength: 1, maxLength: 1024 },
    lock_value: { type: 'string', description: 'Kept as the lease\'s owner label.' },
    ttl_ms: integer("Lease length, ms. Default: lockd's --default-ttl.", 1),
    wait_ms: integer('How long to wait for a busy lock, ms (default 0: answer 409 at once).', -1),
  },
};

export const SeedReleaseQuery = {
  type: 'object',
  required: ['lock_key', 'token'],
  properties: { lock_key: { type: 'string', minLength: 1, maxLength: 1024 }, token: { type: 'string', minLength: 1 } },
};

export const SeedGranted = {
  type: 'object',
  required: ['message', 'lock_key', 'token', 'fence', 'ttl_ms', 'expires_at_ms'],
  properties: {
    message: { type: 'string', enum: ['Lock acquired successfully'] },
    lock_key: { type: 'string' },
    lock_value: { type: 'string' },
    token: { type: 'string', description: 'Pass it to DELETE /lock to release.' },
    fence: { type: 'integer' },
    ttl_ms: { type: 'integer' },
    expires_at_ms: { type: 'integer' },
  },
};

export const SeedMessage = { type: 'object', required: ['message'], properties: { message: { type: 'string' }, lock_key: { type: 'string' } } };

export const ForceReleaseBody = {
  type: 'object',
  additionalProperties: false,
  required: ['reason'],
  properties: {
    reason: { type: 'string', minLength: 1, maxLength: 1024, description: "Why; the holder's next renew is refused with it, and the audit log records it." },
    fence: integer('Free only the lease with this fence (default: every holder of the key).', 0),
    operator: { type: 'string', maxLength: 256, description: 'Who asks, as they name themselves (logged beside the authenticated caller).' },
  },
};

export const ForceReleased = {
  type: 'object',
  required: ['key', 'released'],
  properties: {
    key: { type: 'string' },
    released: { type: 'array', items: { type: 'object', required: ['fence', 'mode'], properties: { owner: { type: 'string' }, fence: { type: 'integer' }, mode: Mode } } },
  },
};

export const DrainStatus = {
  type: 'object',
  required: ['draining', 'leases', 'waiters', 'done'],
  properties: {
    draining: { type: 'boolean' },
    since: { type: 'string', description: 'When the drain began (ISO 8601).' },
    leases: { type: 'integer', description: 'Leases still held.' },
    waiters: { type: 'integer' },
    done: { type: 'boolean', description: 'True once draining and no lease is left: safe to stop lockd.' },
  },
};

export const Health = { type: 'object', required: ['status'], properties: { status: { type: 'string' }, uptimeSeconds: { type: 'number' }, pid: { type: 'integer' } } };

export const Readiness = {
  type: 'object',
  required: ['ready', 'checks'],
  properties: {
    ready: { type: 'boolean' },
    checks: {
      type: 'object',
      properties: {
        store: { type: 'object', properties: { ok: { type: 'boolean' }, durable: { type: 'boolean' }, syncMs: { type: 'number' }, error: { type: 'string' } } },
        accepting: { type: 'object', properties: { ok: { type: 'boolean' }, draining: { type: 'boolean' } } },
        cluster: {
          type: 'object',
          description: 'Cluster mode only: whether this node has a live etcd session (it serves its partitions only then).',
          properties: { ok: { type: 'boolean' }, nodeId: { type: 'string' }, reason: { type: 'string' } },
        },
      },
    },
  },
};

/** Error responses every lock route may give. */
export const lockErrors = { '4xx': ErrorResponse, '5xx': ErrorResponse };
