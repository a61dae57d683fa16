/**
 * LockClient: lockd for Node services. One connection carries every call (lockd answers each
 * by seqid, so a parked wait holds up nothing); it reconnects with capped, jittered backoff and
 * reports each lost connection through the 'disconnect' event.
 */
import { EventEmitter } from 'node:events';
import { AbortedError, ConnectionError, LockdError, LockTimeoutError, NotHolderError } from '../errors';
import type { WireLease, WireLockInfo } from '../protocol/lock-service-codec';
import { Lease, LeaseOwner, LockModeName } from './lease';
import { ClientOptions, resolveClientOptions } from './options';
import { LockServiceStub } from './service-stub';
import { ThriftConnection } from './thrift-connection';

/** Per-call acquire options. */
export interface AcquireOptions {
  /** Lease length. Default: the client's ttlMs (30 s). */
  ttlMs?: number;
  /** How long to wait in lockd's queue: -1 until granted (acquire's default), 0 not at all (tryAcquire's default). */
  waitMs?: number;
  /** Default "exclusive". */
  mode?: LockModeName;
  /** Release as soon as this client's connection closes, whatever the TTL. Default false. */
  ephemeral?: boolean;
  /** Owner label for this lease. Default: the client's owner. */
  owner?: string;
  /** Cancels the wait: the call rejects with AbortedError and lockd drops the waiter. */
  signal?: AbortSignal;
}

/** withLock options: acquire options plus how often to renew. */
export interface WithLockOptions extends AcquireOptions {
  /** Renew this often. Default: a third of the TTL, jittered ±10% so many holders do not renew in step. */
  renewEveryMs?: number;
}

/** Holder as inspect shows it. */
export interface HolderInfo {
  owner: string | undefined;
  mode: LockModeName;
  fence: number;
  expiresAt: number;
  holdCount: number;
}

/** One key's state as inspect and list show it. */
export interface LockInfo {
  key: string;
  holders: HolderInfo[];
  waiters: number;
}

export class LockClient extends EventEmitter implements LeaseOwner {
  readonly options: ClientOptions;
  private current: LockServiceStub | undefined;
  private connecting: Promise<LockServiceStub> | undefined;
  private closed = false;
  /** Ephemeral leases die with their connection: how each one hears of it. */
  private readonly ephemeralWatches = new Map<Lease, { connection: ThriftConnection; onClose: (error: LockdError) => void }>();

  /** @param options defaults: localhost:9090 (or LOCKD_ADDR), buffered, binary; see ClientOptions. */
  constructor(options: Partial<ClientOptions> = {}) {
    super();
    this.options = resolveClientOptions(options);
  }

  /**
   * Waits for the lock (by default until granted) and resolves to its Lease. Rejects with
   * LockTimeoutError when `waitMs` ran out, AbortedError when `signal` aborted.
   *
   * @example
   * const client = new LockClient({ host: 'localhost', port: 9090 });
   * await using lease = await client.acquire('reports/daily', { ttlMs: 30_000, waitMs: 10_000 });
   * await writeReport({ fence: lease.fence });
   */
  async acquire(key: string, options: AcquireOptions = {}): Promise<Lease> {
    const waitMs = options.waitMs ?? -1;
    const lease = await this.request(key, options, waitMs);
    if (lease === null) {
      throw new LockTimeoutError(`${JSON.stringify(key)} was not granted within ${waitMs} ms`);
    }
    return lease;
  }

  /** Like acquire, but resolves to null when the lock is busy (after `waitMs`, default 0). */
  tryAcquire(key: string, options: AcquireOptions = {}): Promise<Lease | null> {
    return this.request(key, options, options.waitMs ?? 0);
  }

