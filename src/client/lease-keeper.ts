/**
 * The engine behind a Lease: its state as lockd last reported it, the one timer that renews it
 * (autoRenew) and notices its deadline, and its loss. Internal: the package entry exports only
 * the Lease handle, so none of this appears in the public typings.
 */
import { CallTimeoutError, ConnectionError, LockdError, NotHolderError, ResourceExhaustedError, UnavailableError } from '../errors';
import type { WireLease } from '../protocol/lock-service/structs';
import { LockModeName, modeName } from './mode';

/** What a keeper needs from its client; LockClient hands each keeper one. */
export interface LeaseChannel {
  /** True once the client was closed: renewals can no longer be sent. */
  readonly closed: boolean;
  /** Sends release(key, token). */
  release(lease: LeaseKeeper): Promise<boolean>;
  /** Sends renew(key, token, ttlMs). */
  renew(lease: LeaseKeeper, ttlMs: number): Promise<WireLease>;
  /** The keeper stopped renewing for good (released or lost). */
  renewalStopped(lease: LeaseKeeper): void;
}

/** The shortest pause before a failed background renewal is retried. */
export const MIN_RENEW_RETRY_MS = 10;

/**
 * Errors after which a background renewal is retried: lockd was unreachable, slow, restarting
 * or busy. Anything else (a refusal) ends the lease.
 */
function isTransient(error: unknown): boolean {
  return error instanceof ConnectionError || error instanceof CallTimeoutError || error instanceof UnavailableError || error instanceof ResourceExhaustedError;
}

/**
 * A lease's state and timer. Times are `performance.now()` (this machine's monotonic clock): a
 * lease counts as lost once its TTL has passed since the request that granted or renewed it.
 */
export class LeaseKeeper {
  readonly key: string;
  readonly token: string;
  readonly fence: number;
  readonly mode: LockModeName;
  readonly ephemeral: boolean;
  holdCount: number;
  ttlMs: number;
  expiresAt: number;
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

  /** @param validFrom performance.now() from which the TTL counts. */
  constructor(
    private readonly channel: LeaseChannel,
    wire: WireLease,
    ephemeral: boolean,
    validFrom: number,
  ) {
    this.key = wire.lockKey;
    this.token = wire.token;
    this.fence = wire.fence;
    this.mode = modeName(wire.mode);
    this.holdCount = wire.holdCount;
    this.ttlMs = wire.ttlMs;
    this.expiresAt = wire.expiresAtMs;
    this.deadline = validFrom + wire.ttlMs;
    this.ephemeral = ephemeral;
  }

  get remainingMs(): number {
    return Math.max(0, this.deadline - performance.now());
  }

  get signal(): AbortSignal {
    if (this.controller === undefined) {
      this.controller = new AbortController();
      this.schedule();
    }
    return this.controller.signal;
  }

  get held(): boolean {
    return this.released === undefined && !this.lost && performance.now() < this.deadline;
  }

  /** True while background renewal is on. */
  get autoRenewing(): boolean {
    return this.autoRenewEveryMs !== undefined;
  }

  private get lost(): boolean {
    return this.controller?.signal.aborted ?? false;
  }

  release(): Promise<boolean> {
    if (this.released === undefined) {
      this.stopRenewing();
      this.clearTimer();
      const renewing = this.renewing;
      if (this.gone) this.released = Promise.resolve(false);
      else if (renewing === undefined) this.released = this.channel.release(this);
      else this.released = renewing.then(() => (this.gone ? false : this.channel.release(this)));
    }
    return this.released;
  }

  async renew(ttlMs: number = this.ttlMs): Promise<void> {
    if (this.released !== undefined) throw new NotHolderError(`the lease on ${JSON.stringify(this.key)} was released; acquire it again`);
    const sentAt = performance.now();
    let wire: WireLease;
    try {
      wire = await this.channel.renew(this, ttlMs);
    } catch (error) {
      if (error instanceof NotHolderError) this.markLost(error, true);
      throw error;
    }
    this.ttlMs = wire.ttlMs;
    this.expiresAt = wire.expiresAtMs;
    this.holdCount = wire.holdCount;
    this.deadline = sentAt + wire.ttlMs;
    this.lastRenewError = undefined;
    this.schedule();
  }

