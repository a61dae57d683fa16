/**
 * A seeded random walk of the table against a plain reference model (arrays and linear scans, the
 * rules written the obvious way). After every step the table's outcomes, callbacks, holders,
 * queues and deadlines must match the model, and the safety invariants must hold.
 */
import { InvalidArgumentError, NotHolderError } from '../../src/errors';
import { LeaseView, LockMode, Waiter } from '../../src/table/types';
import { byFence, Fixture, LIMITS, prng, replay, setup, stored } from './fixtures';

const { EXCLUSIVE, SHARED } = LockMode;
const KEYS = ['a', 'b', 'c', 'd'];
const SESSIONS = [1, 2, 3, 4];
const OWNERS = [undefined, 'x', 'y'];

/** A lease as the model keeps it: mutable, and with the session that owns it. */
type ModelLease = { -readonly [K in keyof LeaseView]: LeaseView[K] } & {
  session: number;
  ephemeral: boolean;
};
interface ModelWaiter {
  id: number;
  key: string;
  mode: LockMode;
  owner: string | undefined;
  ttlMs: number;
  ephemeral: boolean;
  session: number;
  deadlineMs: number;
}

/**
 * The rules, written plainly. Grants of parked waiters take their lease (token, fence) from the
 * table's waiterGranted calls through `takeGrant`, checking everything the model can predict.
 */
class Model {
  readonly leases = new Map<string, ModelLease>();
  readonly queues = new Map<string, ModelWaiter[]>(KEYS.map((k) => [k, []]));
  expectedTimeouts: number[] = [];

  constructor(private readonly takeGrant: (waiter: ModelWaiter, now: number) => LeaseView) {}

  holders(key: string): ModelLease[] {
    return byFence([...this.leases.values()].filter((l) => l.key === key));
  }

  get waiterCount(): number {
    let n = 0;
    for (const q of this.queues.values()) n += q.length;
    return n;
  }

  nextDeadline(): number {
    let at = Infinity;
    for (const l of this.leases.values()) at = Math.min(at, l.expiresAtMs);
    for (const q of this.queues.values()) for (const w of q) at = Math.min(at, w.deadlineMs);
    return at;
  }

  compatible(key: string, mode: LockMode): boolean {
    const holders = this.holders(key);
    return holders.length === 0 || (mode === SHARED && holders.every((h) => h.mode === SHARED));
  }

  /**
   * Leases and waits due by `now`, in time order: a lease before a wait due at the same moment,
   * and waits due together in arrival order.
   */
  expireDue(now: number): void {
    for (;;) {
      let lease: ModelLease | undefined;
      for (const l of this.leases.values()) if (lease === undefined || l.expiresAtMs < lease.expiresAtMs) lease = l;
      let waiter: ModelWaiter | undefined;
      for (const q of this.queues.values()) {
        for (const w of q) if (waiter === undefined || w.deadlineMs < waiter.deadlineMs || (w.deadlineMs === waiter.deadlineMs && w.id < waiter.id)) waiter = w;
      }
      const leaseAt = lease?.expiresAtMs ?? Infinity;
      const waiterAt = waiter?.deadlineMs ?? Infinity;
      if (leaseAt <= now && leaseAt <= waiterAt) {
        this.free(lease as ModelLease, now);
      } else if (waiterAt <= now) {
        const w = waiter as ModelWaiter;
        this.unqueue(w);
        this.expectedTimeouts.push(w.id);
        this.promote(w.key, now);
      } else {
        return;
      }
    }
  }

  free(lease: ModelLease, now: number): void {
    this.leases.delete(lease.token);
    this.promote(lease.key, now);
  }

  unqueue(w: ModelWaiter): boolean {
    const q = this.queues.get(w.key) as ModelWaiter[];
    const i = q.findIndex((x) => x.id === w.id);
    if (i < 0) return false;
    q.splice(i, 1);
    return true;
  }

  promote(key: string, now: number): void {
    const q = this.queues.get(key) as ModelWaiter[];
    while (q.length > 0 && this.compatible(key, q[0].mode)) {
      const w = q.shift() as ModelWaiter;
      const lease = this.takeGrant(w, now);
      this.leases.set(lease.token, { ...lease, session: w.session, ephemeral: w.ephemeral });
    }
  }

