/** gen-nodejs/ must be exactly what the compiler makes of idl/lock_service.thrift. */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { requireThriftCompiler, run } from '../helpers/tools';

const root = path.resolve(__dirname, '../..');

test('gen-nodejs is up to date with the IDL (else: npm run gen)', () => {
  requireThriftCompiler();
  const out = fs.mkdtempSync(path.join(os.tmpdir(), 'lockd-gen-'));
  try {
    run('thrift', ['--gen', 'js:node,ts', '-out', out, path.join(root, 'idl/lock_service.thrift')]);
    const fresh = fs.readdirSync(out).sort();
    expect(fs.readdirSync(path.join(root, 'gen-nodejs')).sort()).toEqual(fresh);
    for (const file of fresh) {
      const committed = fs.readFileSync(path.join(root, 'gen-nodejs', file), 'utf8');
      expect({ file, same: committed === fs.readFileSync(path.join(out, file), 'utf8') }).toEqual({ file, same: true });
    }
  } finally {
    fs.rmSync(out, { recursive: true, force: true });
  }
});
