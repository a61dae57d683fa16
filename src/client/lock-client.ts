/**
 * LockClient: lockd for Node services. One connection carries every call (lockd answers each
 * by seqid, so a parked wait holds up nothing); it reconnects with capped, jittered backoff and
 * reports each lost connection through the 'disconnect' event. A lockd restart is invisible to
 * patient callers: waits are parked again and auto-renewed leases renewed once it is back.
 * Given several addresses (the nodes of a cluster), it fails over between them.
 */
import { EventEmitter } from 'node:events';
import { AbortedError, ConnectionError, InvalidArgumentError, LockdError, LockTimeoutError, UnavailableError } from '../errors';
import type { LockRequestFields } from '../protocol/lock-service/client';
import type { WireClusterInfo, WireLockInfo } from '../protocol/lock-service/structs';
import { Lease, LeaseState, leaseOf } from './lease';
import { LeaseChannel, LeaseKeeper } from './lease-keeper';
import { isModeName, LockModeName, modeName, wireMode } from './mode';
import { readClientTls } from './credentials';
import { ClientOptions, parseAddress, resolveClientOptions } from './options';
import { OwnerRoutes } from './owner-routes';
import { LockServiceStub, WireAcquireResult } from './service-stub';
import { ThriftConnection } from './thrift-connection';

/** Per-call acquire options; every field is optional. */
export interface AcquireOptions {
  /** Lease length, ms. Default: the client's ttlMs, else lockd's --default-ttl (30 s). Must lie in lockd's [--min-ttl, --max-ttl]. */
  ttlMs?: number;
  /**
   * How long to wait in lockd's FIFO queue, ms: -1 until granted (acquire's default), 0 not at
   * all (tryAcquire's default). At most lockd's --max-wait (1 h). If lockd restarts or the
   * connection drops during the wait, the client reconnects and parks the request again for
   * what is left of it (at the back of the queue); it fails only when the wait is over.
   */
  waitMs?: number;
  /** "exclusive" (default) or "shared". */
  mode?: LockModeName;
  /** Release as soon as this client's connection closes, whatever the TTL. Default false. */
  ephemeral?: boolean;
  /** Owner label for this lease. Default: the client's owner. */
  owner?: string;
  /** The token of a live lease on this key in the same mode: re-enters it (holdCount + 1, same token and fence). */
  token?: string;
  /** Cancels the wait: the call rejects with AbortedError and lockd drops the waiter at once. */
  signal?: AbortSignal;
  /**
   * Renew the lease in the background until it is released: true = every third of its TTL
   * (jittered ±10%), a number = every that many ms. Default false (withLock: true). While it
   * renews, the lease's timer keeps the process alive.
   */
  autoRenew?: boolean | number;
}

/** withLock options: acquire options (autoRenew defaults to true) plus how often to renew. */
export interface WithLockOptions extends AcquireOptions {
  /** Renew every this many ms. Default: a third of the TTL, jittered ±10% so holders do not renew in step. */
  renewEveryMs?: number;
}

/** One holder as inspect and list show it (tokens are never shown). */
export interface HolderInfo {
  owner: string | undefined;
  mode: LockModeName;
  fence: number;
  /** Unix epoch ms on lockd's clock. */
  expiresAt: number;
  holdCount: number;
}

/** One key's state as inspect and list show it: no holders when it is free. */
export interface LockInfo {
  key: string;
  holders: HolderInfo[];
  waiters: number;
}

/** One lockd node as `clusterInfo()` reports it. */
export interface ClusterMemberInfo {
  nodeId: string;
  /** host:port clients reach it at. */
  address: string;
  /** The partitions it owns, ascending. */
  partitions: number[];
}

/**
 * The cluster as the answering node sees it. A single lockd (no --etcd) answers cluster "",
 * one partition and itself as the only member. A key's partition is crc32(UTF-8 bytes) mod
 * `partitions`.
 */
