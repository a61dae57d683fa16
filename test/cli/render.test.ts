/** What lockctl prints, without a lockd: the waiting line, timeouts, flag-named refusals, queue place. */
import { inFlagTerms } from '../../src/cli/lockctl';
import { describeTimeout, describeWait, lockJson } from '../../src/cli/render';
import { QueuePosition } from '../../src/cli/wait-progress';
import type { LockInfo } from '../../src';

const held: LockInfo = { key: 'deploy', waiters: 3, holders: [{ owner: 'ops@web1:lockctl', mode: 'exclusive', fence: 12, expiresAt: 1_800_000_000_000, holdCount: 1 }] };
const shared: LockInfo = {
  key: 'doc',
  waiters: 1,
  holders: [
    { owner: 'a', mode: 'shared', fence: 3, expiresAt: 1, holdCount: 2 },
    { owner: undefined, mode: 'shared', fence: 4, expiresAt: 1, holdCount: 1 },
  ],
};

test('the waiting line names the key, the time waited, the holder with its fence, and the place in line', () => {
  expect(describeWait('deploy', 400, undefined, undefined)).toBe('waiting for "deploy" (0s)');
  expect(describeWait('deploy', 12_345, held, 2)).toBe('waiting for "deploy" (12s): held by ops@web1:lockctl (exclusive, fence 12); 2 ahead');
  expect(describeWait('deploy', 90_000, held, 0)).toBe('waiting for "deploy" (1m30s): held by ops@web1:lockctl (exclusive, fence 12); next in line');
  expect(describeWait('doc', 1_000, shared, 0)).toBe('waiting for "doc" (1s): held by a (shared, fence 3, held 2x); (no owner) (shared, fence 4); next in line');
  expect(describeWait('free', 2_000, { key: 'free', waiters: 1, holders: [] }, 0)).toBe('waiting for "free" (2s): free, about to be granted; next in line');
});

test('a timeout names who held the lock', () => {
  expect(describeTimeout('deploy', 10_000, held)).toBe('"deploy" was not granted within 10s: held by ops@web1:lockctl (exclusive, fence 12), 3 waiting');
  expect(describeTimeout('deploy', 250, { key: 'deploy', waiters: 0, holders: [] })).toBe('"deploy" was not granted within 250ms (it is free now; 0 waiting)');
  expect(describeTimeout('deploy', 1_000, undefined)).toBe('"deploy" was not granted within 1s');
});

test('the place in line never grows with newcomers (they queue behind) and shrinks as the queue moves', () => {
  const place = new QueuePosition();
  expect([3, 5, 4, 4, 2, 1, 6].map((waiters) => place.observe(waiters))).toEqual([2, 2, 2, 2, 1, 0, 0]);
});

test("lockd's refusals are restated in lockctl's flags and durations", () => {
  expect(inFlagTerms('ttlMs must be between 100 and 86400000 ms, got 30 (omit it for the default 30000 ms)')).toBe(
    "--ttl must be between 100ms and 24h (lockd's --min-ttl and --max-ttl), got 30ms",
  );
  expect(inFlagTerms('waitMs must be -1 (wait until granted) or 0..3600000 ms, got 7200000')).toBe("--wait must be at most 1h (lockd's --max-wait), got 2h");
  expect(inFlagTerms('limit must be at most 10000, got 10001 (<= 0 means the default 100)')).toBe("--limit must be at most 10000 (lockd's --max-list-limit)");
  expect(inFlagTerms('ttlMs is required')).toBe('--ttl is required');
  expect(inFlagTerms('the token names no live lease on "k"')).toBe('the token names no live lease on "k"');
});

test('status --json gives a holder without an owner as null, never leaving the field out', () => {
  expect(lockJson(shared).holders.map((h) => h.owner)).toEqual(['a', null]);
});
