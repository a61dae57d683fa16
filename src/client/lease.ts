/** A held lock, as LockClient hands it out. */
import { performance } from 'node:perf_hooks';
import '../util/dispose';
import { CallTimeoutError, ConnectionError, LockdError, NotHolderError, UnavailableError, ResourceExhaustedError } from '../errors';
import type { WireLease } from '../protocol/lock-service/structs';

/** Lock modes by name: "exclusive" (one holder) or "shared" (any number of holders, no exclusive one). */
export type LockModeName = 'exclusive' | 'shared';

/** A lease's state as lockd last reported it (what `LockClient.renew` resolves to). */
export interface LeaseState {
  key: string;
  fence: number;
  mode: LockModeName;
  /** Lease length the last grant or renewal applied, ms. */
  ttlMs: number;
  /** When the lease ends unless renewed: Unix epoch ms on lockd's clock. */
  expiresAt: number;
  holdCount: number;
}

/** What a Lease needs from its client; LockClient implements it. @internal */
export interface LeaseOwner {
  /** True once the client was closed: renewals can no longer be sent. */
  readonly closed: boolean;
  releaseLease(lease: Lease): Promise<boolean>;
  renewLease(lease: Lease, ttlMs: number): Promise<WireLease>;
}

/** The shortest pause before a failed background renewal is retried. */
const MIN_RENEW_RETRY_MS = 10;

/** Converts the wire's mode number. */
export function modeName(mode: number): LockModeName {
  return mode === 2 ? 'shared' : 'exclusive';
}

/**
 * A granted lease. Holding is only as good as the lease: watch `signal`, which aborts when the
 * lease is lost, and pass `fence` to what you protect so it can reject a stale holder's writes.
 *
 * Timing is judged on this machine's monotonic clock: a lease counts as lost once its TTL has
 * passed since the request that granted or renewed it was sent (after a wait in lockd's queue:
 * since the grant arrived), so a skew between this machine's clock and lockd's does not matter.
 * `expiresAt` is lockd's own figure, on lockd's clock.
 *
 * `await using lease = await client.acquire('k')` releases it when the scope ends.
 */
export class Lease implements AsyncDisposable {
  /** The lock's name. */
  readonly key: string;
  /** The secret that proves ownership: renews, releases or re-enters the lease. Keep it secret. */
  readonly token: string;
  /** Fencing token: greater than every fence lockd issued before this grant, across restarts. */
  readonly fence: number;
  /** "exclusive" or "shared". */
  readonly mode: LockModeName;
  /** True when lockd frees the lease as soon as this client's connection closes. */
  readonly ephemeral: boolean;
  private _holdCount: number;
  private _ttlMs: number;
  private _expiresAt: number;
  /** performance.now() by which the lease surely ended unless renewed. */
  private deadline: number;
  private controller: AbortController | undefined;
  private timer: NodeJS.Timeout | undefined;
  private timerAt = 0;
  private released: Promise<boolean> | undefined;
  /** Lost in a way that means lockd no longer holds it (expired, refused as NOT_HOLDER, freed with its connection). */
  private gone = false;
  /** Background renewal: off (undefined), every third of the TTL (0), or every N ms. */
  private autoRenewEveryMs: number | undefined;
  private nextRenewAt = 0;
  private renewing: Promise<void> | undefined;
  private lastRenewError: LockdError | undefined;

  /**
   * Built by LockClient. @internal
   * @param validFrom performance.now() from which the TTL counts (see the class comment).
   */
  constructor(
    private readonly owner: LeaseOwner,
    wire: WireLease,
    ephemeral: boolean,
    validFrom: number,
  ) {
    this.key = wire.lockKey;
    this.token = wire.token;
    this.fence = wire.fence;
    this.mode = modeName(wire.mode);
    this._holdCount = wire.holdCount;
    this._ttlMs = wire.ttlMs;
    this._expiresAt = wire.expiresAtMs;
    this.deadline = validFrom + wire.ttlMs;
    this.ephemeral = ephemeral;
  }

  /** How many times the holder has entered, as of the last grant or renewal (> 1 when re-entered). */
  get holdCount(): number {
    return this._holdCount;
  }

  /** Lease length the last grant or renewal applied, ms. */
  get ttlMs(): number {
    return this._ttlMs;
  }

  /** When the lease ends unless renewed: Unix epoch ms on lockd's clock (`new Date(lease.expiresAt)`). */
  get expiresAt(): number {
    return this._expiresAt;
  }

  /** Milliseconds left before the lease surely ends unless renewed, on this machine's clock; 0 once past. */
  get remainingMs(): number {
    return Math.max(0, this.deadline - performance.now());
  }

  /**
   * Aborts when the lease is lost: it expired unrenewed, a renewal was refused, lockd stayed
   * unreachable past its TTL, or (ephemeral leases) its connection closed. `signal.reason` is a
   * LockdError saying which. Releasing does not abort it. Pass it to work that must stop then.
   */
  get signal(): AbortSignal {
    if (this.controller === undefined) {
      this.controller = new AbortController();
      this.schedule();
    }
    return this.controller.signal;
  }

  /** True until released, lost or past its TTL. */
  get held(): boolean {
    return this.released === undefined && !(this.controller?.signal.aborted ?? false) && performance.now() < this.deadline;
  }

