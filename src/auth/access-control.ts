/**
 * Who a connection is and what it may do. Every connection gets a CallAccess: handlers ask it
 * `authorize(right, key)` before acting, and tell it about leases and waiters for the quotas.
 *
 * - Without --auth-file, OPEN_ACCESS allows everything to everyone (lockd's quick start).
 * - With it, a connection is the identity its TLS client certificate maps to, or the one it
 *   proved with authenticate(), or else anonymous; its rights are looked up in the permissions
 *   in force at each call, so a reload takes effect on the next call of every connection.
 *
 * Quotas are counted per identity over all its connections. A connection takes one of its
 * identity's connection slots at its first call that needs rights (or at authenticate); a call
 * that finds no free slot is refused and the next call tries again. Leases are counted lazily:
 * an identity's granted tokens are checked against the table (isHeld) only when the count
 * reaches the quota, so leases that ended by expiry, release or rollback free their place
 * without a hook on every lease end, and the set never outgrows the quota.
 */
import { PermissionDeniedError, ResourceExhaustedError, UnauthenticatedError } from '../errors';
import type { AuthFile } from './auth-file';
import { certificateSubject, IdentityEntry, member, Permissions, Policy, Right } from './permissions';
import { secretMatches } from './secrets';

/** What handlers ask of the connection they serve. */
export interface CallAccess {
  /** The identity calls run as, for logs; undefined when anonymous. */
  readonly identity: string | undefined;
  /** Throws UNAUTHENTICATED (anonymous) or PERMISSION_DENIED unless the caller holds `right` on `key`. */
  authorize(right: Right, key: string): void;
  /** undefined when every key under `prefix` is readable; else the disjoint prefixes to scan, in key order. */
  readableRanges(prefix: string): readonly string[] | undefined;
  /** Throws RESOURCE_EXHAUSTED when one more lease would pass the identity's lease quota. */
  admitLease(): void;
  /** A new lease (not a re-entry) was granted to this connection's identity. */
  leaseGranted(key: string, token: string): void;
  /** Throws RESOURCE_EXHAUSTED when one more parked waiter would pass the identity's quota. */
  admitWaiter(): void;
  waiterParked(): void;
  waiterLeft(): void;
  /** Binds `identity` to the connection when `secret` matches; returns the identity. */
  authenticate(identity: string, secret: string): string;
  /** The connection closed: its slot and parked waiters are given back. */
  close(): void;
}

/** Everything allowed, nothing counted: lockd without --auth-file. */
export const OPEN_ACCESS: CallAccess = Object.freeze({
  identity: undefined,
  authorize() {},
  readableRanges: () => undefined,
  admitLease() {},
  leaseGranted() {},
  admitWaiter() {},
  waiterParked() {},
  waiterLeft() {},
  // Nothing to bind to: accepting lets clients carry credentials before the server asks for them.
  authenticate: (identity: string) => identity,
  close() {},
});

/** The fields of a peer certificate identities are matched against. */
export interface PeerCertificateNames {
  subject?: Record<string, string | string[]>;
  /** "DNS:a, URI:b", as Node's getPeerCertificate() gives it. */
  subjectaltname?: string;
}

/** What the quota count asks of the lock state: whether a granted lease still lives. */
export interface LeaseLookup {
  isHeld(key: string, token: string): boolean;
}

/** Hooks the access layer logs through (rate-limited by the server). */
export interface AccessEvents {
  warn(kind: string, message: string, meta: Record<string, unknown>): void;
}

/** One identity's use of its quotas, over all its connections. */
class QuotaAccount {
  connections = 0;
  waiters = 0;
  /** token -> key of leases granted while the identity had a lease quota; may include ended ones. */
  readonly leases = new Map<string, string>();

  constructor(readonly identity: string | undefined) {}

  get unused(): boolean {
    return this.connections === 0 && this.waiters === 0 && this.leases.size === 0;
  }
}

/** The server-wide side: the permissions in force and every identity's quota account. */
export class AccessControl {
  private readonly accounts = new Map<string | undefined, QuotaAccount>();

  constructor(
    readonly authFile: AuthFile,
    readonly leases: LeaseLookup,
    readonly events: AccessEvents,
  ) {}

  get permissions(): Permissions {
    return this.authFile.permissions;
  }