export interface ClusterInfo {
  /** The cluster's name; "" for a single lockd. */
  cluster: string;
  /** The node that answered. */
  nodeId: string;
  /** How many partitions the keys are spread over. */
  partitions: number;
  members: ClusterMemberInfo[];
  /** Owner (nodeId) of each partition by index; "" while a partition has no owner (failover). */
  owners: string[];
}

/** LockClient's events. */
export interface LockClientEvents {
  /** A connection was made (the first, or a reconnect); the argument is "host:port". */
  connect: [address: string];
  /**
   * The connection was lost; calls in flight rejected with `error`. The next call reconnects.
   * When nobody listens, the loss is reported with process.emitWarning instead.
   */
  disconnect: [error: LockdError];
}

const NO_OPTIONS: AcquireOptions = Object.freeze({});
/** routeToOwner: how many "not mine, ask X" answers one acquire follows before it goes through the main connection (nodes whose maps disagree during a hand-off must not bounce it for long). */
const MAX_REDIRECTS = 3;

/**
 * lockd's Node client. Every call travels over one multiplexed connection, opened on first use
 * and reopened (capped exponential backoff with jitter) after it is lost; each loss is reported
 * through the 'disconnect' event. Network failures reject with ConnectionError or
 * CallTimeoutError; refusals with the LockdError subclass of their code (NotHolderError, ...).
 *
 * Several addresses (`hosts`, the nodes of one cluster): the client connects to them in the
 * order given (each connect attempt tries every address once, starting where the last one
 * left off; the backoff pauses only between such rounds) and stays on the one that answered.
 * It fails over to the next address when that connection is lost, and when a node answers
 * UNAVAILABLE: new calls then go to the next address, while the old connection stays open as
 * long as it still carries an ephemeral lease or a call, and is closed after. A call that
 * cannot have taken effect (UNAVAILABLE, or no connection at all) is sent again on the next
 * address, at most once per address; one whose connection dropped after it was sent only when
 * sending it twice does no harm: inspect, list, checkFence, ping, clusterInfo, renew, and the
 * release of a lease held once (a release of a re-entered lease, or `release(key, token)`,
 * could leave one hold too many). An acquire is never sent twice unless it waits: then it is
 * parked again, as across a restart.
 *
 * Restarts: an acquire that is waiting when lockd shuts down (UNAVAILABLE) or the connection
 * drops is parked again once the client reconnects, for the rest of its wait; auto-renewed
 * leases are renewed as soon as it reconnects, and are lost only when their TTL runs out
 * unrenewed or lockd no longer knows them (an in-memory lockd forgets them on restart).
 *
 * Defaults: localhost:9090 (or LOCKD_ADDR=host:port), buffered transport, binary protocol, as
 * lockd's; see ClientOptions. `await using client = new LockClient()` closes it at scope end.
 */
export class LockClient extends EventEmitter<LockClientEvents> implements AsyncDisposable {
  /** The resolved options (defaults, LOCKD_ADDR, then what the constructor got). */
  readonly options: Readonly<ClientOptions>;
  private current: LockServiceStub | undefined;
  private connecting: Promise<LockServiceStub> | undefined;
  private _closed = false;
  /** A connection was made before: the next one is a reconnect. */
  private connectedBefore = false;
  /** Failed connection attempts since the last success: the backoff grows with it. */
  private connectFailures = 0;
  /** Where this client connects: `hosts`, else the one `host`:`port`. */
  private readonly addresses: readonly { host: string; port: number }[];
  /** Index in `addresses` of the current connection, or of the next one to try. */
  private cursor = 0;
  /** Connections failed over from after an UNAVAILABLE: open while they carry ephemeral leases or calls. */
  private readonly retired = new Set<LockServiceStub>();
  /**
   * Failovers after UNAVAILABLE since the last answer that was not UNAVAILABLE: once every
   * address said so, the client stays where it is (instead of opening a connection per call)
   * until some call succeeds.
   */
  private unavailableStreak = 0;
  /** routeToOwner: the partition map and a connection per owner node; undefined when off. */
  private readonly routes: OwnerRoutes | undefined;
  /** Ephemeral leases die with their connection: how each one hears of it. */
  private readonly ephemeralWatches = new Map<LeaseKeeper, { connection: ThriftConnection; onClose: (error: LockdError) => void }>();
  /** Leases renewing in the background: each is renewed at once after a reconnect. */
  private readonly autoRenewed = new Set<LeaseKeeper>();
  /** How this client's leases reach lockd (kept off the public API). */
  private readonly channel: LeaseChannel;

