/**
 * The conformance scenarios: the one list every language's client (test/conformance/clients/)
 * runs, in this order, each on connections of its own, and what each must report. A client
 * prints one JSON line per scenario, `{"scenario": NAME, "result": {...}}` (or `"error"` when
 * the scenario threw); languages.test.ts compares every line with `expected(prefix)`.
 *
 * Keys are `prefix + name`, the prefix naming the language and stack, so clients can share one
 * lockd. lockd's fences start above 2^32 (languages.test.ts seeds the fence ceiling) so that
 * every fence is an i64 with high bits set.
 */

/** What a scenario does and what its client reports. */
export interface Scenario {
  name: string;
  /** What the client does, in one sentence. */
  does: string;
  expected(prefix: string): unknown;
}

export const SCENARIOS: readonly Scenario[] = [
  {
    name: 'ping',
    does: 'ping answers "pong"',
    expected: () => ({ reply: 'pong' }),
  },
  {
    name: 'cancel_wait_nothing_parked',
    does: 'cancelWait(waitSeqid) with no parked wait answers false',
    expected: () => ({ cancelled: false }),
  },
  {
    name: 'exclusive_acquire',
    does: 'acquire an exclusive lease: a 32-hex-digit token, a fence, holdCount 1, the asked TTL; release it; then the guide\'s acquire-renew-release flow',
    expected: () => ({
      acquired: true,
      tokenIsHex32: true,
      fenceAbove2to32: true,
      mode: 'EXCLUSIVE',
      holdCount: 1,
      ttlMs: 30000,
      released: true,
      documentedFlowFence: true,
    }),
  },
  {
    name: 'busy_try_lock',
    does: 'a second connection asks for a held key with waitMs 0: acquired false, no lease',
    expected: () => ({ acquired: false, hasLease: false }),
  },
  {
    name: 'wait_woken_by_release',
    does: 'a second connection waits (waitMs 20000, socket timeout above it); the holder sees one waiter, releases, and the waiter is granted with a higher fence',
    expected: () => ({ waitersSeen: 1, released: true, acquired: true, higherFence: true }),
  },
  {
    name: 'renew_keeps_fence',
    does: 'renew with twice the TTL keeps token, fence and holdCount and does not move the expiry earlier',
    expected: () => ({ sameFence: true, sameToken: true, ttlMs: 60000, expiresNotEarlier: true, holdCount: 1 }),
  },
  {
    name: 'wrong_token',
    does: 'release with a wrong token returns false; renew with it raises LockError NOT_HOLDER (code 2) as the language\'s exception; the lease stays held',
    expected: () => ({
      release: false,
      renew: { caught: 'LockError', code: 2, codeName: 'NOT_HOLDER', hasMessage: true },
      stillHeld: true,
    }),
  },
  {
    name: 'check_fence',
    does: 'checkFence is true for the live fence, false for another, false after release',
    expected: () => ({ live: true, otherFence: false, afterRelease: false }),
  },
  {
    name: 'inspect_and_list',
    does: 'inspect shows the holder (owner, mode, fence, holdCount; Holder has no token field) and no waiters; listLocks lists the held keys under a prefix in key order',
    expected: (prefix: string) => ({
      inspect: {
        lockKey: `${prefix}seen/a`,
        waiters: 0,
        holders: [{ owner: 'conformance', mode: 'EXCLUSIVE', sameFence: true, holdCount: 1 }],
      },
      listed: [
        { lockKey: `${prefix}seen/a`, modes: ['EXCLUSIVE'] },
        { lockKey: `${prefix}seen/b`, modes: ['SHARED'] },
      ],
    }),
  },
  {
    name: 'i64_round_trip',
    does: 'fence and expiresAtMs above 2^32 arrive whole in Lease and Holder, and a fence above 2^32 sent back is recognised (its low 32 bits alone are not)',
    expected: () => ({
      fenceAbove2to32: true,
      expiresAtMsAbove2to32: true,
      inspectSameFence: true,
      inspectSameExpiresAtMs: true,
      checkFenceSentBack: true,
      checkFenceLow32Bits: false,
    }),
  },
  {
    name: 'seed_api',
    does: 'acquireLock/releaseLock: granted once per connection, busy for another, released by its connection; a key taken with acquireLock is freed when that connection closes (a waiting acquireLock then gets it)',
    expected: () => ({
      acquired: true,
      againSameConnection: false,
      otherConnection: false,
      otherRelease: false,
      released: true,
      reacquired: true,
      freedOnClose: true,
      releasedAfter: true,
    }),
  },
  {
    name: 'unknown_method',
    does: 'a raw call of a method the service lacks gets TApplicationException UNKNOWN_METHOD (type 1) with the same seqid, and ping then works on the same connection',
    expected: () => ({
      replyIsException: true,
      sameSeqid: true,
      type: 1,
      isUnknownMethod: true,
      messageNamesMethod: true,
      pingAfter: 'pong',
    }),
  },
];
