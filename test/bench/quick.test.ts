/**
 * The benchmark runs end to end in a tiny mode and produces its report: a smoke check of the
 * harness. No speed is asserted, ever: the figures of a shared CI machine mean nothing here.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const RUN = path.resolve(__dirname, '../../dist/scripts/bench/run.js');

test('the benchmark in a tiny mode prints the report and writes results.md and raw.jsonl', async () => {
  const out = fs.mkdtempSync(path.join(os.tmpdir(), 'lockd-bench-test-'));
  try {
    const args = [RUN, '--quick', '--warmup-ms', '50', '--duration-ms', '150', '--c', '1,2', '--leases', '2000', '--connections', '20', '--out', out];
    const { stdout } = await new Promise<{ stdout: string; stderr: string }>((resolve, reject) =>
      execFile(process.execPath, args, { timeout: 110_000 }, (error, so, se) => (error ? reject(new Error(`${error.message}\n${se}`)) : resolve({ stdout: so, stderr: se }))),
    );
    expect(stdout).toContain('# lockd benchmark');
    for (const section of ['## uncontended', '## contended', '## mixed', '## Ratios', '## Memory', 'idle connections to lockd', '## Speed targets']) {
      expect(stdout).toContain(section);
    }
    expect(stdout).toMatch(/\| lockd \(in-memory\) \| 2 \| [\d,]+ \|/);
    expect(stdout).toMatch(/\| raw TCP ping-pong \(floor\) \| 1 \| [\d,]+ \|/);
    expect(fs.readFileSync(path.join(out, 'results.md'), 'utf8')).toBe(stdout);
    const raw = fs.readFileSync(path.join(out, 'raw.jsonl'), 'utf8').trim().split('\n').map((line) => JSON.parse(line));
    expect(raw[0].kind).toBe('meta');
    expect(raw.some((r) => r.kind === 'workload' && r.target === 'lockd (in-memory)' && r.workload === 'contended')).toBe(true);
  } finally {
    fs.rmSync(out, { recursive: true, force: true });
  }
}, 120_000);