  /** @param options any ClientOptions fields; throws ConfigError when one is invalid. */
  constructor(options: Partial<ClientOptions> = {}) {
    super();
    this.options = Object.freeze(resolveClientOptions(options));
    this.addresses = this.options.hosts?.map(parseAddress) ?? [{ host: this.options.host, port: this.options.port }];
    this.routes = !this.options.routeToOwner
      ? undefined
      : new OwnerRoutes({
          fetchInfo: () => this.call((stub) => stub.clusterInfo(), true),
          open: (address) => this.openRoute(address),
          refreshMs: this.options.reconnectMaxMs,
        });
    const client = this;
    this.channel = {
      get closed() {
        return client._closed;
      },
      release: (keeper) => this.releaseKeeper(keeper),
      renew: (keeper, ttlMs) => this.call((stub) => stub.renew(keeper.key, keeper.token, ttlMs), true, keeper.key),
      renewalStopped: (keeper) => void this.autoRenewed.delete(keeper),
    };
  }

  /** True once close() was called. */
  get closed(): boolean {
    return this._closed;
  }

  /**
   * Waits for the lock (by default until granted) and resolves to its Lease. Rejects with
   * LockTimeoutError when `waitMs` ran out, AbortedError when `signal` aborted (lockd drops the
   * waiter), a refusal's LockdError (InvalidArgumentError for a TTL out of range...), or
   * ConnectionError when lockd cannot be reached at first, or went away and was not back
   * before the wait ended. Release the lease, or let `await using` do it.
   *
   * @example
   * import { LockClient } from 'lockd';
   * const client = new LockClient({ host: '127.0.0.1', port: 9090 });
   * {
   *   await using lease = await client.acquire('reports/daily', { ttlMs: 30_000, waitMs: 10_000 });
   *   console.log(`holding ${lease.key} with fence ${lease.fence}`);
   * } // released here
   * await client.close();
   */
  acquire(key: string, options: AcquireOptions = NO_OPTIONS): Promise<Lease> {
    return this.request(key, options, options.waitMs ?? -1, true) as Promise<Lease>;
  }

  /** Like acquire, but resolves to null when the lock is still busy after `waitMs` (default 0: try once). */
  tryAcquire(key: string, options: AcquireOptions = NO_OPTIONS): Promise<Lease | null> {
    return this.request(key, options, options.waitMs ?? 0, false);
  }

  /**
   * Runs `fn` while holding the lock: acquires (waiting per `waitMs`, default until granted),
   * renews in the background every third of the TTL (one jittered timer per lease), passes the
   * lease to `fn`, always releases (after any renewal in flight), and resolves to what `fn`
   * returned or rejects with what it threw. If the lease is lost meanwhile, `lease.signal`
   * aborts: stop the work then, as nothing guarantees exclusivity any longer.
   *
   * @example
   * import { LockClient } from 'lockd';
   * import { writeFile } from 'node:fs/promises';
   * const client = new LockClient(); // LOCKD_ADDR or localhost:9090
   * await client.withLock('reports/daily', async (lease) => {
   *   // lease.fence orders writers; lease.signal aborts if the lock is lost.
   *   await writeFile('/tmp/daily-report.txt', `written under fence ${lease.fence}\n`, { signal: lease.signal });
   * }, { ttlMs: 15_000, waitMs: 60_000 });
   * await client.close();
   */
  async withLock<T>(key: string, fn: (lease: Lease) => Promise<T> | T, options: WithLockOptions = NO_OPTIONS): Promise<T> {
    const lease = await this.acquire(key, { ...options, autoRenew: options.renewEveryMs ?? options.autoRenew ?? true });
    try {
      return await fn(lease);
    } finally {
      // A release lockd cannot receive is not fn's failure: the lease then ends at its TTL.
      await lease.release().catch(() => false);
    }
  }

