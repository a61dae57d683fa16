/**
 * The permissions file (--auth-file): who may do what to which keys. Parsing is strict: an
 * unknown field, a malformed hash or an unknown right is an error naming its path in the file
 * (`identities.billing.allow["billing/"][1]`), because a typo in an access policy must not
 * silently grant or deny. The result is immutable; a reload builds a new one.
 *
 *   { "identities": {
 *       "billing": { "secretSha256": "<hex>", "allow": { "billing/": ["lock", "read"] },
 *                    "quotas": { "leases": 1000, "waiters": 1000, "connections": 50 } },
 *       "ops":     { "certSubject": "CN=ops", "allow": { "": ["admin"] } } },
 *     "anonymous": { "allow": {} } }
 */
import { ConfigError } from '../errors';

/** read: inspect, listLocks, checkFence. lock: acquire, release, renew, the seed API. admin: everything. */
export type Right = 'read' | 'lock' | 'admin';
export const RIGHTS: readonly Right[] = ['read', 'lock', 'admin'];

/** Per-identity limits; undefined = no limit of its own (the server-wide limits still apply). */
export interface Quotas {
  /** Leases held at once, counting parked waiters as leases they will hold. */
  readonly leases: number | undefined;
  /** Waiters parked at once. */
  readonly waiters: number | undefined;
  /** Connections bound to the identity at once. */
  readonly connections: number | undefined;
}

/** What one identity (or the anonymous caller) may do. */
export class Policy {
  /** Prefixes granting each right, admin folded into every right. */
  private readonly prefixesByRight: ReadonlyMap<Right, readonly string[]>;

  constructor(
    /** The identity's name; undefined for the anonymous caller. */
    readonly identity: string | undefined,
    readonly allow: ReadonlyMap<string, readonly Right[]>,
    readonly quotas: Quotas,
  ) {
    const byRight = new Map<Right, string[]>(RIGHTS.map((right) => [right, []]));
    for (const [prefix, rights] of allow) {
      for (const right of RIGHTS) {
        if (rights.includes(right) || rights.includes('admin')) byRight.get(right)!.push(prefix);
      }
    }
    this.prefixesByRight = byRight;
  }

  /** True when some prefix granting `right` (or admin) starts `key`. */
  allows(right: Right, key: string): boolean {
    for (const prefix of this.prefixesByRight.get(right)!) if (key.startsWith(prefix)) return true;
    return false;
  }

  /**
   * The prefixes to scan for keys under `prefix` this policy may read: disjoint, in key order,
   * so scanning them one after another yields the readable keys in key order with no key twice.
   */
  readableRanges(prefix: string): string[] {
    const ranges: string[] = [];
    for (const granted of this.prefixesByRight.get('read')!) {
      if (prefix.startsWith(granted)) return [prefix]; // the whole request is readable
      if (granted.startsWith(prefix)) ranges.push(granted);
    }
    // A granted prefix inside another covers nothing new; the rest never overlap, so their key
    // ranges follow each other in the prefixes' own order.
    ranges.sort();
    const disjoint: string[] = [];
    for (const range of ranges) {
      if (disjoint.length === 0 || !range.startsWith(disjoint[disjoint.length - 1])) disjoint.push(range);
    }
    return disjoint;
  }
}

/** A named identity: its policy and how it proves itself. */
export interface IdentityEntry {
  readonly name: string;
  readonly policy: Policy;
  /** SHA-256 of the secret, 32 bytes; undefined when the identity cannot use authenticate(). */
  readonly secretSha256: Buffer | undefined;
  /** Subject attributes a client certificate must carry exactly, as sorted "ATTR=value" pairs. */
  readonly certSubject: readonly string[] | undefined;
  /** A subjectAltName entry the certificate must list, as Node prints them ("DNS:ops.internal"). */
  readonly certSan: string | undefined;
}

/** A parsed, validated permissions file. */
export interface Permissions {
  readonly identities: ReadonlyMap<string, IdentityEntry>;
  readonly anonymous: Policy;
}

