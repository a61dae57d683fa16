/**
 * 100,000 waiters or holders on one key: closing, cancelling, timing out and mass grants stay
 * correct, and each removal costs O(1) work (counted, not timed).
 */
import { LeaseSlots } from '../../src/table/lease-slots';
import { LockMode, Waiter } from '../../src/table/types';
import { QueuedWaiter, WaiterQueue } from '../../src/table/waiter-queue';
import { countLinearArrayCalls, LIMITS, setup } from './fixtures';

const BIG = 100_000;
const LIMITS_BIG = { ...LIMITS, maxLeases: 2 * BIG + 10, maxWaiters: 2 * BIG + 10 };
/** Waiter ids: comparing 100,000 waiters by id is quick where a deep comparison is not. */
const ids = (waiters: readonly Waiter[]) => waiters.map((w) => w.id);

test("given 100,000 waiters parked by one session behind a holder and another session's waiter, then closing it removes them all, silently, and the other waiters keep their places", () => {
  const t = setup(LIMITS_BIG);
  const holder = t.grant({ key: 'k' });
  const ahead = t.park({ key: 'k', session: 4 });
  for (let i = 0; i < BIG; i++) t.park({ key: 'k', session: 2, waitMs: i % 2 === 0 ? -1 : 20_000 });
  const other = t.park({ key: 'k', session: 3 });
  let closed = { leases: -1, waiters: -1 };
  // Structure: no waiter is found by searching an array (that would be O(n) per waiter).
  expect(countLinearArrayCalls(() => (closed = t.table.closeSession(2, t.now())))).toBeLessThan(10);
  expect(closed).toEqual({ leases: 0, waiters: BIG });
  expect(t.table.waiterTotal).toBe(2);
  expect(t.inspect('k').waiters).toBe(2);
  expect(t.granted).toHaveLength(0);
  expect(t.timedOut).toHaveLength(0);
  // The deadline heap lost them too: nothing times out when their deadline passes.
  t.tick(20_000);
  expect(t.timedOut).toHaveLength(0);
  t.release('k', holder.token);
  expect(t.grantedWaiters()).toEqual([ahead]);
  t.release('k', t.granted[0].lease.token);
  expect(t.grantedWaiters()).toEqual([ahead, other]);
});

test('given 100,000 waiters, then cancelling every other one (from the middle out) leaves the rest in FIFO order', () => {
  const t = setup(LIMITS_BIG);
  const holder = t.grant({ key: 'k' });
  const waiters: Waiter[] = [];
  for (let i = 0; i < BIG; i++) waiters.push(t.park({ key: 'k', session: 2 + (i % 7), mode: LockMode.SHARED }));
  const order = Array.from({ length: BIG / 2 }, (_, i) => 2 * i).sort((a, b) => Math.abs(a - BIG / 2) - Math.abs(b - BIG / 2));
  let cancelled = 0;
  const scans = countLinearArrayCalls(() => {
    for (const i of order) if (t.table.cancelWaiter(waiters[i], t.now())) cancelled++;
  });
  expect(cancelled).toBe(BIG / 2);
  expect(scans).toBeLessThan(10);
  expect(t.table.cancelWaiter(waiters[0], t.now())).toBe(false);
  expect(t.table.waiterTotal).toBe(BIG / 2);
  t.release('k', holder.token);
  expect(ids(t.grantedWaiters())).toEqual(ids(waiters.filter((_, i) => i % 2 === 1)));
  expect(t.inspect('k').holders).toHaveLength(BIG / 2);
});

