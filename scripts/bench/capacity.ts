/**
 * Capacity figures: server RSS per held lease (lockd vs Redis), and many idle connections each
 * holding a lease. RSS is the server process's VmRSS from /proc, read after a warm-up (so the
 * runtime's own growth under load is in the "before" figure) and after a short settle.
 */
import type { LockClient } from '../../src/client';
import { connectRedis, lockdClient } from './clients';
import { summarize } from './stats';
import { openFileLimit, rssOf, Target } from './targets';

/** Lease length while the capacity runs hold leases: longer than any run. */
const HOLD_TTL_MS = 3_600_000;
/** Connections the lockd fill spreads its acquires over, and how many each keeps in flight. */
const FILL_CONNECTIONS = 16;
const FILL_IN_FLIGHT = 256;
/** Commands per Redis pipeline while filling. */
const REDIS_PIPELINE = 10_000;
/** Connections opened at once while opening idle ones. */
const OPEN_BATCH = 100;
/** Probe calls timed while every idle connection is open. */
const PROBES = 200;

/** RSS per held lease of one server. */
export interface MemoryResult {
  target: string;
  leases: number;
  /** Leases actually granted (should equal `leases`). */
  granted: number;
  rssBeforeBytes: number;
  rssAfterBytes: number;
  bytesPerLease: number;
}