  /** The access of a new connection, with the names of its verified client certificate if it has one. */
  open(peer: string, certificate: PeerCertificateNames | undefined): CallAccess {
    return new GuardedAccess(this, peer, certificate);
  }

  /** The identity a certificate maps to: subject first, then a subjectAltName; undefined when none. */
  identityOfCertificate(permissions: Permissions, certificate: PeerCertificateNames): IdentityEntry | undefined {
    const subject = certificateSubject(certificate.subject).join(',');
    const sans = new Set((certificate.subjectaltname ?? '').split(',').map((name) => name.trim()).filter((name) => name !== ''));
    for (const entry of permissions.identities.values()) {
      if (entry.certSubject !== undefined && entry.certSubject.join(',') === subject) return entry;
    }
    for (const entry of permissions.identities.values()) {
      if (entry.certSan !== undefined && sans.has(entry.certSan)) return entry;
    }
    return undefined;
  }

  /** Connections, parked waiters and tracked leases per identity ('' for anonymous), for tests and stats. */
  usage(): Map<string, { connections: number; waiters: number; trackedLeases: number }> {
    const usage = new Map<string, { connections: number; waiters: number; trackedLeases: number }>();
    for (const account of this.accounts.values()) {
      usage.set(account.identity ?? '', { connections: account.connections, waiters: account.waiters, trackedLeases: account.leases.size });
    }
    return usage;
  }

  /** @internal */
  account(identity: string | undefined): QuotaAccount {
    let account = this.accounts.get(identity);
    if (account === undefined) {
      account = new QuotaAccount(identity);
      this.accounts.set(identity, account);
    }
    return account;
  }

  /** @internal Forgets an account nothing refers to any more. */
  release(account: QuotaAccount): void {
    if (account.unused && this.accounts.get(account.identity) === account) this.accounts.delete(account.identity);
  }

  /** @internal Live leases of the account, after dropping the ones that ended. */
  liveLeases(account: QuotaAccount): number {
    for (const [token, key] of account.leases) if (!this.leases.isHeld(key, token)) account.leases.delete(token);
    return account.leases.size;
  }
}

/** How the connection proved who it is. */
type Claim = { kind: 'anonymous' } | { kind: 'certificate'; names: PeerCertificateNames } | { kind: 'secret'; identity: string };

/** A connection's access under an auth file. */
class GuardedAccess implements CallAccess {
  private claim: Claim;
  /** The permissions `policy` was resolved from; a reload replaces the object. */
  private resolvedFrom: Permissions | undefined;
  private policy!: Policy;
  /** Set when the claim no longer names an identity in the file (it was removed by a reload). */
  private revoked: string | undefined;
  /** The account whose connection slot this connection holds; undefined until it got one. */
  private account: QuotaAccount | undefined;
  private parked = 0;

  constructor(
    private readonly control: AccessControl,
    private readonly peer: string,
    certificate: PeerCertificateNames | undefined,
  ) {
    this.claim = certificate !== undefined ? { kind: 'certificate', names: certificate } : { kind: 'anonymous' };
  }

  get identity(): string | undefined {
    this.resolve();
    return this.policy.identity;
  }

  authorize(right: Right, key: string): void {
    const policy = this.resolve();
    this.slot();
    if (policy.allows(right, key)) return;
    const who = describe(policy.identity);
    const hint =
      policy.identity === undefined
        ? 'authenticate (authenticate() or a TLS client certificate) as an identity that has it'
        : `grant it under identities${member(policy.identity)}.allow in the auth file`;
    const message = `${who} lacks the "${right}" right on key ${JSON.stringify(key)}; ${hint}`;
    this.control.events.warn('permission-denied', 'refused a call: missing right', { peer: this.peer, identity: policy.identity ?? '(anonymous)', right, key });
    throw policy.identity === undefined ? new UnauthenticatedError(message) : new PermissionDeniedError(message);
  }

  readableRanges(prefix: string): readonly string[] {
    const policy = this.resolve();
    this.slot();
    return policy.readableRanges(prefix);
  }

  admitLease(): void {
    const quota = this.resolve().quotas.leases;
    if (quota === undefined) return;
    const account = this.slot();
    if (account.leases.size + account.waiters < quota) return;
    const held = this.control.liveLeases(account);
    if (held + account.waiters < quota) return;
    throw new ResourceExhaustedError(
      `${describe(account.identity)} holds ${held} leases and waits for ${account.waiters} (quotas.leases is ${quota}); release a lease first`,
    );
  }

