/**
 * What security costs, side by side in one run: lockd plain, plain + --auth-file (a secret
 * identity), TLS, and TLS + --auth-file, each its own process, driven by lockd's LockClient.
 *
 * - per call: the uncontended workload (acquire + release pairs on a key per worker) at 1 and
 *   16 connections: pairs/s and latency;
 * - per connection: connect (+ TLS handshake) (+ authenticate) + a first ping, sequentially;
 * - the authorization check alone, in process (Policy.allows over a 10-prefix identity).
 *
 * The four servers run at once and are measured in interleaved rounds (default 3); each cell is
 * the median over rounds, so load from elsewhere on a shared machine hits every variant alike.
 *
 *   npm run build && node dist/scripts/bench/security-cost.js [--rounds 3] [--window-ms 2000] [--connects 100]
 *
 * Certificates are made with `openssl` in a temp dir (EC P-256, as docs/security.md shows).
 */
import { ChildProcess, execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { parsePermissions } from '../../src/auth/permissions';
import { sha256Hex } from '../../src/auth/secrets';
import { LockClient } from '../../src/client';
import type { ClientOptions } from '../../src/client/options';
import type { Driver, LockdLease } from './clients';
import { LOCKD_WAIT_MS, TTL_MS } from './clients';
import { ROOT } from './targets';
import { runWorkload, Timing } from './workloads';

const LOCKD_MAIN = path.join(ROOT, 'dist/src/server/main.js');
const SECRET = 'bench-secret-0123456789abcdef';
const READY = /lockd listening on [\d.]+:(\d+)/;

interface Variant {
  name: string;
  serverArgs: string[];
  client: Partial<ClientOptions>;
}

interface Running {
  port: number;
  child: ChildProcess;
}

function makeCertificates(dir: string): { ca: string; cert: string; key: string } {
  const file = (name: string) => path.join(dir, name);
  const key = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];
  execFileSync('openssl', ['req', '-x509', ...key, '-keyout', file('ca.key'), '-out', file('ca.crt'), '-subj', '/CN=bench CA', '-days', '1'], { stdio: 'ignore' });
  execFileSync('openssl', ['req', ...key, '-keyout', file('server.key'), '-out', file('server.csr'), '-subj', '/CN=localhost'], { stdio: 'ignore' });
  fs.writeFileSync(file('server.ext'), 'subjectAltName=DNS:localhost,IP:127.0.0.1\n');
  execFileSync('openssl', ['x509', '-req', '-in', file('server.csr'), '-CA', file('ca.crt'), '-CAkey', file('ca.key'), '-CAcreateserial', '-days', '1', '-extfile', file('server.ext'), '-out', file('server.crt')], { stdio: 'ignore' });
  return { ca: file('ca.crt'), cert: file('server.crt'), key: file('server.key') };
}

function startLockd(args: string[]): Promise<Running> {
  const child = spawn(process.execPath, [LOCKD_MAIN, '--host', '127.0.0.1', '--port', '0', '--in-memory', '--log-level', 'warn', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  child.stderr!.resume();
  return new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`lockd ${args.join(' ')} not ready in 15 s:\n${out}`)), 15_000);
    child.stdout!.on('data', (chunk: Buffer) => {
      out += chunk;
      const match = READY.exec(out);
      if (match) {
        clearTimeout(timer);
        resolve({ port: Number(match[1]), child });
      }
    });
    child.once('exit', (code) => reject(new Error(`lockd exited ${code}:\n${out}`)));
  });
}

function stop(running: Running): Promise<void> {
  return new Promise((resolve) => {
    if (running.child.exitCode !== null) return resolve();
    running.child.once('exit', () => resolve());
    running.child.kill('SIGTERM');
  });
}

function driver(label: string, port: number, client: Partial<ClientOptions>): Driver<LockdLease> {
  return {
    label,
    connect: async () => {
      const lockd = new LockClient({ host: '127.0.0.1', port, ...client });
      await lockd.ping();
      return {
        acquire: (key) => lockd.acquire(`bench/${key}`, { ttlMs: TTL_MS, waitMs: LOCKD_WAIT_MS }),
        release: async (_key, lease) => {
          await lease.release();
        },
        close: () => lockd.close(),
      };
    },
  };
}

/** Mean and p99 of `count` sequential new connections, each answering one ping. */
async function connectCost(port: number, client: Partial<ClientOptions>, count: number): Promise<{ meanMs: number; p99Ms: number }> {
  const times: number[] = [];
  for (let i = 0; i < count; i++) {
    const began = performance.now();
    const lockd = new LockClient({ host: '127.0.0.1', port, ...client });
    await lockd.ping();
    times.push(performance.now() - began);
    await lockd.close();
  }
  times.sort((a, b) => a - b);
  return { meanMs: times.reduce((a, b) => a + b, 0) / count, p99Ms: times[Math.min(count - 1, Math.floor(count * 0.99))] };
}

