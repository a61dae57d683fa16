/**
 * gen-nodejs/ is checked in so installing lockd needs no compiler; it must be exactly what the
 * compiler makes of idl/lock_service.thrift, or clients and server disagree about the wire.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { requireThriftCompiler, run } from './helpers/tools';

const root = path.resolve(__dirname, '..');
const committedDir = path.join(root, 'gen-nodejs');

test('gen-nodejs/ is byte for byte what `thrift --gen js:node,ts` makes of idl/lock_service.thrift', () => {
  requireThriftCompiler();
  const fresh = fs.mkdtempSync(path.join(os.tmpdir(), 'lockd-gen-'));
  try {
    run('thrift', ['--gen', 'js:node,ts', '-out', fresh, path.join(root, 'idl/lock_service.thrift')]);
    const expected = fs.readdirSync(fresh).sort();
    const committed = fs.readdirSync(committedDir).sort();
    const stale = [
      ...expected.filter((file) => !committed.includes(file)).map((file) => `${file} (missing)`),
      ...committed.filter((file) => !expected.includes(file)).map((file) => `${file} (not generated from the IDL)`),
      ...expected
        .filter((file) => committed.includes(file))
        .filter((file) => !fs.readFileSync(path.join(fresh, file)).equals(fs.readFileSync(path.join(committedDir, file))))
        .map((file) => `${file} (differs)`),
    ];
    if (stale.length > 0) {
      throw new Error(`gen-nodejs/ is stale against idl/lock_service.thrift: ${stale.join(', ')}. Run \`npm run gen\` and commit gen-nodejs/.`);
    }
    expect(committed).toEqual(expected);
  } finally {
    fs.rmSync(fresh, { recursive: true, force: true });
  }
});
