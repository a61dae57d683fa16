/** A held lock, as LockClient hands it out. */
import '../util/dispose';
import { LockdError, NotHolderError } from '../errors';
import type { WireLease } from '../protocol/lock-service-codec';

/** Lock modes by name. */
export type LockModeName = 'exclusive' | 'shared';

/** What a Lease needs from its client (LockClient implements it). */
export interface LeaseOwner {
  releaseLease(lease: Lease): Promise<boolean>;
  renewLease(lease: Lease, ttlMs: number): Promise<WireLease>;
}

/**
 * A granted lease. Holding is only as good as the lease: watch `signal`, which aborts when the
 * lease is lost (expired, renewal refused), and pass `fence` to what you protect.
 *
 * `await using lease = await client.acquire('k')` releases it when the scope ends.
 */
export class Lease implements AsyncDisposable {
  readonly key: string;
  /** The secret that proves ownership; needed by other processes only to release on your behalf. */
  readonly token: string;
  /** Fencing token: greater than every fence lockd issued before this grant. */
  readonly fence: number;
  readonly mode: LockModeName;
  readonly ephemeral: boolean;
  /** Hold count after this grant (> 1 when re-entered). */
  holdCount: number;
  /** Lease length of the last grant or renewal, ms. */
  ttlMs: number;
  /** When the lease ends unless renewed: Unix ms on lockd's clock. */
  expiresAt: number;
  private controller: AbortController | undefined;
  private lostTimer: NodeJS.Timeout | undefined;
  private released: Promise<boolean> | undefined;

  constructor(
    private readonly owner: LeaseOwner,
    wire: WireLease,
    ephemeral: boolean,
  ) {
    this.key = wire.lockKey;
    this.token = wire.token;
    this.fence = wire.fence;
    this.mode = wire.mode === 2 ? 'shared' : 'exclusive';
    this.holdCount = wire.holdCount;
    this.ttlMs = wire.ttlMs;
    this.expiresAt = wire.expiresAtMs;
    this.ephemeral = ephemeral;
  }

  /** Aborts (with a LockdError as reason) when the lease is lost. Created on first use. */
  get signal(): AbortSignal {
    if (this.controller === undefined) {
      this.controller = new AbortController();
      if (this.released === undefined) this.armLostTimer();
    }
    return this.controller.signal;
  }

  /** True until released or lost. */
  get held(): boolean {
    return this.released === undefined && !(this.controller?.signal.aborted ?? false) && Date.now() < this.expiresAt;
  }

  /**
   * Leaves the lease once. Idempotent: later calls return the first call's result. Resolves to
   * false when lockd no longer held it (it had expired): the work done under it was unprotected.
   */
  release(): Promise<boolean> {
    if (this.released === undefined) {
      this.disarmLostTimer();
      this.released = this.owner.releaseLease(this);
    }
    return this.released;
  }

  /** Extends the lease to now + ttlMs (default: its current length). A refusal aborts `signal`. */
  async renew(ttlMs: number = this.ttlMs): Promise<void> {
    try {
      const wire = await this.owner.renewLease(this, ttlMs);
      this.ttlMs = wire.ttlMs;
      this.expiresAt = wire.expiresAtMs;
      this.holdCount = wire.holdCount;
      if (this.controller !== undefined) this.armLostTimer();
    } catch (error) {
      if (error instanceof NotHolderError) this.markLost(error);
      throw error;
    }
  }

  /** Releases (for `await using`). */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.release();
  }

  /** Marks the lease lost: aborts `signal` with `reason`. */
  markLost(reason: LockdError): void {
    this.disarmLostTimer();
    if (this.controller === undefined) this.controller = new AbortController();
    if (!this.controller.signal.aborted) this.controller.abort(reason);
  }

  private armLostTimer(): void {
    this.disarmLostTimer();
    const delay = Math.max(0, this.expiresAt - Date.now());
    this.lostTimer = setTimeout(() => this.markLost(new NotHolderError(`the lease on ${JSON.stringify(this.key)} expired at ${new Date(this.expiresAt).toISOString()} without a renewal`)), delay);
    this.lostTimer.unref();
  }

  private disarmLostTimer(): void {
    if (this.lostTimer !== undefined) clearTimeout(this.lostTimer);
    this.lostTimer = undefined;
  }
}
