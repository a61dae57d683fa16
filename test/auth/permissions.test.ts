/** The permissions file's parser: what it accepts, and errors that name the path in the file. */
import { parsePermissions } from '../../src/auth/permissions';
import { secretMatches, sha256Hex } from '../../src/auth/secrets';
import { ConfigError } from '../../src/errors';

const HASH = sha256Hex('s3cret');
const parse = (json: unknown) => parsePermissions(JSON.stringify(json), '/etc/lockd/auth.json');

test('the shape from the issue parses, with admin implying every right and rights per prefix', () => {
  const permissions = parse({
    identities: {
      billing: { secretSha256: HASH, allow: { 'billing/': ['lock', 'read'] }, quotas: { leases: 1000, waiters: 1000, connections: 50 } },
      ops: { certSubject: 'CN=ops', allow: { '': ['admin'] } },
    },
    anonymous: { allow: {} },
  });
  const billing = permissions.identities.get('billing')!;
  expect(billing.policy.allows('lock', 'billing/x')).toBe(true);
  expect(billing.policy.allows('admin', 'billing/x')).toBe(false);
  expect(billing.policy.allows('lock', 'ops/x')).toBe(false);
  expect(billing.policy.quotas).toEqual({ leases: 1000, waiters: 1000, connections: 50 });
  const ops = permissions.identities.get('ops')!;
  for (const right of ['read', 'lock', 'admin'] as const) expect(ops.policy.allows(right, 'anything')).toBe(true);
  expect(ops.certSubject).toEqual(['CN=ops']);
  expect(permissions.anonymous.allows('read', '')).toBe(false);
});

test('readable ranges are the disjoint granted prefixes under the request, in key order', () => {
  const { anonymous } = parse({ anonymous: { allow: { 'b/': ['read'], 'a/x/': ['read'], 'a/': ['read'], 'c/': ['lock'], 'd/': ['admin'] } } });
  expect(anonymous.readableRanges('')).toEqual(['a/', 'b/', 'd/']);
  expect(anonymous.readableRanges('a/x/y')).toEqual(['a/x/y']);
  expect(anonymous.readableRanges('c/')).toEqual([]);
});

test('subjects compare as sets of attributes', () => {
  const { identities } = parse({ identities: { a: { certSubject: 'O=Acme, CN=ops' } } });
  expect(identities.get('a')!.certSubject).toEqual(['CN=ops', 'O=Acme']);
});

test.each([
  ['not JSON', '{', /^auth file \/etc\/lockd\/auth.json: not valid JSON: /],
  ['an unknown top-level field', { identity: {} }, 'auth file /etc/lockd/auth.json: identity: unknown field (expected identities, anonymous)'],
  ['a secret in clear', { identities: { a: { secretSha256: 's3cret' } } }, 'identities.a.secretSha256: must be 64 hex characters, the SHA-256 of the secret'],
  ['an unknown right', { identities: { a: { secretSha256: HASH, allow: { 'billing/': ['lock', 'write'] } } } }, 'identities.a.allow["billing/"][1]: "write" is not a right (rights: read, lock, admin)'],
  ['rights that are not a list', { anonymous: { allow: { '': 'read' } } }, 'anonymous.allow[""]: must be a list of rights'],
  ['a negative quota', { identities: { a: { secretSha256: HASH, quotas: { leases: -1 } } } }, 'identities.a.quotas.leases: must be a whole number from 0 to 1000000000, got -1'],
  ['an unknown quota', { identities: { a: { secretSha256: HASH, quotas: { locks: 1 } } } }, 'identities.a.quotas.locks: unknown field (expected leases, waiters, connections)'],
  ['an identity nothing can prove', { identities: { a: { allow: {} } } }, 'identities.a: needs secretSha256, certSubject or certSan'],
  ['a bad identity name', { identities: { 'a:b': { secretSha256: HASH } } }, 'identities["a:b"]: an identity name is 1..128 of'],
  ['a malformed subject', { identities: { a: { certSubject: 'ops' } } }, 'identities.a.certSubject: "ops" is not ATTR=value'],
  ['two identities claiming one subject', { identities: { a: { certSubject: 'CN=x' }, b: { certSubject: 'CN=x' } } }, 'identities.b.certSubject: identity "a" already claims this subject'],
  ['a malformed SAN', { identities: { a: { certSan: 'ops.internal' } } }, 'identities.a.certSan: must be one subjectAltName entry'],
  ['a field the anonymous caller cannot have', { anonymous: { secretSha256: HASH } }, 'anonymous.secretSha256: unknown field (expected allow, quotas)'],
])('rejects %s with the path in the file', (_what, json, expected) => {
  const text = typeof json === 'string' ? json : JSON.stringify(json);
  let error: unknown;
  try {
    parsePermissions(text, '/etc/lockd/auth.json');
  } catch (caught) {
    error = caught;
  }
  expect(error).toBeInstanceOf(ConfigError);
  if (typeof expected === 'string') expect((error as Error).message).toContain(expected);
  else expect((error as Error).message).toMatch(expected);
});

test('secrets match only their own hash, and an unknown identity never matches', () => {
  expect(secretMatches(Buffer.from(HASH, 'hex'), 's3cret')).toBe(true);
  expect(secretMatches(Buffer.from(HASH, 'hex'), 's3cret ')).toBe(false);
  expect(secretMatches(undefined, 's3cret')).toBe(false);
  expect(sha256Hex('s3cret')).toMatch(/^[0-9a-f]{64}$/);
});