  /**
   * Runs `fn` while holding the lock: acquires, renews in the background, passes the lease (watch
   * `lease.signal`: it aborts if the lock is lost), always releases, and rethrows what `fn` threw.
   *
   * @example
   * await client.withLock('migrations', async (lease) => {
   *   await runMigrations({ fence: lease.fence, signal: lease.signal });
   * }, { ttlMs: 15_000 });
   */
  async withLock<T>(key: string, fn: (lease: Lease) => Promise<T> | T, options: WithLockOptions = {}): Promise<T> {
    const lease = await this.acquire(key, options);
    const renewer = new Renewer(lease, options.renewEveryMs);
    try {
      return await fn(lease);
    } finally {
      await renewer.stop();
      await lease.release().catch(() => false);
    }
  }

  /** Holders (owner, mode, fence, expiry) and waiter count of one key. */
  async inspect(key: string): Promise<LockInfo> {
    return toLockInfo(await (await this.stub()).inspect(key));
  }

  /** Held keys starting with `prefix`, in key order; limit <= 0 is the server's default. */
  async list(prefix = '', limit = 0): Promise<LockInfo[]> {
    return (await (await this.stub()).listLocks(prefix, limit)).map(toLockInfo);
  }

  /** True while a live lease on `key` carries `fence`. */
  async checkFence(key: string, fence: number): Promise<boolean> {
    return (await this.stub()).checkFence(key, fence);
  }

  /** Resolves to "pong" when lockd answers. */
  async ping(): Promise<string> {
    return (await this.stub()).ping();
  }

  /** Closes the connection. Leases that are not ephemeral stay held until released or expired. */
  async close(): Promise<void> {
    this.closed = true;
    this.current?.connection.close();
    this.current = undefined;
  }

  /**
   * Releases the lease `token` names on `key`, from any process that knows the token. Resolves
   * to false when it names no live lease. Prefer `lease.release()` when you hold the Lease.
   */
  async release(key: string, token: string): Promise<boolean> {
    return (await this.stub()).release(key, token);
  }

  /** Extends the lease `token` names to now + ttlMs; rejects with NotHolderError when it is gone. */
  async renew(key: string, token: string, ttlMs: number = this.options.ttlMs): Promise<WireLease> {
    return (await this.stub()).renew(key, token, ttlMs);
  }

  /** @internal Used by Lease. */
  async releaseLease(lease: Lease): Promise<boolean> {
    const watch = this.ephemeralWatches.get(lease);
    if (watch !== undefined) {
      this.ephemeralWatches.delete(lease);
      watch.connection.offClose(watch.onClose);
      if (!watch.connection.isOpen) return false;
    }
    return this.release(lease.key, lease.token);
  }

  private watchConnection(lease: Lease, connection: ThriftConnection): void {
    const onClose = (error: LockdError) => {
      this.ephemeralWatches.delete(lease);
      lease.markLost(new ConnectionError(`the ephemeral lease on ${JSON.stringify(lease.key)} ended with its connection: ${error.message}`, { cause: error }));
    };
    this.ephemeralWatches.set(lease, { connection, onClose });
    connection.onClose(onClose);
  }

  /** @internal Used by Lease. */
  renewLease(lease: Lease, ttlMs: number): Promise<WireLease> {
    return this.renew(lease.key, lease.token, ttlMs);
  }

  private async request(key: string, options: AcquireOptions, waitMs: number): Promise<Lease | null> {
    const signal = options.signal;
    if (signal?.aborted) throw new AbortedError(`acquire of ${JSON.stringify(key)} aborted before it started`, { cause: signal.reason });
    const stub = this.current ?? (await this.stub());
    const ephemeral = options.ephemeral === true;
    const call = stub.acquire({
      lockKey: key,
      owner: options.owner ?? this.options.owner,
      ttlMs: options.ttlMs ?? this.options.ttlMs,
      waitMs,
      mode: options.mode === 'shared' ? 2 : undefined,
      ephemeral: ephemeral || undefined,
    });
    let onAbort: (() => void) | undefined;
    if (signal !== undefined) {
      onAbort = () => void stub.cancelWait(call.seqid).catch(() => false);
      signal.addEventListener('abort', onAbort, { once: true });
    }
    try {
      const result = await call.reply;
      if (result.acquired) {
        const lease = new Lease(this, result.lease!, ephemeral);
        if (signal?.aborted) {
          // The grant crossed the cancel on the wire: the caller gave up, so hand the lock back.
          void lease.release().catch(() => false);
          throw new AbortedError(`acquire of ${JSON.stringify(key)} aborted`, { cause: signal.reason });
        }
        if (ephemeral) this.watchConnection(lease, stub.connection);
        return lease;
      }
      if (signal?.aborted) throw new AbortedError(`acquire of ${JSON.stringify(key)} aborted`, { cause: signal.reason });
      return null;
    } finally {
      if (onAbort !== undefined) signal!.removeEventListener('abort', onAbort);
    }
  }

