/**
 * What lockctl prints: one JSON shape per result type (times are Unix ms numbers) and the human
 * lines for the same results, including the "waiting for ..." line shown on a terminal.
 */
import type { HolderInfo, LockInfo } from '../client/lock-client';
import type { LeaseState } from '../client/lease';
import { formatCliDuration } from './durations';

/** --json of acquire and renew. */
export interface LeaseJson {
  key: string;
  token: string;
  fence: number;
  mode: 'exclusive' | 'shared';
  ttlMs: number;
  /** Unix ms on lockd's clock. */
  expiresAt: number;
  holdCount: number;
}

/** --json of one holder in status and list. */
export interface HolderJson {
  owner: string | null;
  mode: 'exclusive' | 'shared';
  fence: number;
  /** Unix ms on lockd's clock. */
  expiresAt: number;
  holdCount: number;
}

/** --json of status, and of each entry of list. */
export interface LockJson {
  key: string;
  holders: HolderJson[];
  waiters: number;
}

/** --json of every failure: the error's stable code, its message and lockctl's exit code. */
export interface ErrorJson {
  error: {
    code: string;
    message: string;
    exitCode: number;
    /** For LOCKD_LOCK_TIMEOUT: the lock as it was when the wait ran out. */
    lock?: LockJson;
  };
}

/** The --json shapes, documented in `lockctl --help` (JSON_HELP) and the README. */
export const JSON_HELP = `JSON output (--json): one object per result on stdout; times are Unix ms numbers.
  acquire, renew  {"key","token","fence","mode","ttlMs","expiresAt","holdCount"}
  release         {"key","released"}
  status          {"key","holders":[{"owner","mode","fence","expiresAt","holdCount"}],"waiters"}
  list            {"locks":[<status object>...],"more"}   more: further keys exist (raise --limit)
  run             {"key","fence","exitCode","lost"}
  ping            {"pong":true}
  cluster         {"cluster","clustered","nodeId","partitions","nodes":[{"nodeId","address","partitions":[...]}],"unowned":[...]}
  --version       {"version"}
  any failure     {"error":{"code","message","exitCode"}}   (+ "lock": <status object> when a wait ran out)
mode is "exclusive" or "shared"; owner is null when the holder gave none.`;

export function leaseJson(lease: LeaseState, token: string): LeaseJson {
  return { key: lease.key, token, fence: lease.fence, mode: lease.mode, ttlMs: lease.ttlMs, expiresAt: lease.expiresAt, holdCount: lease.holdCount };
}

export function lockJson(info: LockInfo): LockJson {
  return {
    key: info.key,
    holders: info.holders.map((h) => ({ owner: h.owner ?? null, mode: h.mode, fence: h.fence, expiresAt: h.expiresAt, holdCount: h.holdCount })),
    waiters: info.waiters,
  };
}

export function errorJson(error: { code: string; message: string }, exitCode: number, lock?: LockInfo): ErrorJson {
  return { error: { code: error.code, message: error.message, exitCode, ...(lock && { lock: lockJson(lock) }) } };
}

/** The human lines of acquire. */
export function describeLease(lease: LeaseState, token: string): string {
  const lines = [
    `key      ${lease.key}`,
    `token    ${token}`,
    `fence    ${lease.fence}`,
    `mode     ${lease.mode}`,
    `ttl      ${formatCliDuration(lease.ttlMs)}`,
    `expires  ${new Date(lease.expiresAt).toISOString()}`,
  ];
  if (lease.holdCount > 1) lines.push(`held     ${lease.holdCount}x`);
  return lines.join('\n');
}

/** "ops (exclusive, fence 12)" for one holder; several shared holders are listed with "; ". */
export function describeHolders(holders: readonly HolderInfo[], withExpiry: boolean): string {
  return holders
    .map((h) => {
      const details = [h.mode, `fence ${h.fence}`];
      if (withExpiry) details.push(`expires ${new Date(h.expiresAt).toISOString()}`);
      if (h.holdCount > 1) details.push(`held ${h.holdCount}x`);
      return `${h.owner ?? '(no owner)'} (${details.join(', ')})`;
    })
    .join('; ');
}

/** status and list: "job: held by ops (exclusive, fence 3, expires ...); 0 waiting" or "job: free". */
export function describeLock(info: LockInfo): string {
  if (info.holders.length === 0) return `${info.key}: free${info.waiters > 0 ? `, ${info.waiters} waiting` : ''}`;
  return `${info.key}: held by ${describeHolders(info.holders, true)}; ${info.waiters} waiting`;
}

/**
 * The line shown while lockctl waits on a terminal: whom it waits for, who holds the lock and
 * how many wait ahead. `ahead` is undefined until known.
 */
export function describeWait(key: string, waitedMs: number, info: LockInfo | undefined, ahead: number | undefined): string {
  const waited = waitedMs < 1_000 ? '0s' : formatCliDuration(Math.floor(waitedMs / 1_000) * 1_000);
  let line = `waiting for ${JSON.stringify(key)} (${waited})`;
  if (info !== undefined) line += info.holders.length === 0 ? ': free, about to be granted' : `: held by ${describeHolders(info.holders, false)}`;
  if (ahead !== undefined) line += ahead === 0 ? '; next in line' : `; ${ahead} ahead`;
  return line;
}

/** The message of a wait that ran out, naming who held the lock. */
export function describeTimeout(key: string, waitMs: number, info: LockInfo | undefined): string {
  const base = `${JSON.stringify(key)} was not granted within ${formatCliDuration(waitMs)}`;
  if (info === undefined) return base;
  if (info.holders.length === 0) return `${base} (it is free now; ${info.waiters} waiting)`;
  return `${base}: held by ${describeHolders(info.holders, false)}, ${info.waiters} waiting`;
}
