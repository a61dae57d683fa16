/**
 * Background renewal scheduling of a lease, on jest's fake clock (timers and performance.now):
 * when it renews, when it stops, and when it gives the lease up. The channel stands in for lockd
 * so that every reply and its timing are chosen by the test.
 */
import { ConnectionError, InvalidArgumentError, NotHolderError } from '../../src/errors';
import { LeaseChannel, LeaseKeeper } from '../../src/client/lease-keeper';
import type { WireLease } from '../../src/protocol/lock-service/structs';

const TTL = 3_000;

/** A channel whose renew answers come from `answer` (default: granted for the asked TTL). */
function channel(answer: (ttlMs: number) => Promise<WireLease> = (ttlMs) => Promise.resolve(wire(ttlMs))) {
  const calls = { renew: 0, release: 0, stopped: 0 };
  const ch: LeaseChannel & { calls: typeof calls } = {
    calls,
    closed: false,
    release: async () => (calls.release++, true),
    renew: (_keeper, ttlMs) => (calls.renew++, answer(ttlMs)),
    renewalStopped: () => void calls.stopped++,
  };
  return ch;
}

function wire(ttlMs = TTL): WireLease {
  return { lockKey: 'k', token: 'a'.repeat(32), fence: 7, ttlMs, expiresAtMs: Date.now() + ttlMs, mode: 1, holdCount: 1 };
}

function keeper(ch: LeaseChannel): LeaseKeeper {
  return new LeaseKeeper(ch, wire(), false, performance.now());
}

beforeEach(() => jest.useFakeTimers());
afterEach(() => jest.useRealTimers());

test('an auto-renewed lease renews once a third of its TTL has passed (±10% jitter), and again a third later', async () => {
  const ch = channel();
  const k = keeper(ch);
  k.startAutoRenew();
  await jest.advanceTimersByTimeAsync(TTL / 3 * 0.9 - 1);
  expect(ch.calls.renew).toBe(0);
  await jest.advanceTimersByTimeAsync(TTL / 3 * 0.2 + 2);
  expect(ch.calls.renew).toBe(1);
  await jest.advanceTimersByTimeAsync(TTL / 3 * 1.1 + 1);
  expect(ch.calls.renew).toBe(2);
  expect(k.held).toBe(true);
  // Many TTLs later it is still held: every renewal pushed the deadline on.
  await jest.advanceTimersByTimeAsync(TTL * 10);
  expect(ch.calls.renew).toBeGreaterThanOrEqual(10);
  expect(k.signal.aborted).toBe(false);
});

test('an explicit period renews every that many ms instead', async () => {
  const ch = channel();
  keeper(ch).startAutoRenew(200);
  await jest.advanceTimersByTimeAsync(200 * 1.1 * 5 + 1);
  expect(ch.calls.renew).toBeGreaterThanOrEqual(5);
});

test('release stops renewal: no renewal after it, no timer left, and the client is told', async () => {
  const ch = channel();
  const k = keeper(ch);
  k.startAutoRenew();
  await jest.advanceTimersByTimeAsync(TTL / 3 * 1.1 + 1);
  expect(ch.calls.renew).toBe(1);
  expect(await k.release()).toBe(true);
  expect(ch.calls).toMatchObject({ release: 1, stopped: 1 });
  expect(jest.getTimerCount()).toBe(0);
  await jest.advanceTimersByTimeAsync(TTL * 5);
  expect(ch.calls.renew).toBe(1);
  expect(k.held).toBe(false);
});

test('a release during a renewal in flight waits for it, then releases once', async () => {
  let finish!: (lease: WireLease) => void;
  const ch = channel(() => new Promise((resolve) => (finish = resolve)));
  const k = keeper(ch);
  k.startAutoRenew();
  await jest.advanceTimersByTimeAsync(TTL / 3 * 1.1 + 1);
  expect(ch.calls.renew).toBe(1);
  const released = k.release();
  expect(ch.calls.release).toBe(0);
  finish(wire());
  expect(await released).toBe(true);
  expect(ch.calls.release).toBe(1);
});

test('a renewal refused as NOT_HOLDER marks the lease lost at once and stops renewing', async () => {
  const refusal = new NotHolderError('the token names no live lease on "k"');
  const ch = channel(() => Promise.reject(refusal));
  const k = keeper(ch);
  const signal = k.signal;
  k.startAutoRenew();
  await jest.advanceTimersByTimeAsync(TTL / 3 * 1.1 + 1);
  expect(signal.aborted).toBe(true);
  expect(signal.reason).toBe(refusal);
  expect(ch.calls.stopped).toBe(1);
  expect(jest.getTimerCount()).toBe(0);
  await jest.advanceTimersByTimeAsync(TTL * 5);
  expect(ch.calls.renew).toBe(1);
  expect(await k.release()).toBe(false); // lockd no longer holds it: no call
  expect(ch.calls.release).toBe(0);
});

test('a refusal that retrying cannot fix (INVALID_ARGUMENT) marks the lease lost, but release still asks lockd', async () => {
  const ch = channel(() => Promise.reject(new InvalidArgumentError('ttlMs must be between 100 and 86400000 ms')));
  const k = keeper(ch);
  k.startAutoRenew();
  await jest.advanceTimersByTimeAsync(TTL / 3 * 1.1 + 1);
  expect(k.signal.reason).toBeInstanceOf(InvalidArgumentError);
  expect(await k.release()).toBe(true);
  expect(ch.calls.release).toBe(1);
});

test('while lockd is unreachable renewals are retried before the deadline; the lease is lost only when its TTL runs out', async () => {
  const ch = channel(() => Promise.reject(new ConnectionError('connection to 127.0.0.1:9 closed')));
  const k = keeper(ch);
  k.startAutoRenew();
  await jest.advanceTimersByTimeAsync(TTL - 1);
  expect(ch.calls.renew).toBeGreaterThan(1);
  expect(k.signal.aborted).toBe(false);
  await jest.advanceTimersByTimeAsync(2);
  expect(k.signal.aborted).toBe(true);
  expect(k.signal.reason).toBeInstanceOf(ConnectionError);
  expect((k.signal.reason as Error).message).toMatch(/its 3000 ms TTL ran out while it could not be renewed \(connection to 127\.0\.0\.1:9 closed\)/);
});

test('a renewal that succeeds after failures keeps the lease: the TTL counts from the successful send', async () => {
  let failing = true;
  const ch = channel((ttlMs) => (failing ? Promise.reject(new ConnectionError('down')) : Promise.resolve(wire(ttlMs))));
  const k = keeper(ch);
  k.startAutoRenew();
  await jest.advanceTimersByTimeAsync(TTL * 0.8);
  failing = false;
  await jest.advanceTimersByTimeAsync(TTL * 0.19);
  await jest.advanceTimersByTimeAsync(TTL * 2);
  expect(k.signal.aborted).toBe(false);
  expect(k.held).toBe(true);
});

test('renewSoon (after a reconnect) renews at once instead of at the next third of the TTL', async () => {
  const ch = channel();
  const k = keeper(ch);
  k.startAutoRenew();
  k.renewSoon();
  await jest.advanceTimersByTimeAsync(0);
  expect(ch.calls.renew).toBe(1);
});

test('a lease nobody renews is lost with NotHolderError when its TTL runs out, if anyone watches its signal', async () => {
  const ch = channel();
  const k = keeper(ch);
  const signal = k.signal;
  await jest.advanceTimersByTimeAsync(TTL + 1);
  expect(signal.reason).toBeInstanceOf(NotHolderError);
  expect(ch.calls.renew).toBe(0);
});
