/**
 * The abuse benchmark in its smoke mode, for two cheap attacks: it must run end to end and print
 * its table with the baseline row on top and one row per attack. No figure is asserted: on a
 * shared machine they mean nothing (npm run bench:abuse is where they are read).
 */
import { execFile } from 'node:child_process';
import path from 'node:path';

const ABUSE = path.resolve(__dirname, '../../dist/scripts/bench/abuse.js');
const ROW = /^\| (.+?) \| ([\d,]+|–) \| ([\d.,]+|–) \| ([\d,]+|–) \| ([\d,]+) \| ([\d,]+|–) \| (PASS|MISS) \| (.*) \|$/;

test('bench:abuse --quick --only garbage-http,D4 prints the table: baseline, then one row per attack', async () => {
  const stdout = await new Promise<string>((resolve, reject) =>
    execFile(process.execPath, [ABUSE, '--quick', '--only', 'garbage-http,D4'], { timeout: 60_000 }, (error, out, err) => (error ? reject(new Error(`${error.message}\n${err}`)) : resolve(out))),
  );
  expect(stdout).toContain('# lockd abuse benchmark');
  const rows = stdout.split('\n').filter((line) => ROW.test(line)).map((line) => ROW.exec(line)!);
  expect(rows.map((r) => r[1])).toEqual(['baseline: canary alone', 'D4 1 MiB messages at ~0.9 MiB/s in 1 KiB chunks', 'garbage: HTTP GET request']);
  // The canary ran and lockd was measured in every row.
  for (const row of rows) {
    expect(Number(row[2].replace(/,/g, ''))).toBeGreaterThan(0);
    expect(Number(row[5].replace(/,/g, ''))).toBeGreaterThan(0);
  }
  expect(rows[1][8]).toMatch(/messages of 64 KiB answered/);
  // lockd answers HTTP on its Thrift port with a short 400 naming the right port, then closes.
  expect(rows[2][8]).toMatch(/lockd closed [\d,]+ within 5 s, sent back [\d,]+ bytes/);
}, 90_000);