  /** Holders (owner, mode, fence, expiry; never tokens) and the waiter count of one key. */
  async inspect(key: string): Promise<LockInfo> {
    return toLockInfo(await this.call((stub) => stub.inspect(key), true, key));
  }

  /** Held keys starting with `prefix`, in key order; `limit` <= 0 means lockd's default page (100). */
  async list(prefix = '', limit = 0): Promise<LockInfo[]> {
    return (await this.call((stub) => stub.listLocks(prefix, limit), true)).map(toLockInfo);
  }

  /** True while a live lease on `key` carries `fence`: ask right before acting on a fence. */
  async checkFence(key: string, fence: number): Promise<boolean> {
    return this.call((stub) => stub.checkFence(key, fence), true, key);
  }

  /** Resolves to "pong" when lockd answers; rejects with ConnectionError when it cannot be reached. */
  async ping(): Promise<string> {
    return this.call((stub) => stub.ping(), true);
  }

  /**
   * The cluster's name, members (node id, address, partitions owned) and the owner of each
   * partition, as the node this client is connected to sees them. A single lockd answers
   * cluster "" with itself as the only member.
   */
  async clusterInfo(): Promise<ClusterInfo> {
    return toClusterInfo(await this.call((stub) => stub.clusterInfo(), true));
  }

  /**
   * Releases the lease `token` names on `key`, from any process that knows the token. Resolves
   * to false when it names no live lease. Prefer `lease.release()` when you hold the Lease.
   * With several addresses it is sent again elsewhere only after UNAVAILABLE (not after a
   * dropped connection: the lease may be re-entered, and one hold must not be released twice).
   */
  async release(key: string, token: string): Promise<boolean> {
    return this.call((stub) => stub.release(key, token), false, key);
  }

  /**
   * Extends the lease `token` names to now + ttlMs; without ttlMs, by the lease's own TTL (the
   * one it was granted or last renewed with). Rejects with NotHolderError when it is gone.
   * Prefer `lease.renew()` when you hold the Lease.
   */
  async renew(key: string, token: string, ttlMs?: number): Promise<LeaseState> {
    const wire = await this.call((stub) => stub.renew(key, token, ttlMs), true, key);
    return { key: wire.lockKey, fence: wire.fence, mode: modeName(wire.mode), ttlMs: wire.ttlMs, expiresAt: wire.expiresAtMs, holdCount: wire.holdCount };
  }

  /**
   * Closes the connection; pending calls reject with ConnectionError and later calls fail.
   * Leases that are not ephemeral stay held on lockd until released or expired. Idempotent.
   */
  async close(): Promise<void> {
    this._closed = true;
    const stub = this.current;
    this.current = undefined;
    stub?.connection.close();
    for (const old of this.retired) old.connection.close();
    this.retired.clear();
    this.routes?.close();
  }

  /** close(), for `await using client = new LockClient()`. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  /** Releases one hold of a lease; the hot path sends straight on the open connection. */
  private releaseKeeper(keeper: LeaseKeeper): Promise<boolean> {
    if (keeper.ephemeral) return this.releaseEphemeral(keeper);
    const stub = this.current;
    if (stub !== undefined && this.addresses.length === 1 && this.routes === undefined) return stub.releaseLease(keeper);
    // Held once, a second release after a dropped reply finds it gone (false); held more, it would free a hold too many.
    return this.call((s) => s.releaseLease(keeper), keeper.holdCount <= 1, keeper.key);
  }

