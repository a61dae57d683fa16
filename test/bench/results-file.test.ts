/**
 * bench/RESULTS.md keeps the latest run of each benchmark script: a script's section is replaced
 * in place, other sections and the main report are left as they are, and a new main report
 * keeps every section.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { writeMainReport, writeSection } from '../../scripts/bench/results-file';

let dir: string;
let file: string;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lockd-results-'));
  file = path.join(dir, 'RESULTS.md');
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

test('a section is appended, then replaced in place; the main report is rewritten around the sections', () => {
  writeMainReport('# lockd benchmark\n\nmain run 1\n', file);
  writeSection('cluster', '## cluster\n\nfirst', file);
  writeSection('restart', '## restart\n\nonly', file);
  writeSection('cluster', '## cluster\n\nsecond', file);
  expect(fs.readFileSync(file, 'utf8')).toBe(
    '# lockd benchmark\n\nmain run 1\n\n<!-- begin cluster -->\n## cluster\n\nsecond\n<!-- end cluster -->\n\n<!-- begin restart -->\n## restart\n\nonly\n<!-- end restart -->\n',
  );
  writeMainReport('# lockd benchmark\n\nmain run 2\n', file);
  const text = fs.readFileSync(file, 'utf8');
  expect(text.startsWith('# lockd benchmark\n\nmain run 2\n\n<!-- begin cluster -->')).toBe(true);
  expect(text).toContain('## cluster\n\nsecond\n<!-- end cluster -->');
  expect(text).toContain('## restart\n\nonly\n<!-- end restart -->');
  expect(text).not.toContain('main run 1');
});
