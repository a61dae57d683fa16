/** Ownership: only a lease's own token releases, renews or re-enters it. */
import { NotHolderError, WireErrorCode } from '../../src/errors';
import { LockMode } from '../../src/table/types';
import { setup, thrown } from './fixtures';

const { SHARED } = LockMode;

describe('tokens', () => {
  test('given 5000 grants over keys, shared holders and waiters, then every token is 32 lowercase hex characters and no two are equal', () => {
    const t = setup();
    const tokens: string[] = [];
    for (let i = 0; i < 2_000; i++) tokens.push(t.grant({ key: `k${i}` }).token);
    for (let i = 0; i < 2_000; i++) tokens.push(t.grant({ key: 'shared', mode: SHARED }).token);
    const holder = t.grant({ key: 'queue' });
    for (let i = 0; i < 1_000; i++) t.park({ key: 'queue', mode: SHARED, session: 2 });
    t.release('queue', holder.token);
    tokens.push(holder.token, ...t.granted.map((g) => g.lease.token));
    expect(tokens).toHaveLength(5_001);
    for (const token of tokens) expect(token).toMatch(/^[0-9a-f]{32}$/);
    expect(new Set(tokens).size).toBe(tokens.length);
  });

  test('given a key granted, released and granted again many times, then each grant gets a fresh token', () => {
    const t = setup();
    const tokens = new Set<string>();
    for (let i = 0; i < 500; i++) {
      const lease = t.grant({ key: 'k' });
      tokens.add(lease.token);
      t.release('k', lease.token);
    }
    expect(tokens.size).toBe(500);
  });
});

describe('a wrong token never touches the lease', () => {
  const malformed = (token: string) => [
    '',
    'short',
    'zz'.repeat(16),
    token.slice(0, 30) + 'zz',
    token + '00',
    token.slice(0, 31),
    ' ' + token.slice(1),
    '00'.repeat(16),
  ];

  test('given a holder, when wrong or malformed tokens release it, then release is false and the lease is still held', () => {
    const t = setup();
    const lease = t.grant({ key: 'k' });
    const other = t.grant({ key: 'other' });
    for (const token of [other.token, ...malformed(lease.token)]) {
      expect(t.release('k', token)).toBe(false);
    }
    expect(t.inspect('k').holders).toEqual([expect.objectContaining({ fence: lease.fence, holdCount: 1 })]);
    expect(t.table.isHeld('k', lease.token, t.now())).toBe(true);
  });

  test('given a holder, when wrong or malformed tokens renew or re-enter it, then NOT_HOLDER and the expiry and holdCount are unchanged', () => {
    const t = setup();
    const lease = t.grant({ key: 'k', ttlMs: 100 });
    const other = t.grant({ key: 'other' });
    for (const token of [other.token, ...malformed(lease.token)]) {
      const renewError = thrown(() => t.renew('k', token, 5_000));
      expect(renewError).toBeInstanceOf(NotHolderError);
      expect((renewError as NotHolderError).wireCode).toBe(WireErrorCode.NOT_HOLDER);
      expect(() => t.acquire({ key: 'k', token })).toThrow(NotHolderError);
    }
    expect(t.inspect('k').holders).toEqual([expect.objectContaining({ expiresAtMs: lease.expiresAtMs, holdCount: 1 })]);
  });

  test('given the right token was just checked, when a token with the same first 30 characters but a malformed end is tried, then it does not match', () => {
    const t = setup();
    const lease = t.grant({ key: 'k' });
    const forged = lease.token.slice(0, 30) + 'zz';
    expect(t.table.isHeld('k', lease.token, t.now())).toBe(true);
    expect(t.table.isHeld('k', forged, t.now())).toBe(false);
    expect(t.table.isHeld('k', lease.token, t.now())).toBe(true);
    expect(t.release('k', forged)).toBe(false);
    expect(t.table.isHeld('k', lease.token, t.now())).toBe(true);
    expect(() => t.renew('k', forged, 100)).toThrow(NotHolderError);
  });

  test('given a token of key b, when it is used on key a, then release is false and renew is NOT_HOLDER', () => {
    const t = setup();
    t.grant({ key: 'a' });
    const b = t.grant({ key: 'b' });
    expect(t.release('a', b.token)).toBe(false);
    expect(() => t.renew('a', b.token, 100)).toThrow(NotHolderError);
    expect(t.inspect('a').holders).toHaveLength(1);
    expect(t.inspect('b').holders).toHaveLength(1);
  });

  test('given a released lease and a new holder of the same key, when the stale token releases or renews, then the new holder is untouched', () => {
    const t = setup();
    const old = t.grant({ key: 'k' });
    t.release('k', old.token);
    const current = t.grant({ key: 'k' });
    expect(t.release('k', old.token)).toBe(false);
    expect(() => t.renew('k', old.token, 100)).toThrow(/no live lease on "k"/);
    expect(() => t.acquire({ key: 'k', token: old.token })).toThrow(NotHolderError);
    expect(t.inspect('k').holders).toEqual([expect.objectContaining({ fence: current.fence, holdCount: 1 })]);
  });

  test('given an expired lease and a new holder of the same key, when the expired token releases or renews, then the new holder is untouched', () => {
    const t = setup();
    const old = t.grant({ key: 'k', ttlMs: 50 });
    t.clock.advance(50);
    const current = t.grant({ key: 'k' });
    expect(t.release('k', old.token)).toBe(false);
    expect(() => t.renew('k', old.token, 100)).toThrow(NotHolderError);
    expect(t.checkFence('k', current.fence)).toBe(true);
  });

  test('given three shared holders, when the middle one releases with its token, then exactly that lease is freed', () => {
    const t = setup();
    const [r1, r2, r3] = [1, 2, 3].map(() => t.grant({ key: 'k', mode: SHARED }));
    expect(t.release('k', r2.token)).toBe(true);
    expect(t.inspect('k').holders.map((h) => h.fence)).toEqual([r1.fence, r3.fence]);
    expect(t.release('k', r2.token)).toBe(false);
    expect(t.inspect('k').holders).toHaveLength(2);
  });
});