  /**
   * Sends one call on the current connection (connecting first if there is none). With several
   * addresses, a call answered UNAVAILABLE fails the client over to the next address and is sent
   * again there; one whose connection dropped is sent again only when `resendable` (sending it
   * twice does no harm). At most one send per address.
   */
  private async call<T>(send: (stub: LockServiceStub) => Promise<T>, resendable: boolean, key?: string): Promise<T> {
    const routed = key === undefined || this.routes === undefined ? undefined : await this.routes.stubFor(key);
    if (routed !== undefined) {
      // One try at the owner; when that cannot answer, the main connection (whose node forwards) can.
      try {
        return await send(routed);
      } catch (error) {
        if (error instanceof UnavailableError) this.routes!.redirected(key!, error.ownerAddress);
        else if (!(resendable && error instanceof ConnectionError) || this._closed) throw error;
      }
    }
    for (let attempt = 1; ; attempt++) {
      const stub = this.current ?? (await this.stub());
      let result: T;
      try {
        result = await send(stub);
      } catch (error) {
        if (error instanceof UnavailableError) this.failOver(stub);
        // UNAVAILABLE: again only elsewhere (the client failed over, or another call did).
        const again = error instanceof UnavailableError ? this.current !== stub : resendable && error instanceof ConnectionError;
        if (!again || attempt >= this.addresses.length || this._closed) throw error;
        continue;
      }
      this.unavailableStreak = 0;
      return result;
    }
  }

  /**
   * After an UNAVAILABLE from `stub`'s node (several addresses only): later calls go to the next
   * address. The old connection is not closed at once, as that would end its ephemeral leases
   * and parked waits: it closes once neither is left.
   */
  private failOver(stub: LockServiceStub): void {
    if (this.addresses.length === 1 || this.current !== stub || this.unavailableStreak >= this.addresses.length) return;
    this.unavailableStreak++;
    this.current = undefined;
    this.cursor = (this.cursor + 1) % this.addresses.length;
    this.retired.add(stub);
    // Deferred: a grant that just arrived on it registers its ephemeral watch first.
    const check = () => setImmediate(() => this.closeIfUnused(stub));
    stub.connection.onIdle(check);
    check();
  }

  /**
   * routeToOwner: a connection to the node at `address`, authenticated like the main one and
   * declared a peer link, so the node answers a key it does not own with UNAVAILABLE and the
   * owner's address (the map is corrected) rather than forwarding it.
   */
  private async openRoute(address: string): Promise<LockServiceStub> {
    const { host, port } = parseAddress(address);
    const { transport, protocol, connectTimeoutMs, maxMessageBytes, callTimeoutMs } = this.options;
    const tls = this.options.tls === undefined ? undefined : readClientTls(this.options.tls);
    const connection = await ThriftConnection.connect({ host, port, transport, protocol, connectTimeoutMs, maxMessageBytes, tls });
    if (this._closed) {
      connection.close();
      throw new ConnectionError('the LockClient is closed');
    }
    const stub = new LockServiceStub(connection, callTimeoutMs);
    try {
      await this.authenticate(stub);
      await stub.peerConnection(`client:${this.options.owner}`);
    } catch (error) {
      connection.close();
      throw error;
    }
    return stub;
  }

  /** Closes a retired connection that carries no call and no ephemeral lease. */
  private closeIfUnused(stub: LockServiceStub): void {
    if (!this.retired.has(stub) || stub.connection.pendingCount > 0) return;
    for (const watch of this.ephemeralWatches.values()) if (watch.connection === stub.connection) return;
    stub.connection.close(); // its close listener drops it from `retired` without reporting a disconnect
  }

  private async releaseEphemeral(keeper: LeaseKeeper): Promise<boolean> {
    const watch = this.ephemeralWatches.get(keeper);
    // No watch: its connection closed, and lockd freed the lease with it.
    if (watch === undefined || !watch.connection.isOpen) return false;
    this.ephemeralWatches.delete(keeper);
    watch.connection.offClose(watch.onClose);
    // Its own connection, even when the client failed over from it: only there is the lease known as ephemeral.
    const stub = this.current?.connection === watch.connection ? this.current : new LockServiceStub(watch.connection, this.options.callTimeoutMs);
    return stub.releaseLease(keeper);
  }