  leaseGranted(key: string, token: string): void {
    if (this.resolve().quotas.leases === undefined) return;
    this.slot().leases.set(token, key);
  }

  admitWaiter(): void {
    const quota = this.resolve().quotas.waiters;
    const account = this.slot();
    if (quota === undefined || account.waiters < quota) return;
    throw new ResourceExhaustedError(`${describe(account.identity)} has ${account.waiters} waiters parked (quotas.waiters is ${quota}); wait with fewer calls at once`);
  }

  waiterParked(): void {
    this.parked++;
    if (this.account !== undefined) this.account.waiters++;
  }

  waiterLeft(): void {
    this.parked--;
    if (this.account !== undefined) this.account.waiters--;
  }

  authenticate(identity: string, secret: string): string {
    const permissions = this.control.permissions;
    const entry = permissions.identities.get(identity);
    if (!secretMatches(entry?.secretSha256, secret)) {
      this.control.events.warn('authentication-failed', 'authentication failed', { peer: this.peer, identity });
      throw new UnauthenticatedError(`authentication failed for identity ${JSON.stringify(identity)}: unknown identity or wrong secret`);
    }
    const current = this.resolve().identity;
    if (current === identity) return identity;
    // Anonymous so far (no certificate, or one no identity claims): the secret decides.
    if (current !== undefined) {
      throw new PermissionDeniedError(`this connection is already authenticated as ${JSON.stringify(current)}; open another connection to act as ${JSON.stringify(identity)}`);
    }
    // Move this connection's slot and parked waiters to the identity, if it has room for them.
    const target = this.control.account(identity);
    const slots = entry!.policy.quotas.connections;
    if (slots !== undefined && target.connections >= slots) {
      this.control.release(target);
      throw new ResourceExhaustedError(`${describe(identity)} has ${target.connections} connections open (quotas.connections is ${slots}); close one first`);
    }
    this.leaveAccount();
    target.connections++;
    target.waiters += this.parked;
    this.account = target;
    this.claim = { kind: 'secret', identity };
    this.resolvedFrom = undefined;
    return identity;
  }

  close(): void {
    this.leaveAccount();
    this.parked = 0;
  }

  /** Gives this connection's slot, and the count of its parked waiters, back to its account. */
  private leaveAccount(): void {
    const account = this.account;
    if (account === undefined) return;
    this.account = undefined;
    account.connections--;
    account.waiters -= this.parked;
    this.control.release(account);
  }

  /** The policy calls run under now, re-resolved when the permissions were reloaded. */
  private resolve(): Policy {
    const permissions = this.control.permissions;
    if (permissions === this.resolvedFrom) {
      if (this.revoked !== undefined) throw new UnauthenticatedError(this.revoked);
      return this.policy;
    }
    this.resolvedFrom = permissions;
    this.revoked = undefined;
    const claim = this.claim;
    let entry: IdentityEntry | undefined;
    if (claim.kind === 'secret') {
      entry = permissions.identities.get(claim.identity);
      if (entry === undefined) this.revoked = `identity ${JSON.stringify(claim.identity)} is no longer in the auth file; authenticate again on a new connection`;
    } else if (claim.kind === 'certificate') {
      entry = this.control.identityOfCertificate(permissions, claim.names);
    }
    this.policy = entry?.policy ?? permissions.anonymous;
    // A slot held for another identity than the one now resolved (a reload remapped a
    // certificate) moves with the connection at the next call.
    if (this.account !== undefined && this.account.identity !== this.policy.identity) this.leaveAccount();
    if (this.revoked !== undefined) throw new UnauthenticatedError(this.revoked);
    return this.policy;
  }

  /** This connection's account, taking a connection slot first when it holds none. */
  private slot(): QuotaAccount {
    if (this.account !== undefined) return this.account;
    const identity = this.policy.identity;
    const account = this.control.account(identity);
    const slots = this.policy.quotas.connections;
    if (slots !== undefined && account.connections >= slots) {
      this.control.release(account);
      throw new ResourceExhaustedError(`${describe(identity)} has ${account.connections} connections open (quotas.connections is ${slots}); close one first`);
    }
    account.connections++;
    account.waiters += this.parked;
    this.account = account;
    return account;
  }
}

function describe(identity: string | undefined): string {
  return identity === undefined ? 'the anonymous caller' : `identity ${JSON.stringify(identity)}`;
}
