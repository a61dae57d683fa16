/**
 * The Python client's own suite (test/clients/python/test_*.py, unittest) run with Debian's
 * python3 and its python3-thrift against real lockd processes from dist/, so `npm test` fails
 * when it fails. The suite starts lockd itself: this passes the path of dist/src/server/main.js
 * and of this node in LOCKD_MAIN and LOCKD_NODE.
 */
import path from 'node:path';
import { LOCKD_MAIN } from '../helpers/lockd-process';
import { DEBIAN_PYTHON, requirePythonThrift, requireThriftCompiler, runProcess } from '../helpers/tools';

const root = path.resolve(__dirname, '../..');
const suiteDir = path.join(__dirname, 'python');
/** Fewer tests than this means discovery lost some (unittest reports "Ran 0 tests" as OK). */
const MIN_TESTS = 40;
const SUITE_TIMEOUT_MS = 280_000;

test(
  'the Python client suite passes against a real lockd (python3 -m unittest)',
  async () => {
    requireThriftCompiler(); // the staleness test regenerates the Python code
    requirePythonThrift();
    const result = await runProcess(DEBIAN_PYTHON, ['-m', 'unittest', 'discover', '-s', suiteDir, '-p', 'test_*.py', '-v'], {
      env: {
        LOCKD_MAIN,
        LOCKD_NODE: process.execPath,
        PYTHONPATH: path.join(root, 'clients/python'),
        PYTHONDONTWRITEBYTECODE: '1',
        PYTHONUNBUFFERED: '1',
      },
      timeoutMs: SUITE_TIMEOUT_MS,
    });
    const report = `${result.stdout}\n${result.stderr}`;
    if (result.code !== 0) throw new Error(`python3 -m unittest exited ${result.code}:\n${report}`);
    const ran = /^Ran (\d+) tests? in /m.exec(result.stderr);
    expect(ran).not.toBeNull();
    expect(Number(ran![1])).toBeGreaterThanOrEqual(MIN_TESTS);
    // "OK" alone: no skipped tests, no expected failures.
    expect(result.stderr).toMatch(/^OK$/m);
  },
  SUITE_TIMEOUT_MS + 10_000,
);