/** Identity names: what fits a log line and a "name:secret" credential. */
const IDENTITY_NAME = /^[A-Za-z0-9._@/+-]{1,128}$/;
const SHA256_HEX = /^[0-9a-fA-F]{64}$/;
const MAX_QUOTA = 1_000_000_000;

/** Parses and validates the file's text; `source` (its path) starts every error message. */
export function parsePermissions(text: string, source: string): Permissions {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new ConfigError(`auth file ${source}: not valid JSON: ${(error as Error).message}`);
  }
  const fail = (path: string, message: string): never => {
    throw new ConfigError(`auth file ${source}: ${path}: ${message}`);
  };
  const root = object(json, 'the file', fail);
  onlyFields(root, '', ['identities', 'anonymous'], fail);
  const identities = new Map<string, IdentityEntry>();
  const claimedSubjects = new Map<string, string>();
  const claimedSans = new Map<string, string>();
  const identitiesJson = root.identities === undefined ? {} : object(root.identities, 'identities', fail);
  for (const [name, value] of Object.entries(identitiesJson)) {
    const path = `identities${member(name)}`;
    if (!IDENTITY_NAME.test(name)) fail(path, 'an identity name is 1..128 of A-Z a-z 0-9 . _ @ / + -');
    const entry = object(value, path, fail);
    onlyFields(entry, path, ['secretSha256', 'certSubject', 'certSan', 'allow', 'quotas'], fail);
    let secretSha256: Buffer | undefined;
    if (entry.secretSha256 !== undefined) {
      if (typeof entry.secretSha256 !== 'string' || !SHA256_HEX.test(entry.secretSha256)) {
        fail(`${path}.secretSha256`, 'must be 64 hex characters, the SHA-256 of the secret (printf %s "$SECRET" | sha256sum); never the secret itself');
      }
      secretSha256 = Buffer.from(entry.secretSha256 as string, 'hex');
    }
    let certSubject: string[] | undefined;
    if (entry.certSubject !== undefined) {
      if (typeof entry.certSubject !== 'string') fail(`${path}.certSubject`, 'must be a string such as "CN=ops" or "CN=ops,O=Acme"');
      certSubject = parseSubject(entry.certSubject as string, `${path}.certSubject`, fail);
      const claimed = certSubject.join(',');
      if (claimedSubjects.has(claimed)) fail(`${path}.certSubject`, `identity ${JSON.stringify(claimedSubjects.get(claimed))} already claims this subject`);
      claimedSubjects.set(claimed, name);
    }
    let certSan: string | undefined;
    if (entry.certSan !== undefined) {
      if (typeof entry.certSan !== 'string' || !/^(DNS|URI|IP Address|email):\S+$/.test(entry.certSan)) {
        fail(`${path}.certSan`, 'must be one subjectAltName entry such as "DNS:ops.internal", "URI:spiffe://acme/ops", "email:ops@acme.test" or "IP Address:10.0.0.7"');
      }
      certSan = entry.certSan as string;
      if (claimedSans.has(certSan)) fail(`${path}.certSan`, `identity ${JSON.stringify(claimedSans.get(certSan))} already claims this name`);
      claimedSans.set(certSan, name);
    }
    if (secretSha256 === undefined && certSubject === undefined && certSan === undefined) {
      fail(path, 'needs secretSha256, certSubject or certSan: nothing could authenticate as it');
    }
    const policy = new Policy(name, allowOf(entry.allow, `${path}.allow`, fail), quotasOf(entry.quotas, `${path}.quotas`, fail));
    identities.set(name, { name, policy, secretSha256, certSubject, certSan });
  }
  let anonymous = new Policy(undefined, new Map(), NO_QUOTAS);
  if (root.anonymous !== undefined) {
    const entry = object(root.anonymous, 'anonymous', fail);
    onlyFields(entry, 'anonymous', ['allow', 'quotas'], fail);
    anonymous = new Policy(undefined, allowOf(entry.allow, 'anonymous.allow', fail), quotasOf(entry.quotas, 'anonymous.quotas', fail));
  }
  return { identities, anonymous };
}

