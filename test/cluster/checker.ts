/**
 * A history checker for cluster-mode fault tests (design study §9.4): pure logic over the
 * records the test's clients wrote, one per call, with wall-clock invoke and ack times (one
 * machine, so one clock for clients and lockd's expiresAtMs).
 *
 * It reports only DEFINITE violations: where a call's effect may have happened anywhere between
 * its invoke and its ack, the bound that favours lockd is taken (a grant is certainly held from
 * its ack until the first release was SENT or its last acknowledged expiry, whichever is first).
 *
 *   C1 no overlap: two grants of a key, at least one exclusive, where the later-fenced one was
 *      acknowledged while the earlier one was certainly still held.
 *   C2 no lost acknowledged grant: a renew/release of a grant answered "not holder" although the
 *      answer arrived before the grant's acknowledged expiry and no release of it was sent before.
 *   C3 fences: unique across all grants (any key); per key, a grant requested after another
 *      was acknowledged has the larger fence.
 *   C4 no stale checkFence: true for fence f of key k although, before the call was sent, a
 *      conflicting grant on k with a larger fence was acknowledged.
 *   C5 no reply from a deposed owner (observable as a stale answer): a renew that succeeds, or an
 *      inspect that lists the grant, for a grant superseded (a conflicting grant with a larger
 *      fence acknowledged) before the call was sent.
 *
 * A release's acknowledgement is not a definite end for C4 and C5: lockd answers a release before
 * its record is written (README, Durability), so an owner that fails right after may leave the
 * lease to the next owner until its expiry, where inspect and checkFence still show it. That
 * keeps the key from others (the safe direction); it never grants it twice (C1).
 */

export type Mode = 'exclusive' | 'shared';

/** Fields every record has. */
interface Base {
  /** Which client/worker made the call (for messages). */
  client: string;
  /** The node the call was sent to (its id or address; for messages). */
  node: string;
  key: string;
  /** Wall-clock ms when the call was sent. */
  invokeAt: number;
  /** Wall-clock ms when its answer (or error) arrived. */
  ackAt: number;
}

/** acquire: granted (with the lease), refused (timed out or busy), or failed (error: may or may not have happened). */
export interface AcquireRecord extends Base {
  op: 'acquire';
  mode: Mode;
  outcome: { kind: 'granted'; token: string; fence: number; expiresAtMs: number } | { kind: 'refused' } | { kind: 'error'; error: string };
}

/** release of one grant (by token): true, false (not holder) or error (ambiguous). */
export interface ReleaseRecord extends Base {
  op: 'release';
  token: string;
  outcome: { kind: 'ok'; released: boolean } | { kind: 'error'; error: string };
}

/** renew of one grant: ok (new expiry), notHolder (definite), error (ambiguous). */
export interface RenewRecord extends Base {
  op: 'renew';
  token: string;
  outcome: { kind: 'ok'; expiresAtMs: number } | { kind: 'notHolder' } | { kind: 'error'; error: string };
}

/** checkFence(key, fence). */
export interface CheckFenceRecord extends Base {
  op: 'checkFence';
  fence: number;
  outcome: { kind: 'ok'; valid: boolean } | { kind: 'error'; error: string };
}

/** inspect(key): the holders' fences. */
export interface InspectRecord extends Base {
  op: 'inspect';
  outcome: { kind: 'ok'; fences: number[] } | { kind: 'error'; error: string };
}

export type OpRecord = AcquireRecord | ReleaseRecord | RenewRecord | CheckFenceRecord | InspectRecord;

export type Check = 'C1' | 'C2' | 'C3' | 'C4' | 'C5';

export interface Violation {
  check: Check;
  message: string;
}

export interface CheckerOptions {
  /** Tolerance for clock granularity between lockd's expiresAtMs and the clients' clock; default 25 ms. */
  slackMs?: number;
}

/** One acknowledged grant and what the history says about its end. */
interface Grant {
  rec: AcquireRecord;
  key: string;
  mode: Mode;
  token: string;
  fence: number;
  ackAt: number;
  /** When the first release of it was sent (Infinity if never). */
  releaseSentAt: number;
  /** Latest acknowledged expiry (grant or successful renew). */
  expiresAtMs: number;
}

