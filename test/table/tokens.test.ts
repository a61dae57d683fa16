/** Tokens at rest (issue 12): the table keeps a digest of each token and answers only to the token. */
import crypto from 'node:crypto';
import { NotHolderError } from '../../src/errors';
import { LeaseSlots } from '../../src/table/lease-slots';
import { decodeHex, hexEquals, tokenDigest } from '../../src/table/token-digest';
import { LockMode } from '../../src/table/types';
import { setup } from './fixtures';

test('a token digest is the first 16 bytes of SHA-256 of the token bytes; a malformed token has none', () => {
  const token = crypto.randomBytes(16).toString('hex');
  const expected = crypto.createHash('sha256').update(Buffer.from(token, 'hex')).digest('hex').slice(0, 32);
  expect(tokenDigest(token)).toBe(expected);
  expect(tokenDigest(token.toUpperCase())).toBe(expected);
  for (const bad of ['', token.slice(1), `${token}0`, 'zz'.repeat(16), `${token.slice(0, 30)}g0`]) expect(tokenDigest(bad)).toBeUndefined();
});

test('a slot keeps the digest of the token it draws, never the token', () => {
  const slots = new LeaseSlots(64);
  const tokens = Array.from({ length: 64 }, (_, i) => {
    const slot = slots.allocate(`k${i}`, undefined, undefined, i + 1, 0, 1_000, LockMode.EXCLUSIVE, 0);
    const token = slots.drawToken(slot);
    expect(slots.digestOf(slot)).toBe(tokenDigest(token));
    expect(slots.digestMatches(slot, tokenDigest(token)!)).toBe(true);
    expect(slots.stored(slot)).not.toHaveProperty('token');
    return token;
  });
  expect(new Set(tokens).size).toBe(64);
  for (const token of tokens) expect(slots.digests.includes(Buffer.from(token, 'hex'))).toBe(false);
});

test('given granted leases, then the grant alone carries the token: the change stream and durableLeases hold digests only', () => {
  const t = setup();
  const leases = [t.grant({ key: 'a' }), t.grant({ key: 's', mode: LockMode.SHARED }), t.grant({ key: 's', mode: LockMode.SHARED })];
  t.acquire({ key: 'a', token: leases[0].token });
  t.renew('s', leases[1].token, 500);
  t.release('s', leases[2].token);
  const kept = JSON.stringify([t.changes, [...t.table.durableLeases()]]);
  for (const lease of leases) {
    expect(lease.token).toMatch(/^[0-9a-f]{32}$/);
    expect(kept).not.toContain(lease.token);
    expect(kept).toContain(tokenDigest(lease.token));
  }
});

test('given a held lease, then its digest presented as the token is refused by release, renew, isHeld and re-entry, and the token is echoed back', () => {
  const t = setup();
  const lease = t.grant({ key: 'k' });
  const shared = [t.grant({ key: 's', mode: LockMode.SHARED }), t.grant({ key: 's', mode: LockMode.SHARED })];
  for (const { key, token, mode } of [lease, ...shared]) {
    const digest = tokenDigest(token)!;
    expect(t.release(key, digest)).toBe(false);
    expect(t.table.isHeld(key, digest, t.now())).toBe(false);
    expect(() => t.renew(key, digest, 500)).toThrow(NotHolderError);
    expect(() => t.acquire({ key, token: digest, mode })).toThrow(NotHolderError);
    expect(t.table.isHeld(key, token, t.now())).toBe(true);
  }
  expect(t.renew('k', lease.token, 500).token).toBe(lease.token);
  const again = t.acquire({ key: 'k', token: lease.token });
  expect(again.kind === 'granted' && again.lease).toMatchObject({ token: lease.token, holdCount: 2, fence: lease.fence });
  expect(t.release('k', 'not a token')).toBe(false);
  expect(t.release('k', lease.token)).toBe(true);
  expect(t.release('k', lease.token)).toBe(true);
  expect(t.table.isHeld('k', lease.token, t.now())).toBe(false);
});

test('hex decoding and digest comparison accept either case and refuse anything that is not a hex digit', () => {
  const into = Buffer.alloc(2);
  expect(decodeHex('aB0f', into, 0, 2)).toBe(true);
  expect([...into]).toEqual([0xab, 0x0f]);
  // U+0130 & 127 is '0': a check that masked char codes would take it for a digit.
  for (const bad of ['ag0f', 'a', '\u0130\u01300f', '  0f']) expect(decodeHex(bad, Buffer.alloc(2), 0, 2)).toBe(false);
  expect(hexEquals('AB0F', Buffer.from([0xab, 0x0f]), 0, 2)).toBe(true);
  expect(hexEquals('ab0e', Buffer.from([0xab, 0x0f]), 0, 2)).toBe(false);
  expect(hexEquals('\u01300', Buffer.from([0x00]), 0, 1)).toBe(false);
});