  /** The connected stub, connecting (with backoff between failed attempts) when there is none. */
  private stub(): Promise<LockServiceStub> {
    if (this.current !== undefined) return Promise.resolve(this.current);
    if (this.closed) return Promise.reject(new ConnectionError('the client is closed'));
    this.connecting ??= this.connect().finally(() => (this.connecting = undefined));
    return this.connecting;
  }

  private async connect(): Promise<LockServiceStub> {
    const { host, port, transport, protocol, connectTimeoutMs, maxMessageBytes, connectAttempts, reconnectBaseMs, reconnectMaxMs } = this.options;
    let lastError: LockdError | undefined;
    for (let attempt = 0; attempt < connectAttempts; attempt++) {
      if (attempt > 0) {
        const backoff = Math.min(reconnectMaxMs, reconnectBaseMs * 2 ** (attempt - 1));
        await new Promise((resolve) => setTimeout(resolve, backoff * (0.5 + Math.random())));
      }
      if (this.closed) break;
      try {
        const connection = await ThriftConnection.connect({ host, port, transport, protocol, connectTimeoutMs, maxMessageBytes });
        if (this.closed) {
          connection.close();
          break;
        }
        const stub = new LockServiceStub(connection, this.options.callTimeoutMs);
        connection.onClose((error) => {
          if (this.current === stub) this.current = undefined;
          if (!this.closed) this.emit('disconnect', error);
        });
        this.current = stub;
        this.emit('connect', `${host}:${port}`);
        return stub;
      } catch (error) {
        lastError = error as LockdError;
      }
    }
    throw lastError ?? new ConnectionError('the client is closed');
  }
}

/** Renews a lease every third of its TTL until stopped; a refusal or expiry marks it lost. */
class Renewer {
  private timer: NodeJS.Timeout | undefined;
  private inFlight: Promise<void> | undefined;
  private stopped = false;

  constructor(
    private readonly lease: Lease,
    private readonly everyMs?: number,
  ) {
    this.schedule();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer !== undefined) clearTimeout(this.timer);
    await this.inFlight;
  }

  private schedule(): void {
    const base = this.everyMs ?? this.lease.ttlMs / 3;
    this.timer = setTimeout(() => this.tick(), base * (0.9 + 0.2 * Math.random()));
  }

  private tick(): void {
    if (this.stopped) return;
    this.inFlight = this.lease.renew().then(
      () => undefined,
      (error: unknown) => {
        // A refusal already marked the lease lost; a network failure is retried until it expires.
        if (!(error instanceof NotHolderError) && Date.now() >= this.lease.expiresAt) {
          this.lease.markLost(new NotHolderError(`the lease on ${JSON.stringify(this.lease.key)} expired while lockd was unreachable`));
        }
      },
    );
    void this.inFlight.then(() => {
      if (!this.stopped && !this.lease.signal.aborted) this.schedule();
    });
  }
}

function toLockInfo(info: WireLockInfo): LockInfo {
  return {
    key: info.lockKey,
    waiters: info.waiters,
    holders: info.holders.map((h) => ({ owner: h.owner, mode: h.mode === 2 ? 'shared' : 'exclusive', fence: h.fence, expiresAt: h.expiresAtMs, holdCount: h.holdCount })),
  };
}
