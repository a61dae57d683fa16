/**
 * `npm run bench:recovery [-- --leases N] [--no-live] [--shuffled]`: writes N live leases (default
 * 1,000,000) into a fresh data dir through the FileStore (keys in ascending order, or with
 * --shuffled in a seeded random order, as clients that do not take keys in order write them:
 * a restart must then sort them, which ascending keys hide), then times a lockd process from spawn to its
 * listening line and to its first answer (an inspect of the first lease written), with the CPU
 * time lockd used (on a busy machine the wall time mostly measures the other tenants); reports the disk bytes per lease and RSS. Then, unless
 * --no-live, grants the same number of leases to a fresh in-memory lockd over the wire and
 * compares its RSS with the recovered one's. Records its table in bench/RESULTS.md (its own
 * section). A measurement, not a test.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { FileStore } from '../../src/store/file-store';
import { leaseKey, lockdMemory } from './capacity';
import { lockdClient } from './clients';
import { commandLine, writeSection } from './results-file';
import { cpuMsOf, rssOf, startLockd } from './targets';
import { EMPTY_SNAPSHOT_SOURCE } from '../../src/store/store';

const { values } = parseArgs({ options: { leases: { type: 'string' }, 'no-live': { type: 'boolean' }, shuffled: { type: 'boolean' } } });
const count = Number(values.leases ?? 1_000_000);
const root = path.resolve(__dirname, '../../..');

async function main(): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lockd-recovery-'));
  try {
    // No compaction while writing (there is no table to snapshot): lockd then replays the whole
    // log, the slowest start; a compacted store starts from its snapshot instead.
    const store = new FileStore({ dataDir: dir, fsync: 'batch', forceRecovery: false, compactAfterBytes: Infinity });
    await store.open(EMPTY_SNAPSHOT_SOURCE);
    const expiresAtMs = Date.now() + 3_600_000;
    store.append({ kind: 'fence-reserve', ceiling: count + 1 });
    const order = Array.from({ length: count }, (_, i) => i);
    if (values.shuffled) {
      // Fisher-Yates with a fixed LCG: every run writes the same order.
      let seed = 7;
      for (let i = count - 1; i > 0; i--) {
        seed = (seed * 1103515245 + 12345) & 0x7fffffff;
        const j = seed % (i + 1);
        [order[i], order[j]] = [order[j], order[i]];
      }
    }
    for (let n = 0; n < count; n++) {
      const i = order[n];
      store.append({ kind: 'grant', lease: { key: leaseKey(i), digest: i.toString(16).padStart(32, '0'), fence: i + 1, ttlMs: 3_600_000, expiresAtMs, mode: 1, holdCount: 1, owner: 'bench' } });
      if (n % 50_000 === 0) await new Promise((resolve) => store.sync(resolve));
    }
    await store.close();
    const bytes = fs.readdirSync(dir).reduce((sum, name) => sum + fs.statSync(path.join(dir, name)).size, 0);
    const started = performance.now();
    const child = spawn(process.execPath, [path.join(root, 'dist/src/server/main.js'), '--host', '127.0.0.1', '--port', '0', '--data-dir', dir, '--log-level', 'warn'], { stdio: ['ignore', 'pipe', 'inherit'] });
    let output = '';
    const port = await new Promise<number>((resolve, reject) => {
      child.stdout.on('data', (chunk: Buffer) => {
        output += chunk.toString();
        const match = /lockd listening on \S+:(\d+)/.exec(output);
        if (match) resolve(Number(match[1]));
      });
      child.once('exit', (code) => reject(new Error(`lockd exited with ${code}`)));
    });
    const startupMs = performance.now() - started;
    const cpuMs = cpuMsOf(child.pid!);
    const rss = rssOf(child.pid!);
    // Answering, not only listening: the first lease written must be held with its fence.
    const client = lockdClient(port);
    const first = await client.inspect(leaseKey(0));
    const answeredMs = performance.now() - started;
    await client.close();
    if (first.holders[0]?.fence !== 1) throw new Error(`lease 0 came back as ${JSON.stringify(first.holders)}`);
    // Freed pages of the recovered image go back to the OS over the next moments.
    await new Promise((resolve) => setTimeout(resolve, 3_000));
    const settled = rssOf(child.pid!);
    child.kill('SIGTERM');
    await new Promise((resolve) => child.once('exit', resolve));
    const lines = [
      `| leases on disk | disk bytes per lease | lockd start to listening | to its first answer | lockd CPU to listening | RSS at listening | RSS 3 s later |`,
      `|---:|---:|---:|---:|---:|---:|---:|`,
      `| ${count.toLocaleString('en-US')} | ${Math.round(bytes / count)} | ${Math.round(startupMs)} ms | ${Math.round(answeredMs)} ms | ${cpuMs} ms | ${Math.round(rss / 2 ** 20)} MiB | ${Math.round(settled / 2 ** 20)} MiB |`,
    ];
    if (!values['no-live']) {
      const live = await startLockd('memory');
      try {
        const memory = await lockdMemory(live, count, 3_000);
        lines.push('', `The same ${memory.granted.toLocaleString('en-US')} leases granted live to an in-memory lockd: RSS ${Math.round(memory.rssAfterBytes / 2 ** 20)} MiB; recovered (3 s later) / live = ${(settled / memory.rssAfterBytes).toFixed(2)}x (target at most 1.2x).`);
      } finally {
        await live.stop();
      }
    }
    console.log(lines.join('\n'));
    const heading = `## restart (${commandLine('bench:recovery')})`;
    const when = `${new Date().toISOString()}, load average ${os.loadavg()[0].toFixed(2)} at the end. Target: listening and answering within 3 s.`;
    writeSection('restart', [heading, '', when, '', ...lines].join('\n'));
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
