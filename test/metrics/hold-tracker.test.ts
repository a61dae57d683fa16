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