  /** Starts renewing in the background every `everyMs` (default: a third of the TTL, jittered ±10%) until released or lost. */
  startAutoRenew(everyMs?: number): void {
    if (this.released !== undefined || this.lost) return;
    this.autoRenewEveryMs = everyMs ?? 0;
    this.nextRenewAt = performance.now() + jitter(this.renewInterval());
    this.schedule();
  }

  /**
   * Renews as soon as possible (no renewal in flight): after a reconnect, so a lease that lockd
   * lost in a restart is reported at once and one it kept is extended before its deadline.
   */
  renewSoon(): void {
    if (this.autoRenewEveryMs === undefined || this.renewing !== undefined) return;
    this.nextRenewAt = performance.now();
    this.schedule();
  }

  /** Aborts `signal` with `reason` and stops renewing. `gone`: lockd surely no longer holds it, so release() need not ask. */
  markLost(reason: LockdError, gone: boolean): void {
    if (gone) this.gone = true;
    this.stopRenewing();
    this.clearTimer();
    if (this.controller === undefined) this.controller = new AbortController();
    if (!this.controller.signal.aborted) this.controller.abort(reason);
  }

  /** The timer's callback: ends the lease at its deadline, else renews when due. */
  private tick(): void {
    this.timer = undefined;
    if (this.released !== undefined || this.lost) return;
    const now = performance.now();
    if (now >= this.deadline) {
      const last = this.lastRenewError;
      this.markLost(
        last !== undefined
          ? new ConnectionError(`lost the lease on ${JSON.stringify(this.key)}: its ${this.ttlMs} ms TTL ran out while it could not be renewed (${last.message})`, { cause: last })
          : new NotHolderError(`lost the lease on ${JSON.stringify(this.key)}: its ${this.ttlMs} ms TTL ran out without a renewal`),
        true,
      );
      return;
    }
    if (this.autoRenewEveryMs !== undefined && this.renewing === undefined && now >= this.nextRenewAt) this.renewInBackground();
    this.schedule();
  }

  private stopRenewing(): void {
    if (this.autoRenewEveryMs === undefined) return;
    this.autoRenewEveryMs = undefined;
    this.channel.renewalStopped(this);
  }

  private renewInterval(): number {
    return this.autoRenewEveryMs || this.ttlMs / 3;
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
        if (this.lost || this.released !== undefined) return; // NotHolderError marked it lost
        const lockdError = error instanceof LockdError ? error : new ConnectionError(String(error), { cause: error });
        if (!isTransient(error)) {
          this.markLost(lockdError, false); // refused (INVALID_ARGUMENT, PERMISSION_DENIED...): retrying cannot help
          return;
        }
        this.lastRenewError = lockdError;
        if (this.channel.closed) {
          this.stopRenewing(); // nothing can renew it now; the deadline still ends it
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
    if (this.released !== undefined || this.lost) return this.clearTimer();
    const renewing = this.autoRenewEveryMs !== undefined;
    if (!renewing && this.controller === undefined) return this.clearTimer();
    const at = renewing && this.renewing === undefined ? Math.min(this.deadline, this.nextRenewAt) : this.deadline;
    if (this.timer !== undefined && this.timerAt === at) return;
    this.clearTimer();
    this.timerAt = at;
    this.timer = setTimeout(LeaseKeeper.fire, Math.max(0, at - performance.now()), this);
    // A lease only watched for loss must not keep the process alive; one being renewed must.
    if (!renewing) this.timer.unref();
  }

  private clearTimer(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
  }

  /** The timer callback: a static method with the keeper as argument, so no closure per timer. */
  static fire(keeper: LeaseKeeper): void {
    keeper.tick();
  }
}

/** ±10%, so leases granted together do not renew in step. */
function jitter(ms: number): number {
  return ms * (0.9 + 0.2 * Math.random());
}