  /**
   * Leaves the lease once (holdCount - 1; the lock frees at zero) and stops background renewal,
   * after any renewal in flight. Idempotent: later calls return the first call's promise.
   * Resolves to false when lockd no longer held it (it had expired or was lost: the work done
   * under it may not have been exclusive); at once, without a call, when `signal` already
   * aborted because lockd no longer holds it. Rejects with ConnectionError when lockd cannot
   * be reached; the lease then ends at its TTL.
   */
  release(): Promise<boolean> {
    if (this.released === undefined) {
      this.autoRenewEveryMs = undefined;
      this.clearTimer();
      const renewing = this.renewing;
      if (this.gone) this.released = Promise.resolve(false);
      else if (renewing === undefined) this.released = this.owner.releaseLease(this);
      else this.released = renewing.then(() => (this.gone ? false : this.owner.releaseLease(this)));
    }
    return this.released;
  }

  /**
   * Extends the lease to now + ttlMs (default: its current TTL), keeping token and fence.
   * Rejects with NotHolderError (and aborts `signal`) when lockd no longer holds it, with
   * InvalidArgumentError when ttlMs is outside lockd's range.
   */
  async renew(ttlMs: number = this._ttlMs): Promise<void> {
    if (this.released !== undefined) throw new NotHolderError(`the lease on ${JSON.stringify(this.key)} was released; acquire it again`);
    const sentAt = performance.now();
    let wire: WireLease;
    try {
      wire = await this.owner.renewLease(this, ttlMs);
    } catch (error) {
      if (error instanceof NotHolderError) this.markLost(error, true);
      throw error;
    }
    this._ttlMs = wire.ttlMs;
    this._expiresAt = wire.expiresAtMs;
    this._holdCount = wire.holdCount;
    this.deadline = sentAt + wire.ttlMs;
    this.lastRenewError = undefined;
    this.schedule();
  }

  /** Releases, for `await using`. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.release();
  }

  /**
   * Starts renewing in the background every `everyMs` (default: a third of the TTL, jittered
   * ±10%) until released or lost. One timer per lease also watches the deadline. @internal
   */
  startAutoRenew(everyMs?: number): void {
    if (this.released !== undefined || this.controller?.signal.aborted) return;
    this.autoRenewEveryMs = everyMs ?? 0;
    this.nextRenewAt = performance.now() + jitter(this.renewInterval());
    this.schedule();
  }

  /**
   * Marks the lease lost: aborts `signal` with `reason` and stops renewing. `gone`: lockd surely
   * no longer holds it, so release() need not ask. @internal
   */
  markLost(reason: LockdError, gone: boolean): void {
    if (gone) this.gone = true;
    this.autoRenewEveryMs = undefined;
    this.clearTimer();
    if (this.controller === undefined) this.controller = new AbortController();
    if (!this.controller.signal.aborted) this.controller.abort(reason);
  }

  /** Called by the lease's timer. @internal */
  tick(): void {
    this.timer = undefined;
    if (this.released !== undefined || this.controller?.signal.aborted) return;
    const now = performance.now();
    if (now >= this.deadline) {
      const last = this.lastRenewError;
      this.markLost(
        last !== undefined
          ? new ConnectionError(`lost the lease on ${JSON.stringify(this.key)}: its ${this._ttlMs} ms TTL ran out while it could not be renewed (${last.message})`, { cause: last })
          : new NotHolderError(`lost the lease on ${JSON.stringify(this.key)}: its ${this._ttlMs} ms TTL ran out without a renewal`),
        true,
      );
      return;
    }
    if (this.autoRenewEveryMs !== undefined && this.renewing === undefined && now >= this.nextRenewAt) this.renewInBackground();
    this.schedule();
  }

  private renewInterval(): number {
    return this.autoRenewEveryMs || this._ttlMs / 3;
  }

  private renewInBackground(): void {
    this.renewing = this.renew().then(
      () => {
        this.renewing = undefined;
        this.nextRenewAt = performance.now() + jitter(this.renewInterval());
        this.schedule();
      },
      (error: unknown) => {
        this.renewing = undefined;
        if (this.controller?.signal.aborted || this.released !== undefined) return; // NotHolderError marked it lost
        const lockdError = error instanceof LockdError ? error : new ConnectionError(String(error), { cause: error });
        const transient = error instanceof ConnectionError || error instanceof CallTimeoutError || error instanceof UnavailableError || error instanceof ResourceExhaustedError;
        if (!transient) {
          this.markLost(lockdError, false); // refused (INVALID_ARGUMENT, PERMISSION_DENIED...): retrying cannot help
          return;
        }
        this.lastRenewError = lockdError;
        if (this.owner.closed) {
          this.autoRenewEveryMs = undefined; // nothing can renew it now; the deadline still ends it
        } else {
          // Retry well before the deadline, a little sooner each time, never in a tight loop.
          const remaining = this.deadline - performance.now();
          this.nextRenewAt = performance.now() + jitter(Math.max(MIN_RENEW_RETRY_MS, Math.min(this.renewInterval(), remaining / 3)));
        }
        this.schedule();
      },
    );
  }

  /** Keeps the one timer at the next thing to do: renew (if renewing) or notice the deadline (if watched). */
  private schedule(): void {
    if (this.released !== undefined || this.controller?.signal.aborted) return this.clearTimer();
    const renewing = this.autoRenewEveryMs !== undefined;
    if (!renewing && this.controller === undefined) return this.clearTimer();
    const at = renewing && this.renewing === undefined ? Math.min(this.deadline, this.nextRenewAt) : this.deadline;
    if (this.timer !== undefined && this.timerAt === at) return;
    this.clearTimer();
    this.timerAt = at;
    this.timer = setTimeout(fireLeaseTimer, Math.max(0, at - performance.now()), this);
    // A lease only watched for loss must not keep the process alive; one being renewed must.
    if (!renewing) this.timer.unref();
  }

  private clearTimer(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
  }
}

function fireLeaseTimer(lease: Lease): void {
  lease.tick();
}

/** ±10%, so leases granted together do not renew in step. */
function jitter(ms: number): number {
  return ms * (0.9 + 0.2 * Math.random());
}
