/** A held lock, as LockClient hands it out. */
import '../util/dispose';
import type { LeaseKeeper } from './lease-keeper';
import type { LockModeName } from './mode';

export type { LockModeName };

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

let wrap: (keeper: LeaseKeeper) => Lease;

/**
 * A granted lease. Holding is only as good as the lease: watch `signal`, which aborts when the
 * lease is lost, and pass `fence` to what you protect so it can reject a stale holder's writes.
 *
 * Timing is judged on this machine's monotonic clock: a lease counts as lost once its TTL has
 * passed since the request that granted or renewed it was sent (after a wait in lockd's queue:
 * since the grant arrived), so a skew between this machine's clock and lockd's does not matter.
 * `expiresAt` is lockd's own figure, on lockd's clock.
 *
 * `await using lease = await client.acquire('k')` releases it when the scope ends. Only
 * LockClient makes leases.
 */
export class Lease implements AsyncDisposable {
  readonly #keeper: LeaseKeeper;

  static {
    wrap = (keeper) => new Lease(keeper);
  }

  private constructor(keeper: LeaseKeeper) {
    this.#keeper = keeper;
  }

  /** The lock's name. */
  get key(): string {
    return this.#keeper.key;
  }

  /** The secret that proves ownership: renews, releases or re-enters the lease. Keep it secret. */
  get token(): string {
    return this.#keeper.token;
  }

  /** Fencing token: greater than every fence lockd issued on this key before this grant, across restarts. */
  get fence(): number {
    return this.#keeper.fence;
  }

  /** "exclusive" or "shared". */
  get mode(): LockModeName {
    return this.#keeper.mode;
  }

  /** True when lockd frees the lease as soon as this client's connection closes. */
  get ephemeral(): boolean {
    return this.#keeper.ephemeral;
  }

  /** How many times the holder has entered, as of the last grant or renewal (> 1 when re-entered). */
  get holdCount(): number {
    return this.#keeper.holdCount;
  }

  /** Lease length the last grant or renewal applied, ms. */
  get ttlMs(): number {
    return this.#keeper.ttlMs;
  }

  /** When the lease ends unless renewed: Unix epoch ms on lockd's clock (`new Date(lease.expiresAt)`). */
  get expiresAt(): number {
    return this.#keeper.expiresAt;
  }

  /** Milliseconds left before the lease surely ends unless renewed, on this machine's clock; 0 once past. */
  get remainingMs(): number {
    return this.#keeper.remainingMs;
  }

  /**
   * Aborts when the lease is lost: it expired unrenewed, a renewal was refused, lockd stayed
   * unreachable past its TTL, or (ephemeral leases) its connection closed. `signal.reason` is a
   * LockdError saying which. Releasing does not abort it. Pass it to work that must stop then.
   */
  get signal(): AbortSignal {
    return this.#keeper.signal;
  }

  /** True until released, lost or past its TTL. */
  get held(): boolean {
    return this.#keeper.held;
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
    return this.#keeper.release();
  }

  /**
   * Extends the lease to now + ttlMs (default: its own TTL, `ttlMs`), keeping token and fence.
   * Rejects with NotHolderError (and aborts `signal`) when lockd no longer holds it, with
   * InvalidArgumentError when ttlMs is outside lockd's range.
   */
  renew(ttlMs?: number): Promise<void> {
    return this.#keeper.renew(ttlMs);
  }

  /** Releases, for `await using`. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.release();
  }
}

/** The Lease handle of a keeper; for LockClient (the package entry does not export it). */
export function leaseOf(keeper: LeaseKeeper): Lease {
  return wrap(keeper);
}