  private watchConnection(keeper: LeaseKeeper, connection: ThriftConnection): void {
    const onClose = (error: LockdError) => {
      this.ephemeralWatches.delete(keeper);
      keeper.markLost(new ConnectionError(`lost the ephemeral lease on ${JSON.stringify(keeper.key)}: lockd frees it with its connection (${error.message})`, { cause: error }), true);
    };
    this.ephemeralWatches.set(keeper, { connection, onClose });
    connection.onClose(onClose);
  }

  /**
   * acquire and tryAcquire; `busyIsError`: a lock still busy after the wait rejects with
   * LockTimeoutError instead of resolving to null. A wait cut short by an outage (UNAVAILABLE
   * from a lockd shutting down, or a dropped connection) is sent again, after a backoff and a
   * reconnect, for the rest of the wait.
   */
  private async request(key: string, options: AcquireOptions, waitMs: number, busyIsError: boolean): Promise<Lease | null> {
    const signal = options.signal;
    if (signal?.aborted) throw aborted(key, signal);
    const mode = options.mode;
    if (mode !== undefined && !isModeName(mode)) {
      throw new InvalidArgumentError(`mode must be "exclusive" or "shared", got ${JSON.stringify(mode)}`);
    }
    const ephemeral = options.ephemeral === true;
    const request: LockRequestFields = {
      lockKey: key,
      owner: options.owner ?? this.options.owner,
      ttlMs: options.ttlMs ?? this.options.ttlMs,
      waitMs,
      mode: mode === 'shared' ? wireMode(mode) : undefined,
      token: options.token,
      ephemeral: ephemeral || undefined,
    };
    const deadline = waitMs < 0 ? Infinity : performance.now() + waitMs;
    /** The failure that cut the wait short, while riding out an outage. */
    let outage: LockdError | undefined;
    /** routeToOwner: redirects followed for this request; past MAX_REDIRECTS it takes the main connection. */
    let redirects = 0;
    for (let outages = 0; ; outages++) {
      const routed = this.routes !== undefined && redirects < MAX_REDIRECTS ? await this.withinWait(this.routes.stubFor(key), key, signal, deadline, outage) : undefined;
      let stub = routed ?? this.current;
      try {
        if (stub === undefined) stub = await this.withinWait(this.stub(), key, signal, deadline, outage);
      } catch (error) {
        // Unreachable at first: fail fast. During an outage: keep trying until the wait is over
        // (withinWait then rejects with the outage's own error).
        if (outage === undefined || this._closed || !(error instanceof ConnectionError)) throw error;
        // The wait ended while reconnecting: say so, whichever attempt noticed it.
        if (performance.now() >= deadline) throw outageOutlasted(this.address, key, error);
        outage = error;
        continue;
      }
      if (outage !== undefined) request.waitMs = waitMs < 0 ? -1 : Math.max(0, Math.round(deadline - performance.now()));
      const sentAt = performance.now();
      let result: WireAcquireResult;
      try {
        result = await sendAcquire(stub, request, signal, key);
      } catch (error) {
        if (routed !== undefined && error instanceof UnavailableError) {
          this.routes!.redirected(key, error.ownerAddress);
          // A redirect: that node did not take the request (it does not own the key); send it to the owner at once.
          if (error.ownerAddress !== undefined && !signal?.aborted) {
            redirects++;
            continue;
          }
        }
        // UNAVAILABLE: the next call (and a wait parked again) goes to the next address, if any.
        if (error instanceof UnavailableError) this.failOver(stub);
        const cutShort = (error instanceof UnavailableError || error instanceof ConnectionError) && waitMs !== 0 && !this._closed && !signal?.aborted;
        if (!cutShort) throw error;
        if (performance.now() >= deadline) throw outageOutlasted(this.address, key, error);
        outage = error;
        // Back off before parking again: a lockd that is going away answers at once.
        await this.withinWait(delay(backoffMs(this.options, outages + 1)), key, signal, deadline, outage);
        continue;
      }
      this.unavailableStreak = 0;
      if (!result.acquired) {
        if (signal?.aborted) throw aborted(key, signal);
        if (busyIsError) throw new LockTimeoutError(`${JSON.stringify(key)} was not granted within ${waitMs} ms: another holder kept it`);
        return null;
      }
      // A grant after a wait counts from its arrival; one without a wait from the send (conservative).
      const keeper = new LeaseKeeper(this.channel, result.lease!, ephemeral, request.waitMs === 0 ? sentAt : performance.now());
      if (ephemeral) this.watchConnection(keeper, stub.connection);
      if (signal?.aborted) {
        // The grant crossed the cancel on the wire: the caller gave up, so hand the lock back.
        void keeper.release().catch(() => false);
        throw aborted(key, signal);
      }
      const autoRenew = options.autoRenew;
      if (autoRenew !== undefined && autoRenew !== false) {
        this.autoRenewed.add(keeper);
        keeper.startAutoRenew(autoRenew === true ? undefined : autoRenew);
      }
      return leaseOf(keeper);
    }
  }

