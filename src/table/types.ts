/** Shared vocabulary of the lock table and everything built on it. Times are Unix ms; durations ms. */

/** The IDL's LockMode values. */
export const LockMode = { EXCLUSIVE: 1, SHARED: 2 } as const;
export type LockMode = (typeof LockMode)[keyof typeof LockMode];

/** Source of the current time, injected so the table is tested with a manual clock. */
export interface Clock {
  now(): number;
}

/** The wall clock. */
export const systemClock: Clock = { now: () => Date.now() };

/**
 * lockd's clock: Unix ms at process start plus monotonic time since, so a wall-clock step (NTP,
 * an operator's `date -s`) neither ends leases early nor keeps them late while lockd runs.
 */
export const monotonicClock: Clock = { now: () => performance.timeOrigin + performance.now() };

/** A clock that moves only when told: for tests. */
export class ManualClock implements Clock {
  constructor(private current = 1_700_000_000_000) {}
  now(): number {
    return this.current;
  }
  advance(ms: number): void {
    this.current += ms;
  }
}

/** Identifies a client connection; 0 means "no connection" (e.g. a lease restored from disk). */
export type SessionId = number;

/** A lease as it is granted or reported to its holder. */
export interface LeaseView extends LeaseFields {
  /** 32 hex characters (128 random bits). */
  readonly token: string;
}

/** What a lease is, but for the proof of holding it (a token, or its digest). */
export interface LeaseFields {
  readonly key: string;
  readonly fence: number;
  readonly ttlMs: number;
  readonly expiresAtMs: number;
  readonly mode: LockMode;
  readonly holdCount: number;
  readonly owner: string | undefined;
}

/**
 * A lease as lockd keeps it (table, data dir, cluster journal): the digest of its token in place
 * of the token (see token-digest.ts), so nothing kept can be presented as the token.
 */
export interface StoredLease extends LeaseFields {
  /** First 16 bytes of SHA-256 of the token's 16 bytes, as 32 hex characters. */
  readonly digest: string;
}

/** A holder as others see it: no token. */
export interface HolderView {
  readonly owner: string | undefined;
  readonly mode: LockMode;
  readonly fence: number;
  readonly expiresAtMs: number;
  readonly holdCount: number;
}

/** One key's holders and waiter count, as inspect and listLocks report it. */
export interface LockInfoView {
  readonly key: string;
  readonly holders: HolderView[];
  readonly waiters: number;
}

/** What acquire asks for, already validated for types (not for ranges). */
export interface AcquireRequest {
  key: string;
  owner?: string;
  /** Absent: the table's default TTL. */
  ttlMs?: number;
  /** Absent or 0: do not wait; -1: wait until granted or the session ends. */
  waitMs?: number;
  mode?: LockMode;
  /** Token of a live lease on this key and mode: re-enter it. */
  token?: string;
  /** Release when `session` ends. */
  ephemeral?: boolean;
  /** The connection asking; ephemeral grants and waiters belong to it. */
  session: SessionId;
}

/** A parked acquire. The table owns its position; the session that parked it gets its outcome. */
export interface Waiter {
  readonly id: number;
  readonly key: string;
  readonly mode: LockMode;
  readonly owner: string | undefined;
  readonly ttlMs: number;
  readonly ephemeral: boolean;
  readonly session: SessionId;
  /** When the wait gives up; Infinity for waitMs = -1. */
  readonly deadlineMs: number;
}

/** Outcome of acquire: granted now, parked in the queue, or busy with no wait asked. */
export type AcquireOutcome =
  | { readonly kind: 'granted'; readonly lease: LeaseView; readonly reentered: boolean }
  | { readonly kind: 'queued'; readonly waiter: Waiter }
  | { readonly kind: 'busy' };

/**
 * A change to durable state, in the order the table made it. Changes carry token digests, never tokens. A journal that applies these in
 * order to an empty table rebuilds the same leases and fence counter.
 */
export type TableChange =
  | { readonly kind: 'grant'; readonly lease: StoredLease }
  | {
      readonly kind: 'update';
      readonly key: string;
      /** The lease's token digest (StoredLease.digest). */
      readonly digest: string;
      readonly holdCount: number;
      readonly ttlMs: number;
      readonly expiresAtMs: number;
    }
  | { readonly kind: 'free'; readonly key: string; readonly digest: string; readonly reason: LeaseEndReason }
  /** Fences up to `ceiling` may be issued; recovery resumes above it so fences never go backwards. */
  | { readonly kind: 'fence-reserve'; readonly ceiling: number };

/** Why the table freed a lease: its holder's last release, its TTL, its session's end, or an operator. */
export type LeaseEndReason = 'released' | 'expired' | 'session-closed' | 'force-released';

/** A lease as it ends: valid only during the leaseEnded call; key and owner are decoded when read. */
export interface EndingLease {
  readonly key: string;
  readonly owner: string | undefined;
  readonly fence: number;
  readonly mode: LockMode;
  /** The table's `now` when it ended (Unix ms). */
  readonly endedAtMs: number;
}

/** Receives what the table does outside the call that caused it, synchronously. */
export interface TableObserver {
  /** False when nothing keeps the change stream: the table then builds no change objects. Default true. */
  readonly recordsChanges?: boolean;
  /** A parked waiter was granted (by a release, expiry, or a waiter leaving ahead of it). */
  waiterGranted(waiter: Waiter, lease: LeaseView): void;
  /** A parked waiter's deadline passed; it is out of the queue. */
  waiterTimedOut(waiter: Waiter): void;
  /** Durable state changed. Only leases that are not ephemeral are reported, plus fence reservations. */
  changed(change: TableChange): void;
  /** A lease ended (any lease, ephemeral too); for metrics and audit. Read at each end, so it may be set later. */
  leaseEnded?(lease: EndingLease, reason: LeaseEndReason): void;
}