/** Quotas with no limits of their own. */
export const NO_QUOTAS: Quotas = Object.freeze({ leases: undefined, waiters: undefined, connections: undefined });

/**
 * A distinguished name as sorted "ATTR=value" pairs, so "CN=ops,O=Acme" and "O=Acme, CN=ops"
 * compare equal. Values may not contain "," or "=" (escape-free on purpose: simple to audit).
 */
export function parseSubject(text: string, path: string, fail: (path: string, message: string) => never): string[] {
  const pairs = text.split(',').map((part) => part.trim());
  const parsed: string[] = [];
  for (const pair of pairs) {
    const match = /^([A-Za-z][A-Za-z0-9.]*)=([^=]+)$/.exec(pair);
    if (!match) fail(path, `${JSON.stringify(pair)} is not ATTR=value (write the subject as "CN=ops" or "CN=ops,O=Acme")`);
    parsed.push(`${match![1].toUpperCase()}=${match![2].trim()}`);
  }
  return parsed.sort();
}

/** The subject of a peer certificate as sorted "ATTR=value" pairs (multi-valued attributes expand). */
export function certificateSubject(subject: Record<string, string | string[]> | undefined): string[] {
  const pairs: string[] = [];
  for (const [attr, value] of Object.entries(subject ?? {})) {
    for (const one of Array.isArray(value) ? value : [value]) pairs.push(`${attr.toUpperCase()}=${one}`);
  }
  return pairs.sort();
}

function allowOf(value: unknown, path: string, fail: (path: string, message: string) => never): Map<string, Right[]> {
  const allow = new Map<string, Right[]>();
  if (value === undefined) return allow;
  for (const [prefix, rights] of Object.entries(object(value, path, fail))) {
    const rightsPath = `${path}${member(prefix)}`;
    if (!Array.isArray(rights)) fail(rightsPath, `must be a list of rights such as ["lock", "read"] (rights: ${RIGHTS.join(', ')})`);
    const list = rights as unknown[];
    list.forEach((right, i) => {
      if (!RIGHTS.includes(right as Right)) fail(`${rightsPath}[${i}]`, `${JSON.stringify(right)} is not a right (rights: ${RIGHTS.join(', ')})`);
    });
    allow.set(prefix, list as Right[]);
  }
  return allow;
}

function quotasOf(value: unknown, path: string, fail: (path: string, message: string) => never): Quotas {
  if (value === undefined) return NO_QUOTAS;
  const entry = object(value, path, fail);
  onlyFields(entry, path, ['leases', 'waiters', 'connections'], fail);
  const quota = (name: 'leases' | 'waiters' | 'connections'): number | undefined => {
    const n = entry[name];
    if (n === undefined) return undefined;
    if (typeof n !== 'number' || !Number.isInteger(n) || n < 0 || n > MAX_QUOTA) fail(`${path}.${name}`, `must be a whole number from 0 to ${MAX_QUOTA}, got ${JSON.stringify(n)}`);
    return n as number;
  };
  return Object.freeze({ leases: quota('leases'), waiters: quota('waiters'), connections: quota('connections') });
}

function object(value: unknown, path: string, fail: (path: string, message: string) => never): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) fail(path, `must be an object, got ${value === null ? 'null' : Array.isArray(value) ? 'a list' : typeof value}`);
  return value as Record<string, unknown>;
}

function onlyFields(entry: Record<string, unknown>, path: string, known: readonly string[], fail: (path: string, message: string) => never): void {
  for (const field of Object.keys(entry)) {
    if (!known.includes(field)) fail(path === '' ? field : `${path}${member(field)}`, `unknown field (expected ${known.join(', ')})`);
  }
}

/** `.name` when it reads as an identifier, else `["name"]`: how paths in the file are named. */
export function member(name: string): string {
  return /^[A-Za-z_][A-Za-z0-9_]*$/.test(name) ? `.${name}` : `[${JSON.stringify(name)}]`;
}
