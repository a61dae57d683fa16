/**
 * The HTTP front end's one backend session. HTTP calls are not bound to a connection, so every
 * HTTP waiter lives in this session and its outcome is routed back to the pending request by
 * waiter id. A request whose client goes away while waiting has its waiter cancelled. Changes
 * are answered only once durable, as on the Thrift side; releases are answered at once.
 */
import { adminOp } from '../backend/admin-op';
import type { Backend, ForcedRelease, SessionSink } from '../backend/backend';
import { AbortedError, LockdError, UnavailableError } from '../errors';
import type { AcquireRequest, LeaseView, SessionId, Waiter } from '../table/types';

/** What an HTTP acquire came to. */
export type GatewayAcquireResult =
  | { readonly kind: 'granted'; readonly lease: LeaseView; readonly reentered: boolean }
  | { readonly kind: 'busy' }
  | { readonly kind: 'timed_out' };

interface PendingWait {
  readonly waiter: Waiter;
  resolve(result: GatewayAcquireResult): void;
  reject(error: LockdError): void;
}

export class HttpGateway implements SessionSink {
  private readonly session: SessionId;
  private readonly pending = new Map<number, PendingWait>();
  private closed = false;

  constructor(private readonly backend: Backend) {
    this.session = backend.openSession(this);
  }

  /** HTTP requests parked in a wait. */
  get waiting(): number {
    return this.pending.size;
  }

  /**
   * Acquires for an HTTP request. `signal` aborts when the client goes away: a parked waiter is
   * cancelled, and a lease granted meanwhile is released (nobody would learn its token).
   */
  async acquire(request: Omit<AcquireRequest, 'session' | 'ephemeral'>, signal: AbortSignal): Promise<GatewayAcquireResult> {
    if (this.closed) throw shuttingDown();
    const outcome = this.backend.acquire({ ...request, session: this.session });
    let result: GatewayAcquireResult;
    if (outcome.kind === 'queued') result = await this.park(outcome.waiter, signal);
    else result = outcome.kind === 'busy' ? outcome : { kind: 'granted', lease: outcome.lease, reentered: outcome.reentered };
    if (result.kind !== 'granted') return result;
    await this.durable(result.lease);
    if (signal.aborted) {
      this.backend.release(result.lease.key, result.lease.token);
      throw new AbortedError('the HTTP client went away before the grant could be answered; the lease was released');
    }
    return result;
  }

  /** Renews and answers once the renewal is durable. */
  async renew(key: string, token: string, ttlMs: number | undefined): Promise<LeaseView> {
    const lease = this.backend.renew(key, token, ttlMs);
    await this.synced();
    return lease;
  }

  /** Releases once; answered at once (a release lost in a crash only keeps the lease until its TTL). */
  release(key: string, token: string): boolean {
    const released = this.backend.release(key, token);
    if (this.backend.durable) this.backend.writeBehind();
    return released;
  }

  /** An operator's force-release, answered once durable. */
  async forceRelease(key: string, fence: number | undefined, reason: string, actor: string): Promise<ForcedRelease[]> {
    const freed = adminOp(this.backend.forceRelease, 'force-release').call(this.backend, key, fence, reason, actor);
    await this.synced();
    return freed;
  }

  /** Answers every parked HTTP wait with UNAVAILABLE and ends the session (shutdown). */
  close(message: string): void {
    if (this.closed) return;
    this.closed = true;
    for (const wait of [...this.pending.values()]) {
      this.pending.delete(wait.waiter.id);
      this.backend.cancelWaiter(wait.waiter);
      wait.reject(new UnavailableError(message));
    }
    this.backend.closeSession(this.session);
  }

  // SessionSink -------------------------------------------------------------------------------

  waiterGranted(waiter: Waiter, lease: LeaseView): void {
    this.take(waiter)?.resolve({ kind: 'granted', lease, reentered: false });
  }

  waiterTimedOut(waiter: Waiter): void {
    this.take(waiter)?.resolve({ kind: 'timed_out' });
  }

  waiterRefused(waiter: Waiter, error: LockdError): void {
    this.take(waiter)?.reject(error);
  }

  // -------------------------------------------------------------------------------------------

  private park(waiter: Waiter, signal: AbortSignal): Promise<GatewayAcquireResult> {
    return new Promise<GatewayAcquireResult>((resolve, reject) => {
      const onAbort = () => {
        if (!this.pending.delete(waiter.id)) return;
        this.backend.cancelWaiter(waiter);
        reject(new AbortedError('the HTTP client went away while waiting; its wait was cancelled'));
      };
      const settle = <T>(fn: (value: T) => void) => (value: T) => {
        signal.removeEventListener('abort', onAbort);
        fn(value);
      };
      this.pending.set(waiter.id, { waiter, resolve: settle(resolve), reject: settle(reject) });
      if (signal.aborted) onAbort();
      else signal.addEventListener('abort', onAbort, { once: true });
    });
  }

  private take(waiter: Waiter): PendingWait | undefined {
    const wait = this.pending.get(waiter.id);
    if (wait !== undefined) this.pending.delete(waiter.id);
    return wait;
  }

  /** Waits for a grant to be durable; a failed sync undoes it and answers UNAVAILABLE. */
  private async durable(lease: LeaseView): Promise<void> {
    try {
      await this.synced();
    } catch (error) {
      this.backend.rollBack(lease.key, lease.token);
      throw error;
    }
  }

  private synced(): Promise<void> {
    if (!this.backend.durable) return Promise.resolve();
    return new Promise((resolve, reject) =>
      this.backend.sync((error) =>
        error === null ? resolve() : reject(new UnavailableError(`the change could not be made durable (${error.message}) and was undone; retry later`, { cause: error })),
      ),
    );
  }
}

function shuttingDown(): UnavailableError {
  return new UnavailableError('lockd is shutting down; retry after it restarts or against another instance');
}
