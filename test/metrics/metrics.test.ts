/**
 * /metrics against a real lockd: the values move as locks are taken, waited for, held, expire and
 * are refused; the Thrift connection gauge counts a real client; per-prefix series stay capped
 * under many distinct keys; a durable store reports sync latency and batch size.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { LockClient } from '../../src/client/lock-client';
import { PromSample, samplesOf, sumOf } from '../../src/util/prom-text';
import { call, eventually, HttpLockd, k, scrape, startHttpLockd } from '../http/http-lockd';

describe('lock metrics', () => {
  let lockd: HttpLockd;
  let client: LockClient | undefined;
  beforeAll(async () => {
    lockd = await startHttpLockd(['--metrics-prefix-depth', '1']);
  });
  afterAll(async () => {
    await client?.close();
    expect(await lockd.stop()).toBe(0);
  });

  const value = async (name: string, labels: Record<string, string> = {}) => sumOf(await scrape(lockd.http), name, labels);

  test('a grant, a wait granted by a release, the hold time and the gauges', async () => {
    const holder = await call(lockd.http, 'POST', `/v1/locks/${k('jobs/a')}`, {});
    let m = await scrape(lockd.http);
    expect(sumOf(m, 'lockd_grants_total', { prefix: 'jobs' })).toBe(1);
    expect(sumOf(m, 'lockd_acquires_total', { result: 'granted' })).toBe(1);
    expect(sumOf(m, 'lockd_leases')).toBe(1);

    const waiting = call(lockd.http, 'POST', `/v1/locks/${k('jobs/a')}`, { waitMs: 15_000 });
    await eventually(async () => (await value('lockd_waiters')) === 1, 'lockd_waiters to be 1');
    m = await scrape(lockd.http);
    expect(sumOf(m, 'lockd_http_waits')).toBe(1);
    expect(sumOf(m, 'lockd_contended_acquires_total', { prefix: 'jobs' })).toBe(1);
    expect(sumOf(m, 'lockd_acquires_total', { result: 'queued' })).toBe(1);

    await new Promise((resolve) => setTimeout(resolve, 300)); // held (and waited for) at least this long
    await call(lockd.http, 'DELETE', `/v1/locks/${k('jobs/a')}?token=${holder.json.token}`);
    const second = await waiting;
    expect(second.status).toBe(200);

    m = await scrape(lockd.http);
    expect(sumOf(m, 'lockd_grants_total', { prefix: 'jobs' })).toBe(2);
    expect(sumOf(m, 'lockd_wait_grants_total')).toBe(1);
    expect(sumOf(m, 'lockd_wait_seconds_count', { prefix: 'jobs', outcome: 'granted' })).toBe(1);
    expect(sumOf(m, 'lockd_wait_seconds_sum', { prefix: 'jobs', outcome: 'granted' })).toBeGreaterThanOrEqual(0.25);
    expect(sumOf(m, 'lockd_hold_seconds_count', { prefix: 'jobs' })).toBe(1);
    expect(sumOf(m, 'lockd_hold_seconds_sum', { prefix: 'jobs' })).toBeGreaterThanOrEqual(0.25);
    expect(sumOf(m, 'lockd_lease_ends_total', { reason: 'released' })).toBe(1);
    expect(sumOf(m, 'lockd_releases_total', { result: 'released' })).toBe(1);
    expect(sumOf(m, 'lockd_waiters')).toBe(0);
    expect(bucket(m, 'lockd_hold_seconds', { prefix: 'jobs' }, '0.1')).toBe(0);
    expect(bucket(m, 'lockd_hold_seconds', { prefix: 'jobs' }, '+Inf')).toBe(1);
    await call(lockd.http, 'DELETE', `/v1/locks/${k('jobs/a')}?token=${second.json.token}`);
  });

  test('expiries, wait timeouts, renewals and refusals by code', async () => {
    const before = await scrape(lockd.http);
    await call(lockd.http, 'POST', `/v1/locks/${k('batch/short')}`, { ttlMs: 200 });
    await eventually(async () => (await value('lockd_expiries_total', { prefix: 'batch' })) === 1, 'the lease to expire');
    expect((await value('lockd_lease_ends_total', { reason: 'expired' })) - sumOf(before, 'lockd_lease_ends_total', { reason: 'expired' })).toBe(1);

    const held = await call(lockd.http, 'POST', `/v1/locks/${k('batch/held')}`, { ttlMs: 60_000 });
    expect((await call(lockd.http, 'POST', `/v1/locks/${k('batch/held')}`, { waitMs: 100 })).status).toBe(408);
    expect((await call(lockd.http, 'POST', `/v1/locks/${k('batch/held')}`, {})).status).toBe(409);
    expect((await call(lockd.http, 'POST', `/v1/locks/${k('batch/held')}/renew`, { token: held.json.token })).status).toBe(200);
    expect((await call(lockd.http, 'POST', `/v1/locks/${k('batch/held')}/renew`, { token: 'nope' })).status).toBe(409);
    expect((await call(lockd.http, 'POST', `/v1/locks/${k('batch/held')}`, { ttlMs: 1 })).status).toBe(400);

    const m = await scrape(lockd.http);
    expect(sumOf(m, 'lockd_wait_seconds_count', { prefix: 'batch', outcome: 'timed_out' })).toBe(1);
    expect(sumOf(m, 'lockd_acquires_total', { result: 'busy' }) - sumOf(before, 'lockd_acquires_total', { result: 'busy' })).toBe(1);
    expect(sumOf(m, 'lockd_renewals_total') - sumOf(before, 'lockd_renewals_total')).toBe(1);
    expect(sumOf(m, 'lockd_refusals_total', { code: 'NOT_HOLDER' }) - sumOf(before, 'lockd_refusals_total', { code: 'NOT_HOLDER' })).toBe(1);
    expect(sumOf(m, 'lockd_refusals_total', { code: 'INVALID_ARGUMENT' }) - sumOf(before, 'lockd_refusals_total', { code: 'INVALID_ARGUMENT' })).toBe(1);
    expect(sumOf(m, 'lockd_contended_acquires_total', { prefix: 'batch' })).toBe(2);
  });

  test('a Thrift client counts in lockd_connections, and its lock in the same series as HTTP ones', async () => {
    expect(await value('lockd_connections')).toBe(0);
    client = new LockClient({ host: '127.0.0.1', port: lockd.port });
    const lease = await client.acquire('jobs/thrift', { waitMs: 0 });
    expect(await value('lockd_connections')).toBe(1);
    expect(await value('lockd_grants_total', { prefix: 'jobs' })).toBe(3);
    await lease.release();
    await client.close();
    client = undefined;
    await eventually(async () => (await value('lockd_connections')) === 0, 'the connection to close');
  });

  test('the exposition has Prometheus-style names: lockd_ prefix, _total counters, _seconds histograms', async () => {
    const text = (await call(lockd.http, 'GET', '/metrics')).text;
    const families = [...text.matchAll(/^# TYPE (\S+) (\S+)$/gm)].filter(([, name]) => name.startsWith('lockd_'));
    expect(families.length).toBeGreaterThan(15);
    for (const [, name, type] of families) {
      if (type === 'counter') expect(name).toMatch(/_total$/);
      else expect(name).not.toMatch(/_total$/);
      if (type === 'histogram') expect(name).toMatch(/_(seconds|changes)$/);
    }
    expect(text).toMatch(/^process_cpu_seconds_total /m);
  });

  test('every metric the Grafana dashboard (docs/ops/grafana-dashboard.json) queries is one lockd exports', async () => {
    const text = (await call(lockd.http, 'GET', '/metrics')).text;
    const exported = new Set([...text.matchAll(/^# TYPE (\S+) (\S+)$/gm)].flatMap(([, name, type]) => (type === 'histogram' ? [`${name}_bucket`, `${name}_sum`, `${name}_count`] : [name])));
    const dashboard = JSON.parse(readFileSync(path.resolve(__dirname, '../../docs/ops/grafana-dashboard.json'), 'utf8'));
    const exprs: string[] = dashboard.panels.flatMap((panel: { targets: Array<{ expr: string }> }) => panel.targets.map((t) => t.expr));
    const queried = new Set(exprs.flatMap((expr) => expr.match(/\b(lockd|process|nodejs)_[a-z0-9_]+/g) ?? []));
    expect(queried.size).toBeGreaterThan(15);
    expect([...queried].filter((name) => !exported.has(name))).toEqual([]);
  });
});

describe('prefix cardinality and the durable store', () => {
  let lockd: HttpLockd;
  let dataDir: string;
  beforeAll(async () => {
    dataDir = mkdtempSync(path.join(os.tmpdir(), 'lockd-metrics-'));
    lockd = await startHttpLockd(['--data-dir', dataDir, '--metrics-max-prefixes', '5', '--metrics-prefix-depth', '2']);
  });
  afterAll(async () => {
    expect(await lockd.stop()).toBe(0);
    rmSync(dataDir, { recursive: true, force: true });
  });

  test('40 distinct prefixes give 5 labelled series plus _other, a counted overflow and one warning', async () => {
    for (let batch = 0; batch < 4; batch++) {
      await Promise.all(Array.from({ length: 10 }, (_, i) => call(lockd.http, 'POST', `/v1/locks/${k(`tenant/t${batch * 10 + i}/job`)}`, {})));
    }
    const m = await scrape(lockd.http);
    const prefixes = new Set(samplesOf(m, 'lockd_grants_total').map((s) => s.labels.prefix));
    expect(prefixes.size).toBe(6);
    expect(prefixes.has('_other')).toBe(true);
    for (const prefix of prefixes) expect(prefix === '_other' || /^tenant\/t\d+$/.test(prefix)).toBe(true);
    expect(sumOf(m, 'lockd_grants_total')).toBe(40);
    expect(sumOf(m, 'lockd_grants_total', { prefix: '_other' })).toBe(35);
    expect(sumOf(m, 'lockd_metrics_prefix_overflow_total')).toBe(35);
    expect(sumOf(m, 'lockd_metrics_prefixes')).toBe(6);
    // 6 prefixes x 3 outcomes x 14 buckets, whatever the number of keys.
    expect(samplesOf(m, 'lockd_wait_seconds_bucket').length).toBe(6 * 3 * 14);
    expect(lockd.output().match(/more distinct key prefixes than --metrics-max-prefixes/g)?.length).toBe(1);
  });

  test('grants wait for the store: sync latency and batch size are reported', async () => {
    const m = await scrape(lockd.http);
    expect(sumOf(m, 'lockd_store_sync_seconds_count')).toBeGreaterThan(0);
    expect(sumOf(m, 'lockd_store_sync_changes_sum')).toBeGreaterThanOrEqual(40);
    expect(sumOf(m, 'lockd_store_sync_errors_total')).toBe(0);
    const ready = await call(lockd.http, 'GET', '/readyz');
    expect(ready.json.checks.store).toMatchObject({ ok: true, durable: true });
  });
});

function bucket(samples: PromSample[], name: string, labels: Record<string, string>, le: string): number {
  return sumOf(samples, `${name}_bucket`, { ...labels, le });
}