/** Key of lease i: 12 characters up to 1,000,000 leases (baselines.md measured 12-char keys). */
export function leaseKey(i: number): string {
  return `lease-${String(i).padStart(6, '0')}`;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Holds `leases` leases on lockd through LockClient and measures its RSS growth. */
export async function lockdMemory(target: Target, leases: number, settleMs: number): Promise<MemoryResult> {
  const clients = Array.from({ length: FILL_CONNECTIONS }, () => lockdClient(target.port));
  try {
    const warmPairs = Math.max(10_000, Math.floor(leases / 5));
    await Promise.all(
      clients.map(async (client, c) => {
        for (let done = 0; done < warmPairs / FILL_CONNECTIONS; done += FILL_IN_FLIGHT) {
          const batch = Array.from({ length: FILL_IN_FLIGHT }, (_, j) => client.tryAcquire(`warm-${c}-${j}`, { ttlMs: HOLD_TTL_MS }));
          await Promise.all((await Promise.all(batch)).map((lease) => lease?.release()));
        }
      }),
    );
    await sleep(settleMs);
    const before = rssOf(target.pid);
    let next = 0;
    let granted = 0;
    await Promise.all(
      clients.map(async (client) => {
        while (next < leases) {
          const batch = [];
          for (let j = 0; j < FILL_IN_FLIGHT && next < leases; j++) batch.push(client.tryAcquire(leaseKey(next++), { ttlMs: HOLD_TTL_MS }));
          for (const lease of await Promise.all(batch)) if (lease !== null) granted++;
        }
      }),
    );
    await sleep(settleMs);
    const after = rssOf(target.pid);
    return { target: target.name, leases, granted, rssBeforeBytes: before, rssAfterBytes: after, bytesPerLease: (after - before) / Math.max(1, granted) };
  } finally {
    await Promise.all(clients.map((client) => client.close()));
  }
}

/** Holds `leases` keys on Redis (SET key <32-hex token> NX PX) and measures its RSS growth. */
export async function redisMemory(target: Target, leases: number, settleMs: number): Promise<MemoryResult> {
  const redis = await connectRedis(target.port);
  try {
    const token = (i: number) => i.toString(16).padStart(32, '0');
    for (let start = 0; start < Math.max(10_000, leases / 5); start += REDIS_PIPELINE) {
      const warm = redis.pipeline();
      for (let i = 0; i < REDIS_PIPELINE; i++) warm.set(`warm-${i}`, token(i), 'PX', HOLD_TTL_MS, 'NX');
      for (let i = 0; i < REDIS_PIPELINE; i++) warm.del(`warm-${i}`);
      await warm.exec();
    }
    await sleep(settleMs);
    const before = rssOf(target.pid);
    let granted = 0;
    for (let start = 0; start < leases; start += REDIS_PIPELINE) {
      const pipeline = redis.pipeline();
      for (let i = start; i < Math.min(leases, start + REDIS_PIPELINE); i++) pipeline.set(leaseKey(i), token(i), 'PX', HOLD_TTL_MS, 'NX');
      for (const [error, reply] of (await pipeline.exec()) ?? []) if (!error && reply === 'OK') granted++;
    }
    await sleep(settleMs);
    const after = rssOf(target.pid);
    return { target: target.name, leases, granted, rssBeforeBytes: before, rssAfterBytes: after, bytesPerLease: (after - before) / Math.max(1, granted) };
  } finally {
    redis.disconnect();
  }
}

/** Many idle connections to lockd, each holding a lease. */
export interface ConnectionsResult {
  asked: number;
  opened: number;
  /** Why fewer than asked were opened, if so. */
  stoppedBecause?: string;
  serverFdLimit: number | undefined;
  loadFdLimit: number | undefined;
  rssBeforeBytes: number;
  rssOpenBytes: number;
  rssAfterCloseBytes: number;
  rssPerConnectionBytes: number;
  /** Acquire + release on a further connection while all are open. */
  pairP50Ms: number;
  pairMaxMs: number;
  /** The server was still running at the end. */
  serverAlive: boolean;
}

/** Opens `asked` LockClients (bounded by this process's fd limit), each holding one lease, and probes lockd. */
export async function idleConnections(target: Target, asked: number, settleMs: number): Promise<ConnectionsResult> {
  const loadFdLimit = openFileLimit('self');
  const allowed = loadFdLimit === undefined ? asked : Math.min(asked, loadFdLimit - 200);
  let stoppedBecause = allowed < asked ? `the load process may open only ${loadFdLimit} files` : undefined;
  const clients: LockClient[] = [];
  const probe = lockdClient(target.port);
  try {
    await (await probe.acquire('idle-probe', { waitMs: 1_000 })).release();
    const before = rssOf(target.pid);
    let opened = 0;
    for (let start = 0; start < allowed && opened === start; start += OPEN_BATCH) {
      const batch = Array.from({ length: Math.min(OPEN_BATCH, allowed - start) }, () => lockdClient(target.port));
      clients.push(...batch);
      const results = await Promise.allSettled(batch.map((client, j) => client.tryAcquire(`idle-${start + j}`, { ttlMs: HOLD_TTL_MS })));
      for (const result of results) {
        if (result.status === 'fulfilled' && result.value !== null) opened++;
        else stoppedBecause ??= result.status === 'rejected' ? `a connection failed: ${(result.reason as Error).message}` : 'a lease was refused';
      }
    }
    await sleep(settleMs);
    const rssOpen = rssOf(target.pid);
    const pairs: number[] = [];
    for (let i = 0; i < PROBES; i++) {
      const began = performance.now();
      await (await probe.acquire('idle-probe', { waitMs: 1_000 })).release();
      pairs.push(performance.now() - began);
    }
    const pair = summarize(pairs);
    await Promise.all(clients.splice(0).map((client) => client.close()));
    await sleep(settleMs);
    return {
      asked,
      opened,
      ...(stoppedBecause === undefined ? {} : { stoppedBecause }),
      serverFdLimit: target.fdLimit,
      loadFdLimit,
      rssBeforeBytes: before,
      rssOpenBytes: rssOpen,
      rssAfterCloseBytes: rssOf(target.pid),
      rssPerConnectionBytes: (rssOpen - before) / Math.max(1, opened),
      pairP50Ms: pair.p50Ms,
      pairMaxMs: pair.maxMs,
      serverAlive: isAlive(target.pid),
    };
  } finally {
    await Promise.all([...clients, probe].map((client) => client.close()));
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
