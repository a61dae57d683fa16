/** HoldTracker: grant times by fence in a fixed window, with long-held leases kept aside. */
import { HoldTracker } from '../../src/metrics/hold-tracker';

test('a lease ended soon after its grant is found in the window with its start time', () => {
  const holds = new HoldTracker<string>();
  holds.start(7, 1_000, 'jobs');
  expect(holds.end(7)).toBe('jobs');
  expect(holds.endedStartedAt).toBe(1_000);
  expect(holds.end(7)).toBeUndefined(); // ended once only
  expect(holds.end(8)).toBeUndefined(); // never started (a lease restored from disk)
});

test('a lease that outlives 65,536 later grants moves aside and is still timed; the window stays exact', () => {
  const holds = new HoldTracker<string>();
  holds.start(1, 500, 'long');
  for (let fence = 2; fence <= 70_000; fence++) {
    holds.start(fence, fence, 'short');
    expect(holds.end(fence)).toBe('short');
  }
  expect(holds.longHeldCount).toBe(1);
  expect(holds.end(1)).toBe('long');
  expect(holds.endedStartedAt).toBe(500);
  expect(holds.longHeldCount).toBe(0);
});

test('fences beyond 2^32 (restarted stores skip whole blocks) index the window correctly', () => {
  const holds = new HoldTracker<string>();
  const big = 2 ** 40 + 5;
  holds.start(big, 1, 'a');
  holds.start(big + 1, 2, 'b');
  holds.start(5, 3, 'c'); // same slot as `big`: `big` moves aside, nothing is lost
  expect(holds.end(big + 1)).toBe('b');
  expect(holds.end(big)).toBe('a');
  expect(holds.endedStartedAt).toBe(1);
  expect(holds.end(5)).toBe('c');
});
