/**
 * D12: leases follow a monotonic clock inside lockd, and a restart whose wall clock jumped
 * neither ends a recorded lease early nor keeps it past its TTL counted from the restart.
 */
import { monotonicClock } from '../../src/table/types';
import type { StoredLease } from '../../src/table/types';
import { setup } from './fixtures';

const T = 1_700_000_000_000;

function recorded(key: string, expiresAtMs: number, ttlMs: number, fence = 1): StoredLease {
  return { key, digest: `${key}`.padEnd(32, '0'), fence, ttlMs, expiresAtMs, mode: 1, holdCount: 1, owner: 'o' };
}

test('given the wall clock jumped 2 minutes ahead during a restart, a lease recorded with 50 s left keeps 50 s', () => {
  const t = setup();
  // Written at T with 50 s left; lockd restarts at T + 120 s by a clock that jumped ahead.
  const restartAt = T + 120_000;
  expect(t.table.restore([recorded('k', T + 50_000, 60_000)], 0, restartAt, T)).toBe(1);
  expect(t.table.inspect('k', restartAt).holders).toEqual([expect.objectContaining({ expiresAtMs: restartAt + 50_000 })]);
  expect(t.table.inspect('k', restartAt + 49_999).holders).toHaveLength(1);
  expect(t.table.inspect('k', restartAt + 50_000).holders).toHaveLength(0);
});

test('given the wall clock went back a minute, a lease lives at most its TTL from the restart, not TTL plus the jump', () => {
  const t = setup();
  const restartAt = T - 60_000;
  // recordedAt is min(now, last write): the earlier restart time here.
  t.table.restore([recorded('k', T + 2_000, 2_000)], 0, restartAt, restartAt);
  expect(t.table.inspect('k', restartAt).holders).toEqual([expect.objectContaining({ expiresAtMs: restartAt + 2_000 })]);
});

test('given no jump, a restored lease keeps its recorded expiry, and one whose time ran out at the last write is dropped', () => {
  const t = setup();
  const restored = t.table.restore([recorded('live', T + 10_000, 30_000, 1), recorded('over', T, 30_000, 2)], 0, T, T);
  expect(restored).toBe(1);
  expect(t.table.inspect('live', T).holders).toEqual([expect.objectContaining({ expiresAtMs: T + 10_000 })]);
});

test("lockd's clock does not follow a step of the wall clock", () => {
  const before = monotonicClock.now();
  const spy = jest.spyOn(Date, 'now').mockReturnValue(Date.now() + 120_000);
  try {
    const after = monotonicClock.now();
    expect(after - before).toBeLessThan(60_000);
    expect(after).toBeGreaterThanOrEqual(before);
  } finally {
    spy.mockRestore();
  }
});
