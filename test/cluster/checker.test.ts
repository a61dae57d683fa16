/** The fault tests' history checker: good histories pass, each kind of bad history is caught. */
import { type AcquireRecord, checkHistory, type Mode, type OpRecord, summarize } from './checker';

let seq = 0;
function grant(key: string, fence: number, invokeAt: number, ackAt: number, expiresAtMs: number, mode: Mode = 'exclusive', token = `t${++seq}`): AcquireRecord {
  return { op: 'acquire', client: 'c', node: 'n0', key, mode, invokeAt, ackAt, outcome: { kind: 'granted', token, fence, expiresAtMs } };
}
const tokenOf = (g: AcquireRecord) => (g.outcome.kind === 'granted' ? g.outcome.token : '');
function release(g: AcquireRecord, invokeAt: number, ackAt: number, released = true): OpRecord {
  return { op: 'release', client: 'c', node: 'n0', key: g.key, token: tokenOf(g), invokeAt, ackAt, outcome: { kind: 'ok', released } };
}
function renew(g: AcquireRecord, invokeAt: number, ackAt: number, expiresAtMs?: number): OpRecord {
  return { op: 'renew', client: 'c', node: 'n0', key: g.key, token: tokenOf(g), invokeAt, ackAt, outcome: expiresAtMs === undefined ? { kind: 'notHolder' } : { kind: 'ok', expiresAtMs } };
}
function checkFence(key: string, fence: number, invokeAt: number, ackAt: number, valid: boolean): OpRecord {
  return { op: 'checkFence', client: 'c', node: 'n1', key, fence, invokeAt, ackAt, outcome: { kind: 'ok', valid } };
}
function inspect(key: string, fences: number[], invokeAt: number, ackAt: number): OpRecord {
  return { op: 'inspect', client: 'c', node: 'n1', key, invokeAt, ackAt, outcome: { kind: 'ok', fences } };
}
const checks = (records: OpRecord[]) => checkHistory(records).map((v) => v.check);

test('a clean history: hand-offs by release and by expiry, shared holders together, fences increasing', () => {
  const a = grant('k', 10, 0, 5, 1_000);
  const b = grant('k', 20, 3, 60, 2_000); // waited; granted after a's release was sent
  const c = grant('k', 30, 100, 1_200, 5_000); // parked; granted after b's release was sent
  const s1 = grant('s', 11, 0, 5, 1_000, 'shared');
  const s2 = grant('s', 21, 0, 6, 1_000, 'shared');
  const x = grant('x', 41, 10, 1_100, 9_000); // after a's expiry on another key
  const records: OpRecord[] = [
    a, release(a, 50, 55), b, renew(b, 100, 102, 3_000), release(b, 150, 152), c,
    checkFence('k', 30, 1_300, 1_301, true), checkFence('k', 10, 1_300, 1_301, false), inspect('k', [30], 1_300, 1_302),
    s1, s2, release(s1, 40, 41), release(s2, 40, 42), x,
  ];
  expect(checkHistory(records)).toEqual([]);
});

test('C1: an exclusive grant acknowledged while another was held (not released, not expired)', () => {
  const a = grant('k', 10, 0, 5, 10_000);
  const b = grant('k', 20, 6, 50, 20_000);
  expect(checks([a, b])).toContain('C1');
  // A shared holder and an exclusive one overlap too.
  const s = grant('m', 12, 0, 5, 10_000, 'shared');
  const e = grant('m', 22, 6, 50, 20_000, 'exclusive');
  expect(checks([s, e])).toContain('C1');
  // After the release was sent there is no definite overlap.
  expect(checks([a, release(a, 40, 60), b])).toEqual([]);
});

test('C1: a renewal extends the hold the checker counts', () => {
  const a = grant('k', 10, 0, 5, 1_000);
  const b = grant('k', 20, 6, 1_500, 20_000);
  expect(checks([a, b])).toEqual([]); // a expired at 1000
  expect(checks([a, renew(a, 900, 905, 2_000), b])).toContain('C1');
});

test('C2: "not holder" for an acknowledged, unexpired, unreleased grant is a lost grant', () => {
  const a = grant('k', 10, 0, 5, 10_000);
  expect(checks([a, renew(a, 100, 105)])).toEqual(['C2']);
  expect(checks([a, release(a, 100, 105, false)])).toEqual(['C2']);
  // After expiry, or after an earlier release was sent, it is not.
  expect(checks([a, renew(a, 10_100, 10_105)])).toEqual([]);
  expect(checks([a, release(a, 50, 52), renew(a, 100, 105)])).toEqual([]);
  // Sent before the expiry but answered after it (a slow failover): the lease may have expired first.
  expect(checks([a, renew(a, 9_900, 10_400)])).toEqual([]);
});

test('C3: a fence reused across keys, or not larger than an earlier acknowledged grant of the key', () => {
  const a = grant('k', 10, 0, 5, 100);
  const b = grant('other', 10, 0, 5, 100);
  expect(checks([a, b])).toContain('C3');
  const c = grant('k', 9, 200, 205, 1_000); // requested after a was acknowledged, smaller fence
  expect(checks([a, c])).toContain('C3');
  const t = grant('k', 30, 0, 5, 1_000, 'exclusive', 'same');
  const u = grant('k', 40, 2_000, 2_005, 3_000, 'exclusive', 'same');
  expect(checks([t, u])).toContain('C3'); // one token granted twice
});

test('C4: checkFence true after a larger fence of the key was acknowledged (not after its own release: releases are answered before they are written)', () => {
  const a = grant('k', 10, 0, 5, 100);
  const b = grant('k', 20, 200, 205, 1_000);
  expect(checks([a, b, checkFence('k', 10, 300, 301, true)])).toEqual(['C4']);
  // Concurrent with the grant: not definite.
  expect(checks([a, b, checkFence('k', 10, 204, 206, true)])).toEqual([]);
  const c = grant('m', 31, 0, 5, 10_000);
  expect(checks([c, release(c, 10, 12), checkFence('m', 31, 20, 21, true)])).toEqual([]);
});

test('C5: a renewal or an inspect that shows a superseded grant as held (a released one may come back until its expiry)', () => {
  const a = grant('k', 10, 0, 5, 100);
  const b = grant('k', 20, 200, 205, 1_000);
  expect(checks([a, b, renew(a, 300, 305, 5_000)])).toContain('C5');
  expect(checks([a, b, inspect('k', [10], 300, 305)])).toEqual(['C5']);
  const c = grant('m', 31, 0, 5, 10_000);
  expect(checks([c, release(c, 10, 12), inspect('m', [31], 20, 21)])).toEqual([]);
  expect(checks([c, inspect('m', [31], 8, 9)])).toEqual([]);
});

test('summarize counts per check', () => {
  const a = grant('k', 10, 0, 5, 10_000);
  const b = grant('k', 20, 6, 50, 20_000);
  const counts = summarize(checkHistory([a, b, renew(a, 100, 105)]));
  expect(counts.C1).toBe(1);
  expect(counts.C2).toBe(1);
  expect(counts.C3 + counts.C4 + counts.C5).toBe(0);
});