/** Nanoseconds per authorization check of an identity with 10 prefixes (a hit on the last one). */
function authorizeCostNs(): number {
  const allow = Object.fromEntries(Array.from({ length: 10 }, (_, i) => [`team-${i}/`, ['lock', 'read']]));
  const policy = parsePermissions(JSON.stringify({ identities: { bench: { secretSha256: sha256Hex(SECRET), allow } } }), 'bench').identities.get('bench')!.policy;
  const keys = Array.from({ length: 1_000 }, (_, i) => `team-9/job-${i}`);
  let allowed = 0;
  const calls = 2_000_000;
  const began = process.hrtime.bigint();
  for (let i = 0; i < calls; i++) if (policy.allows('lock', keys[i % keys.length])) allowed++;
  const ns = Number(process.hrtime.bigint() - began) / calls;
  if (allowed !== calls) throw new Error('authorization bench: a check failed');
  return ns;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { 'window-ms': { type: 'string' }, 'warmup-ms': { type: 'string' }, connects: { type: 'string' }, rounds: { type: 'string' } } });
  const timing: Timing = { warmupMs: Number(values['warmup-ms'] ?? 500), windowMs: Number(values['window-ms'] ?? 2_000), graceMs: 5_000 };
  const connects = Number(values.connects ?? 100);
  const rounds = Number(values.rounds ?? 3);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lockd-security-bench-'));
  try {
    const pki = makeCertificates(dir);
    const authFile = path.join(dir, 'auth.json');
    fs.writeFileSync(authFile, JSON.stringify({ identities: { bench: { secretSha256: sha256Hex(SECRET), allow: { 'bench/': ['lock', 'read'] } } } }));
    const tlsArgs = ['--tls-cert', pki.cert, '--tls-key', pki.key];
    const credential = { identity: 'bench', secret: SECRET };
    const variants: Variant[] = [
      { name: 'plain', serverArgs: [], client: {} },
      { name: 'plain + auth', serverArgs: ['--auth-file', authFile], client: { credential } },
      { name: 'TLS', serverArgs: tlsArgs, client: { tls: { ca: pki.ca } } },
      { name: 'TLS + auth', serverArgs: [...tlsArgs, '--auth-file', authFile], client: { tls: { ca: pki.ca }, credential } },
    ];
    const servers: Running[] = [];
    try {
      for (const variant of variants) servers.push(await startLockd(variant.serverArgs));
      /** Per variant: each measured number, one value per round. */
      const samples = variants.map(() => new Map<string, number[]>());
      const record = (i: number, name: string, value: number) => {
        const list = samples[i].get(name) ?? [];
        list.push(value);
        samples[i].set(name, list);
      };
      const errors: string[] = [];
      for (let round = 0; round < rounds; round++) {
        // Rotate the order each round so no variant always runs first or last.
        for (let k = 0; k < variants.length; k++) {
          const i = (k + round) % variants.length;
          const variant = variants[i];
          for (const concurrency of [1, 16]) {
            const result = await runWorkload(driver(variant.name, servers[i].port, variant.client), 'uncontended', concurrency, timing);
            record(i, `c${concurrency} pairs/s`, result.pairsPerSecond);
            record(i, `c${concurrency} p50`, result.p50Ms);
            record(i, `c${concurrency} p99`, result.p99Ms);
            if (result.errors > 0) errors.push(`${variant.name} c=${concurrency}: ${result.errors} errors, first: ${result.firstError}`);
          }
          const connect = await connectCost(servers[i].port, variant.client, connects);
          record(i, 'connect mean', connect.meanMs);
          record(i, 'connect p99', connect.p99Ms);
        }
      }
      const cell = (i: number, name: string) => median(samples[i].get(name)!);
      const versus = (i: number, name: string) => {
        if (i === 0) return '';
        const change = Math.round((cell(i, name) / cell(0, name) - 1) * 100);
        return ` (${change >= 0 ? '+' : ''}${change}%)`;
      };
      const lines = [
        `security cost: ${os.cpus().length} CPUs, node ${process.version}, ${new Date().toISOString()}; medians of ${rounds} interleaved rounds of ${timing.windowMs} ms; uncontended acquire+release pairs`,
        '',
        '| variant | c=1 pairs/s | c=1 p50 / p99 ms | c=16 pairs/s | c=16 p50 / p99 ms | new connection + first ping, mean / p99 ms |',
        '|---|---|---|---|---|---|',
      ];
      variants.forEach((variant, i) => {
        const f = (name: string, digits = 3) => cell(i, name).toFixed(digits);
        lines.push(
          `| ${variant.name} | ${cell(i, 'c1 pairs/s')}${versus(i, 'c1 pairs/s')} | ${f('c1 p50')} / ${f('c1 p99')} | ${cell(i, 'c16 pairs/s')}${versus(i, 'c16 pairs/s')} | ${f('c16 p50')} / ${f('c16 p99')} | ${f('connect mean', 2)} / ${f('connect p99', 2)}${versus(i, 'connect mean')} |`,
        );
      });
      lines.push('', `authorization check alone (Policy.allows, 10 prefixes, hit on the last): ${authorizeCostNs().toFixed(0)} ns`);
      lines.push(...errors);
      process.stdout.write(`${lines.join('\n')}\n`);
    } finally {
      await Promise.all(servers.map(stop));
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((error) => {
  process.stderr.write(`security-cost: ${(error as Error).stack ?? String(error)}\n`);
  process.exit(1);
});