test('given an EXCLUSIVE holder in front of 100,000 SHARED waiters and an EXCLUSIVE one, then one release grants all SHARED ones in order; the EXCLUSIVE one gets the key when the last leaves', () => {
  const t = setup(LIMITS_BIG);
  const holder = t.grant({ key: 'k' });
  const shared: Waiter[] = [];
  for (let i = 0; i < BIG; i++) shared.push(t.park({ key: 'k', mode: LockMode.SHARED, session: 10 + i, ephemeral: true }));
  const writer = t.park({ key: 'k', session: 5 });
  const tail = t.park({ key: 'k', mode: LockMode.SHARED, session: 6 });
  // Structure: the grants come off the queue's head without shifting an array each time.
  expect(countLinearArrayCalls(() => t.release('k', holder.token))).toBeLessThan(10);
  expect(t.granted).toHaveLength(BIG);
  expect(ids(t.grantedWaiters())).toEqual(ids(shared));
  const fences = t.granted.map((g) => g.lease.fence);
  expect(fences.every((fence, i) => i === 0 || fence > fences[i - 1])).toBe(true);
  expect(t.inspect('k')).toMatchObject({ waiters: 2 });
  // The SHARED holders leave one by one (their sessions close), last granted first for half of them.
  let freed = 0;
  let grantedBeforeLast = 0;
  const scans = countLinearArrayCalls(() => {
    for (let i = 0; i < BIG; i++) {
      const session = i < BIG / 2 ? 10 + BIG - 1 - i : 10 + (i - BIG / 2);
      if (i === BIG - 1) grantedBeforeLast = t.granted.length;
      freed += t.table.closeSession(session, t.now()).leases;
    }
  });
  expect(scans).toBeLessThan(10);
  expect(freed).toBe(BIG);
  expect(grantedBeforeLast).toBe(BIG);
  expect(t.grantedWaiters().slice(BIG)).toEqual([writer]);
  expect(t.inspect('k').holders).toHaveLength(1);
  expect(t.inspect('k').waiters).toBe(1);
  expect(tail.key).toBe('k');
});

test('given 100,000 waiters with deadlines, then each one times out alone, in order, and the last holder is unaffected', () => {
  const t = setup(LIMITS_BIG);
  t.grant({ key: 'k', ttlMs: 60_000 });
  const waiters: Waiter[] = [];
  for (let i = 0; i < BIG; i++) waiters.push(t.park({ key: 'k', session: 2, waitMs: 1_000 + (i % 1_000) }));
  expect(countLinearArrayCalls(() => t.tick(1_999))).toBeLessThan(10);
  expect(t.timedOut).toHaveLength(BIG);
  expect(ids(t.timedOut).sort((a, b) => a - b)).toEqual(ids(waiters));
  expect(t.table.waiterTotal).toBe(0);
  expect(t.inspect('k')).toMatchObject({ waiters: 0 });
  expect(t.inspect('k').holders).toHaveLength(1);
});

test('given 100,000 SHARED holders of one key, then a release finds its lease with one token comparison, not one per holder', () => {
  const t = setup(LIMITS_BIG);
  const leases = Array.from({ length: BIG }, () => t.grant({ key: 'k', mode: LockMode.SHARED }));
  const compare = jest.spyOn(LeaseSlots.prototype, 'digestMatches');
  try {
    expect(t.release('k', leases[BIG - 1].token)).toBe(true);
    expect(t.release('k', leases[BIG / 2].token)).toBe(true);
    expect(t.table.isHeld('k', leases[BIG / 2].token, t.now())).toBe(false);
    expect(compare.mock.calls.length).toBeLessThanOrEqual(3);
  } finally {
    compare.mockRestore();
  }
  expect(t.inspect('k').holders).toHaveLength(BIG - 2);
});

/** Wraps a waiter so that every property it has read or written is counted. */
function counted(waiter: QueuedWaiter, touches: { count: number }): QueuedWaiter {
  return new Proxy(waiter, {
    get(target, property, receiver) {
      touches.count++;
      return Reflect.get(target, property, receiver);
    },
    set(target, property, value, receiver) {
      touches.count++;
      return Reflect.set(target, property, value, receiver);
    },
  });
}

test('given a queue of 100,000 waiters, then removing one from the middle, the head or the tail touches only it and its neighbours', () => {
  const queue = new WaiterQueue();
  const touches = { count: 0 };
  const waiters = Array.from({ length: BIG }, (_, i) => counted(new QueuedWaiter(i, 'k', LockMode.EXCLUSIVE, undefined, 1_000, false, 1, Infinity), touches));
  for (const waiter of waiters) queue.push(waiter);
  for (const i of [BIG / 2, 0, BIG - 1]) {
    touches.count = 0;
    queue.remove(waiters[i]);
    expect(touches.count).toBeLessThanOrEqual(10);
  }
  expect(queue.length).toBe(BIG - 3);
  expect(queue.first()).toBe(waiters[1]);
  let walked = 0;
  for (let w = queue.first(); w !== undefined; w = w.next) walked++;
  expect(walked).toBe(BIG - 3);
});
