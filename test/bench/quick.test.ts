/** The benchmark runs end to end and produces its report (a smoke check: no speed is asserted). */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

const RUN = path.resolve(__dirname, '../../dist/scripts/bench/run.js');

test('npm run bench -- --quick produces the markdown report and raw results', async () => {
  const args = [RUN, '--quick', '--warmup-ms', '50', '--duration-ms', '200', '--c', '1,2', '--no-memory', '--no-connections'];
  const { stdout, stderr } = await new Promise<{ stdout: string; stderr: string }>((resolve, reject) =>
    execFile(process.execPath, args, { timeout: 120_000 }, (error, out, err) => (error ? reject(new Error(`${error.message}\n${err}`)) : resolve({ stdout: out, stderr: err }))),
  );
  expect(stdout).toContain('# lockd benchmark');
  for (const section of ['## uncontended', '## contended', '## mixed', '## Ratios', '## Targets']) expect(stdout).toContain(section);
  expect(stdout).toMatch(/\| lockd \(in-memory\) \| 2 \| [\d,]+ \|/);
  expect(stdout).toMatch(/\| raw TCP ping-pong \(floor\) \| 1 \|/);
  const written = /written to (\S+)/.exec(stderr)![1];
  const dir = path.resolve(__dirname, '../..', written);
  expect(fs.readFileSync(path.join(dir, 'results.md'), 'utf8')).toContain('## Ratios');
  const raw = fs.readFileSync(path.join(dir, 'raw.jsonl'), 'utf8').trim().split('\n').map((line) => JSON.parse(line));
  expect(raw.some((r) => r.kind === 'workload' && r.target === 'lockd (in-memory)' && r.pairsPerSecond > 0)).toBe(true);
  fs.rmSync(dir, { recursive: true, force: true });
});