  /**
   * `promise`, unless the caller aborts first (AbortedError) or, during an outage, the wait
   * ends first (the outage's error, saying that lockd was not back in time).
   */
  private withinWait<T>(promise: Promise<T>, key: string, signal: AbortSignal | undefined, deadline: number, outage: LockdError | undefined): Promise<T> {
    if (signal === undefined && (outage === undefined || deadline === Infinity)) return promise;
    return new Promise<T>((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      const onAbort = () => settle(() => reject(aborted(key, signal!)));
      const settle = (then: () => void) => {
        signal?.removeEventListener('abort', onAbort);
        clearTimeout(timer);
        then();
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      if (outage !== undefined && deadline !== Infinity) {
        timer = setTimeout(() => settle(() => reject(outageOutlasted(this.address, key, outage))), Math.max(0, deadline - performance.now()));
      }
      promise.then(
        (value) => settle(() => (signal?.aborted ? reject(aborted(key, signal)) : resolve(value))),
        (error) => settle(() => reject(error)),
      );
    });
  }

  /** The address (or, with several, the list) for messages. */
  private get address(): string {
    return this.addresses.map(formatAddress).join(',');
  }

  /** Proves the configured credential on a new connection; a refusal closes it and is not retried. */
  private async authenticate(stub: LockServiceStub): Promise<void> {
    const credential = this.options.credential;
    if (credential === undefined) return;
    try {
      await stub.authenticate(credential.identity, credential.secret);
    } catch (error) {
      stub.connection.close();
      throw error;
    }
  }

  /** The connected stub, connecting (with backoff between failed attempts) when there is none. */
  private stub(): Promise<LockServiceStub> {
    if (this.current !== undefined) return Promise.resolve(this.current);
    if (this._closed) return Promise.reject(new ConnectionError('the LockClient is closed'));
    this.connecting ??= this.connect().finally(() => (this.connecting = undefined));
    return this.connecting;
  }

  /**
   * One attempt tries every address once, from the cursor on (a dead node costs no backoff when
   * the next one answers); the backoff pauses between attempts, as with one address.
   */
  private async connect(): Promise<LockServiceStub> {
    const { transport, protocol, connectTimeoutMs, maxMessageBytes, connectAttempts } = this.options;
    const count = this.addresses.length;
    let lastError: LockdError | undefined;
    // Read per connect, so a reconnect picks up rotated files; an unreadable one is a ConfigError, not retried.
    const tls = this.options.tls === undefined ? undefined : readClientTls(this.options.tls);
    for (let attempt = 0; attempt < connectAttempts && !this._closed; attempt++) {
      if (this.connectFailures > 0) {
        await delay(backoffMs(this.options, this.connectFailures));
        if (this._closed) break;
      }
      for (let tried = 0; tried < count && !this._closed; tried++) {
        const index = this.cursor;
        const { host, port } = this.addresses[index];
        let connection: ThriftConnection;
        try {
          connection = await ThriftConnection.connect({ host, port, transport, protocol, connectTimeoutMs, maxMessageBytes, tls });
        } catch (error) {
          lastError = error as LockdError;
          this.cursor = (index + 1) % count;
          continue;
        }
        this.connectFailures = 0;
        if (this._closed) {
          connection.close();
          break;
        }
        const stub = new LockServiceStub(connection, this.options.callTimeoutMs);
        await this.authenticate(stub);
        connection.onClose((error) => {
          // A connection failed over from is no longer this client's: its end is not a disconnect.
          if (this.retired.delete(stub)) return;
          if (this.current === stub) {
            this.current = undefined;
            // Its node may be gone: the reconnect starts with the next address.
            this.cursor = (index + 1) % count;
          }
          if (this._closed) return;
          if (this.listenerCount('disconnect') > 0) this.emit('disconnect', error);
          else process.emitWarning(`lockd client: ${error.message}; the next call reconnects`, { code: 'LOCKD_DISCONNECT' });
        });
        this.current = stub;
        const reconnected = this.connectedBefore;
        this.connectedBefore = true;
        this.emit('connect', `${host}:${port}`);
        // lockd may have restarted (or this is another node): learn at once whether it still holds each renewed lease.
        if (reconnected) for (const keeper of this.autoRenewed) keeper.renewSoon();
        return stub;
      }
      if (!this._closed) this.connectFailures++;
    }
    if (lastError !== undefined && count > 1) {
      throw new ConnectionError(`cannot reach lockd at any of ${this.address} (last: ${lastError.message})`, { cause: lastError });
    }
    throw lastError ?? new ConnectionError('the LockClient is closed');
  }
}

/** Sends one acquire; an abort of `signal` cancels the parked wait on lockd. */
async function sendAcquire(stub: LockServiceStub, request: LockRequestFields, signal: AbortSignal | undefined, key: string): Promise<WireAcquireResult> {
  const call = stub.acquire(request);
  if (signal === undefined) return call.reply;
  const onAbort = () => void stub.cancelWait(call.seqid).catch(() => false);
  signal.addEventListener('abort', onAbort, { once: true });
  try {
    return await call.reply;
  } catch (error) {
    if (signal.aborted) throw aborted(key, signal, error);
    throw error;
  } finally {
    signal.removeEventListener('abort', onAbort);
  }
}

/** The pause before reconnect attempt `failures`: reconnectBaseMs doubling per failure, capped at reconnectMaxMs, jittered ±50%. */
function backoffMs(options: Readonly<ClientOptions>, failures: number): number {
  const ms = Math.min(options.reconnectMaxMs, options.reconnectBaseMs * 2 ** Math.min(failures - 1, 30));
  return ms * (0.5 + Math.random());
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function aborted(key: string, signal: AbortSignal, cause: unknown = signal.reason): AbortedError {
  return new AbortedError(`acquire of ${JSON.stringify(key)} was aborted`, { cause });
}

/** The error of a wait that ended while lockd was away: of the outage's kind, with it as the cause. */
function outageOutlasted(address: string, key: string, outage: LockdError): LockdError {
  const message = `lockd at ${address} went away while ${JSON.stringify(key)} was waiting and was not back before the wait ended (${outage.message})`;
  return outage instanceof UnavailableError ? new UnavailableError(message, { cause: outage }) : new ConnectionError(message, { cause: outage });
}

/** "host:port", with brackets around an IPv6 host. */
function formatAddress({ host, port }: { host: string; port: number }): string {
  return `${host.includes(':') ? `[${host}]` : host}:${port}`;
}

function toClusterInfo(info: WireClusterInfo): ClusterInfo {
  return {
    cluster: info.cluster,
    nodeId: info.nodeId,
    partitions: info.partitions,
    members: info.members.map((m) => ({ nodeId: m.nodeId, address: m.address, partitions: [...m.partitions].sort((a, b) => a - b) })),
    owners: [...info.owners],
  };
}

function toLockInfo(info: WireLockInfo): LockInfo {
  return {
    key: info.lockKey,
    waiters: info.waiters,
    holders: info.holders.map((h) => ({ owner: h.owner, mode: modeName(h.mode), fence: h.fence, expiresAt: h.expiresAtMs, holdCount: h.holdCount })),
  };
}