  findLease(key: string, token: string): ModelLease | undefined {
    const lease = this.leases.get(token);
    return lease !== undefined && lease.key === key ? lease : undefined;
  }

  closeSession(session: number, now: number): { leases: number; waiters: number } {
    this.expireDue(now);
    const mine: ModelWaiter[] = [];
    for (const q of this.queues.values()) for (const w of q) if (w.session === session) mine.push(w);
    for (const w of mine) this.unqueue(w);
    for (const w of mine) this.promote(w.key, now);
    const ephemeral = [...this.leases.values()].filter((l) => l.ephemeral && l.session === session);
    for (const l of ephemeral) this.free(l, now);
    this.expireDue(now);
    return { leases: ephemeral.length, waiters: mine.length };
  }
}

type Outcome = { kind: string; value?: unknown };

/** Runs `fn`, turning a thrown lock error into an outcome so table and model compare alike. */
function outcomeOf(fn: () => unknown): Outcome {
  try {
    return { kind: 'ok', value: fn() };
  } catch (error) {
    if (error instanceof NotHolderError) return { kind: 'not-holder' };
    if (error instanceof InvalidArgumentError) return { kind: 'invalid' };
    throw error;
  }
}

function runWalk(seed: number, steps: number): { grants: number; timeouts: number; ops: Record<string, number> } {
  const random = prng(seed);
  const t: Fixture = setup();
  const waiterObjects = new Map<number, Waiter>();
  const issuedTokens: string[] = [];
  const ops: Record<string, number> = {};
  let lastFence = 0;
  let eventsSeen = 0;
  let timeoutsSeen = 0;
  const stats = { grants: 0, timeouts: 0 };
  const consumed = new Set<number>();

  /** Matches a model grant of a parked waiter against the table's waiterGranted call. */
  const takeGrant = (w: ModelWaiter, now: number): LeaseView => {
    const event = t.granted.slice(eventsSeen).find((g) => g.waiter.id === w.id);
    if (event === undefined) throw new Error(`model granted waiter ${w.id} on ${w.key}; the table did not`);
    consumed.add(w.id);
    expect(event.lease).toMatchObject({ key: w.key, mode: w.mode, owner: w.owner, ttlMs: w.ttlMs, expiresAtMs: now + w.ttlMs, holdCount: 1 });
    stats.grants++;
    return event.lease;
  };
  const model = new Model(takeGrant);

  const pickToken = (): { key: string; token: string } => {
    const live = [...model.leases.values()];
    const roll = random.next();
    if (roll < 0.7 && live.length > 0) {
      const lease = random.pick(live);
      return { key: random.chance(0.9) ? lease.key : random.pick(KEYS), token: lease.token };
    }
    if (roll < 0.9 && issuedTokens.length > 0) return { key: random.pick(KEYS), token: random.pick(issuedTokens) };
    return { key: random.pick(KEYS), token: random.pick(['', 'nope', 'ff'.repeat(16)]) };
  };

  for (let step = 0; step < steps; step++) {
    const now = t.now();
    const roll = random.next();
    let lazy = false;
    let freshLease: LeaseView | undefined;
    let op: string;

    if (roll < 0.35) {
      op = 'acquire';
      const key = random.pick(KEYS);
      const mode = random.chance(0.5) ? SHARED : EXCLUSIVE;
      const ttlMs = random.chance(0.02) ? 0 : random.chance(0.1) ? undefined : 10 + random.int(190);
      // Short waits over a narrow range, so many end at the same instant as others.
      const waitMs = random.chance(0.4) ? 0 : random.chance(0.3) ? -1 : 1 + random.int(40);
      const ephemeral = random.chance(0.3);
      const session = random.pick(SESSIONS);
      const owner = random.pick(OWNERS);
      const reenter = random.chance(0.1) ? pickToken() : undefined;
      const request = { key: reenter?.key ?? key, mode, ttlMs, waitMs, ephemeral, session, owner, token: reenter?.token };
      const actual = outcomeOf(() => t.table.acquire(request, now));
      const expected = outcomeOf(() => {
        model.expireDue(now);
        if (ttlMs !== undefined && (ttlMs < LIMITS.minTtlMs || ttlMs > LIMITS.maxTtlMs)) throw new InvalidArgumentError('ttl');
        const ttl = ttlMs ?? LIMITS.defaultTtlMs;
        if (request.token !== undefined) {
          const lease = model.findLease(request.key, request.token);
          if (lease === undefined) throw new NotHolderError('stale');
          if (lease.mode !== mode) throw new InvalidArgumentError('mode');
          lease.holdCount++;
          lease.ttlMs = ttl;
          lease.expiresAtMs = Math.max(lease.expiresAtMs, now + ttl);
          return { kind: 'granted', reentered: true, lease: { ...lease } };
        }
        if ((model.queues.get(key) as ModelWaiter[]).length === 0 && model.compatible(key, mode)) return { kind: 'granted', reentered: false };
        if (waitMs === 0) return { kind: 'busy' };
        return { kind: 'queued' };
      });
      expect(actual.kind).toBe(expected.kind);
      if (actual.kind === 'ok') {
        const got = actual.value as ReturnType<Fixture['acquire']>;
        const want = expected.value as { kind: string; reentered?: boolean; lease?: ModelLease };
        expect(got.kind).toBe(want.kind);
        if (got.kind === 'granted' && want.reentered) {
          const { session: _s, ephemeral: _e, ...view } = want.lease as ModelLease;
          expect(got).toEqual({ kind: 'granted', reentered: true, lease: view });
        } else if (got.kind === 'granted') {
          expect(got.reentered).toBe(false);
          expect(got.lease).toMatchObject({ key, mode, owner, ttlMs: ttlMs ?? LIMITS.defaultTtlMs, expiresAtMs: now + (ttlMs ?? LIMITS.defaultTtlMs), holdCount: 1 });
          model.leases.set(got.lease.token, { ...got.lease, session, ephemeral });
          issuedTokens.push(got.lease.token);
          freshLease = got.lease;
        } else if (got.kind === 'queued') {
          const w = got.waiter;
          expect(w).toMatchObject({ key, mode, owner, session, ephemeral, ttlMs: ttlMs ?? LIMITS.defaultTtlMs, deadlineMs: waitMs < 0 ? Infinity : now + waitMs });
          (model.queues.get(key) as ModelWaiter[]).push({ id: w.id, key, mode, owner, ttlMs: w.ttlMs, ephemeral, session, deadlineMs: w.deadlineMs });
          waiterObjects.set(w.id, w);
        }
      }
    } else if (roll < 0.6) {
      op = 'release';
      const { key, token } = pickToken();
      const actual = t.table.release(key, token, now);
      model.expireDue(now);
      const lease = model.findLease(key, token);
      expect(actual).toBe(lease !== undefined);
      if (lease !== undefined && --lease.holdCount === 0) model.free(lease, now);
    } else if (roll < 0.68) {
      op = 'renew';
      const { key, token } = pickToken();
      const ttl = 10 + random.int(190);
      const actual = outcomeOf(() => t.table.renew(key, token, ttl, now));
      model.expireDue(now);
      const lease = model.findLease(key, token);
      if (lease === undefined) {
        expect(actual.kind).toBe('not-holder');
      } else {
        lease.ttlMs = ttl;
        lease.expiresAtMs = now + ttl;
        const { session: _s, ephemeral: _e, ...view } = lease;
        expect(actual).toEqual({ kind: 'ok', value: view });
      }
    } else if (roll < 0.73) {
      op = 'closeSession';
      const session = random.pick(SESSIONS);
      expect(t.table.closeSession(session, now)).toEqual(model.closeSession(session, now));
    } else if (roll < 0.78 && waiterObjects.size > 0) {
      op = 'cancelWaiter';
      const w = random.pick([...waiterObjects.values()]);
      const actual = t.table.cancelWaiter(w, now);
      // Still queued (even if its own wait is over but unswept): it leaves first, then the sweep.
      const modelWaiter = [...model.queues.values()].flat().find((x) => x.id === w.id);
      expect(actual).toBe(modelWaiter !== undefined);
      if (modelWaiter !== undefined) {
        model.unqueue(modelWaiter);
        model.expireDue(now);
        model.promote(modelWaiter.key, now);
      }
    } else {
      lazy = random.chance(0.5);
      op = lazy ? 'advance' : 'tick';
      t.clock.advance(random.int(40));
      if (!lazy) {
        t.table.expireDue(t.now());
        model.expireDue(t.now());
      }
    }
    ops[op] = (ops[op] ?? 0) + 1;

    // Callbacks: exactly the grants and timeouts the model made, each once.
    const newGrants = t.granted.slice(eventsSeen);
    expect(newGrants.map((g) => g.waiter.id).sort()).toEqual([...consumed].sort());
    const newTimeouts = t.timedOut.slice(timeoutsSeen).map((w) => w.id);
    expect(newTimeouts.sort()).toEqual(model.expectedTimeouts.sort());
    stats.timeouts += newTimeouts.length;
    for (const g of newGrants) issuedTokens.push(g.lease.token);
    for (const id of [...consumed, ...newTimeouts]) waiterObjects.delete(id);
    for (const [id] of waiterObjects) if (![...model.queues.values()].flat().some((w) => w.id === id)) waiterObjects.delete(id);
    eventsSeen = t.granted.length;
    timeoutsSeen = t.timedOut.length;
    consumed.clear();
    model.expectedTimeouts = [];

    // Fences: every new grant, in the order the table made them, is above all before it.
    for (const lease of [...newGrants.map((g) => g.lease), ...(freshLease ? [freshLease] : [])]) {
      expect(lease.fence).toBeGreaterThan(lastFence);
      lastFence = lease.fence;
    }
    expect(t.table.currentFence).toBe(lastFence);

    // Counts and the next deadline (none of these sweep, so they hold after a lazy advance too).
    expect(t.table.leaseCount).toBe(model.leases.size);
    expect(t.table.waiterTotal).toBe(model.waiterCount);
    expect(t.table.nextDeadline()).toBe(model.nextDeadline());

    if (!lazy) {
      // Every call sweeps first, so nothing is left due; inspect below therefore changes nothing.
      expect(t.table.nextDeadline()).toBeGreaterThan(t.now());
      const actualKeys = KEYS.map((key) => {
        const info = t.table.inspect(key, t.now());
        const holders = byFence(info.holders);
        // Safety: one exclusive holder alone, or only shared holders.
        if (holders.some((h) => h.mode === EXCLUSIVE) && holders.length > 1) throw new Error(`step ${step}: ${key} has an exclusive holder among ${holders.length}`);
        return { key, holders: holders.map((h) => [h.mode, h.fence, h.expiresAtMs, h.holdCount, h.owner]), waiters: info.waiters };
      });
      const modelKeys = KEYS.map((key) => ({
        key,
        holders: model.holders(key).map((l) => [l.mode, l.fence, l.expiresAtMs, l.holdCount, l.owner]),
        waiters: (model.queues.get(key) as ModelWaiter[]).length,
      }));
      expect(actualKeys).toEqual(modelKeys);
    }

    if (step % 50 === 0) {
      // The change stream replays to exactly the durable leases, and those are the model's.
      const durable = byFence(t.table.durableLeases());
      expect(byFence(replay(t.changes).leases.values())).toEqual(durable);
      const modelDurable = byFence([...model.leases.values()].filter((l) => !l.ephemeral)).map(({ session: _s, ephemeral: _e, ...view }) => stored(view));
      expect(durable).toEqual(modelDurable);
    }
  }
  return { ...stats, ops };
}

describe('random walk against a reference model', () => {
  test.each([1, 42, 20240611])('given seed %p and 3000 random operations, then the table agrees with the model after every step', (seed) => {
    const { grants, timeouts, ops } = runWalk(seed, 3_000);
    // The walk must actually exercise the interesting paths, or it proves little.
    expect(grants).toBeGreaterThan(50);
    expect(timeouts).toBeGreaterThan(10);
    for (const op of ['acquire', 'release', 'renew', 'closeSession', 'cancelWaiter', 'tick', 'advance']) expect(ops[op]).toBeGreaterThan(20);
  });
});