/** Checks a history; returns every violation found (empty = the history is consistent). */
export function checkHistory(records: readonly OpRecord[], options: CheckerOptions = {}): Violation[] {
  const slack = options.slackMs ?? 25;
  const violations: Violation[] = [];
  const report = (check: Check, message: string) => violations.push({ check, message });
  const describe = (r: Base & { op: string }) => `${r.op} ${r.key} by ${r.client} via ${r.node} [${r.invokeAt}..${r.ackAt}]`;

  // Grants by token (a token names one lease).
  const grants = new Map<string, Grant>();
  for (const r of records) {
    if (r.op !== 'acquire' || r.outcome.kind !== 'granted') continue;
    const o = r.outcome;
    if (grants.has(o.token)) {
      report('C3', `token ${o.token} granted twice: ${describe(grants.get(o.token)!.rec)} and ${describe(r)}`);
      continue;
    }
    grants.set(o.token, { rec: r, key: r.key, mode: r.mode, token: o.token, fence: o.fence, ackAt: r.ackAt, releaseSentAt: Infinity, expiresAtMs: o.expiresAtMs });
  }
  for (const r of records) {
    if (r.op === 'release') {
      const g = grants.get(r.token);
      if (!g) continue;
      g.releaseSentAt = Math.min(g.releaseSentAt, r.invokeAt);
    } else if (r.op === 'renew' && r.outcome.kind === 'ok') {
      const g = grants.get(r.token);
      if (g) g.expiresAtMs = Math.max(g.expiresAtMs, r.outcome.expiresAtMs);
    }
  }
  /** The last instant the grant is certainly held (from its ack on). */
  const certainEnd = (g: Grant) => Math.min(g.releaseSentAt, g.expiresAtMs - slack);
  const conflict = (a: Grant, b: Grant) => a.mode === 'exclusive' || b.mode === 'exclusive';

  // Grants per key, by fence.
  const byKey = new Map<string, Grant[]>();
  for (const g of grants.values()) {
    const list = byKey.get(g.key) ?? [];
    list.push(g);
    byKey.set(g.key, list);
  }
  for (const list of byKey.values()) list.sort((a, b) => a.fence - b.fence);

  // C3: fences unique across all grants.
  const byFence = new Map<number, Grant>();
  for (const g of grants.values()) {
    const other = byFence.get(g.fence);
    if (other) report('C3', `fence ${g.fence} granted twice: ${describe(other.rec)} and ${describe(g.rec)}`);
    else byFence.set(g.fence, g);
  }

  for (const list of byKey.values()) {
    for (let i = 0; i < list.length; i++) {
      const g = list[i];
      for (let j = i + 1; j < list.length; j++) {
        const h = list[j];
        // C1: h (later fence, so granted after g) acknowledged while g certainly still held
        // (g's hold began at its grant, before h's; it lasts at least until certainEnd).
        if (conflict(g, h) && h.ackAt < certainEnd(g)) {
          report('C1', `${g.key}: fence ${h.fence} (${describe(h.rec)}) acknowledged at ${h.ackAt} while fence ${g.fence} (${describe(g.rec)}) was held until at least ${certainEnd(g)}`);
        }
        // C1 (other order): h acknowledged before g although its fence is larger, and g's hold
        // started at most at g.ackAt: if g was granted (≥ g.invokeAt) while h certainly held.
        if (conflict(g, h) && g.rec.invokeAt >= h.ackAt && g.ackAt < certainEnd(h)) {
          report('C1', `${g.key}: fence ${g.fence} (${describe(g.rec)}) granted while fence ${h.fence} (${describe(h.rec)}) was held, and with a smaller fence`);
        }
      }
      // C3: a grant requested after g was acknowledged carries a larger fence.
      for (const h of list) {
        if (h !== g && h.rec.invokeAt > g.ackAt && h.fence <= g.fence) {
          report('C3', `${g.key}: fence ${h.fence} (${describe(h.rec)}) requested after fence ${g.fence} (${describe(g.rec)}) was acknowledged, but not larger`);
        }
      }
    }
  }

  /** The acknowledged grant on `key` with a larger fence than g, conflicting, acknowledged before `at`. */
  const supersededBefore = (g: Grant, at: number): Grant | undefined =>
    byKey.get(g.key)!.find((h) => h.fence > g.fence && conflict(g, h) && h.ackAt < at);

  for (const r of records) {
    if (r.op === 'renew' || r.op === 'release') {
      const g = grants.get(r.token);
      if (!g) continue;
      // C2: a definite "not holder" for a grant that was certainly still held when the owner
      // answered: the answer arrived before the grant's expiry (a call sent before the expiry but
      // served after it, slowed by a failover, may rightly find the lease expired).
      const notHolder = (r.op === 'renew' && r.outcome.kind === 'notHolder') || (r.op === 'release' && r.outcome.kind === 'ok' && !r.outcome.released);
      const earlierRelease = g.releaseSentAt < r.invokeAt;
      if (notHolder && !earlierRelease && r.ackAt < g.expiresAtMs - slack && r.invokeAt >= g.ackAt) {
        report('C2', `${g.key}: fence ${g.fence} (${describe(g.rec)}, expires ${g.expiresAtMs}) lost: ${describe(r)} answered not holder`);
      }
      // C5: a successful renew of a grant already superseded, or already released, when the renew was sent.
      if (r.op === 'renew' && r.outcome.kind === 'ok') {
        const h = supersededBefore(g, r.invokeAt);
        if (h) report('C5', `${g.key}: renew of fence ${g.fence} succeeded (${describe(r)}) after fence ${h.fence} was acknowledged at ${h.ackAt}`);
      }
    } else if (r.op === 'checkFence' && r.outcome.kind === 'ok' && r.outcome.valid) {
      const g = byFence.get(r.fence);
      const list = byKey.get(r.key) ?? [];
      // C4: any conflicting larger fence acknowledged before the call means fence f is no longer live.
      const later = list.find((h) => h.fence > r.fence && (g === undefined ? h.mode === 'exclusive' : conflict(g, h)) && h.ackAt < r.invokeAt);
      if (later) report('C4', `${r.key}: checkFence(${r.fence}) true (${describe(r)}) after fence ${later.fence} was acknowledged at ${later.ackAt}`);
    } else if (r.op === 'inspect' && r.outcome.kind === 'ok') {
      for (const fence of r.outcome.fences) {
        const g = byFence.get(fence);
        if (!g || g.key !== r.key) continue;
        const h = supersededBefore(g, r.invokeAt);
        if (h) report('C5', `${r.key}: inspect (${describe(r)}) lists fence ${fence} after fence ${h.fence} was acknowledged at ${h.ackAt}`);
      }
    }
  }
  return violations;
}

/** Counts per check, for a summary line. */
export function summarize(violations: readonly Violation[]): Record<Check, number> {
  const counts: Record<Check, number> = { C1: 0, C2: 0, C3: 0, C4: 0, C5: 0 };
  for (const v of violations) counts[v.check]++;
  return counts;
}
