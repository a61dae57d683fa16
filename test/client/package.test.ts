/**
 * The package as another project sees it: the README's Node examples compile with a fresh
 * tsconfig (exactly the settings the README gives) against the built package and run against a
 * real lockd, and the public typings expose no internals.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { run, runProcess } from '../helpers/tools';
import { startLockd, stopAllLockd } from '../helpers/lockd-process';

const ROOT = path.resolve(__dirname, '../..');
const TSC = path.join(ROOT, 'node_modules/typescript/bin/tsc');
let project: string;

// tsc type-checks @types/node and lockd's typings from scratch for each project: slow on a busy machine.
jest.setTimeout(180_000);

/** A README code block marked `<!-- example: NAME -->`. */
function readmeExample(name: string): string {
  const readme = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8');
  const match = new RegExp(`<!-- example: ${name} -->\\n\`\`\`ts\\n([\\s\\S]*?)\`\`\``).exec(readme);
  if (match === null) throw new Error(`README.md has no example marked ${name}`);
  return match[1];
}

/** Compiles `files` in a fresh project that depends on lockd; throws with tsc's output on errors. */
function compile(compilerOptions: Record<string, unknown>, files: Record<string, string>): void {
  for (const [name, text] of Object.entries(files)) fs.writeFileSync(path.join(project, name), text);
  const config = { compilerOptions: { module: 'commonjs', strict: true, outDir: 'out', types: ['node'], ...compilerOptions }, files: Object.keys(files) };
  fs.writeFileSync(path.join(project, 'tsconfig.json'), JSON.stringify(config));
  run(process.execPath, [TSC, '-p', project]);
}

beforeEach(() => {
  project = fs.mkdtempSync(path.join(os.tmpdir(), 'lockd-consumer-'));
  // What `npm install /path/to/lockd` makes: node_modules/lockd pointing at the built package.
  fs.mkdirSync(path.join(project, 'node_modules/@types'), { recursive: true });
  fs.symlinkSync(ROOT, path.join(project, 'node_modules/lockd'), 'dir');
  fs.symlinkSync(path.join(ROOT, 'node_modules/@types/node'), path.join(project, 'node_modules/@types/node'), 'dir');
});
afterEach(async () => {
  await stopAllLockd();
  fs.rmSync(project, { recursive: true, force: true });
});

test('the await-using example compiles with target ES2022 + lib esnext.disposable and runs on Node 20', async () => {
  compile({ target: 'ES2022', lib: ['ES2022', 'esnext.disposable'] }, { 'example.ts': readmeExample('await-using') });
  const lockd = await startLockd();
  const result = await runProcess(process.execPath, [path.join(project, 'out/example.js')], { env: { LOCKD_ADDR: `127.0.0.1:${lockd.port}` } });
  expect(result).toMatchObject({ code: 0, stderr: '' });
  expect(result.stdout).toMatch(/^holding reports\/daily with fence \d+\n$/);
});

test('the try/finally example compiles without those settings (target ES2020) and runs', async () => {
  compile({ target: 'ES2020', lib: ['ES2020'] }, { 'example.ts': readmeExample('try-finally') });
  const lockd = await startLockd();
  const result = await runProcess(process.execPath, [path.join(project, 'out/example.js')], { env: { LOCKD_ADDR: `127.0.0.1:${lockd.port}` } });
  expect(result).toMatchObject({ code: 0, stderr: '' });
  expect(result.stdout).toMatch(/^holding reports\/daily with fence \d+\nmigrating under fence \d+/);
});

test('the public typings expose no internals: Lease and LockClient have no renewal or release plumbing', () => {
  const internals = ['markLost', 'tick', 'startAutoRenew', 'renewSoon', 'releaseLease', 'renewLease', 'LeaseKeeper', 'LeaseChannel'];
  compile(
    { target: 'ES2022', lib: ['ES2022', 'esnext.disposable'] },
    {
      'internals.ts': `import { Lease, LockClient } from 'lockd';
export function poke(lease: Lease, client: LockClient): void {
${internals.slice(0, 6).map((name) => `  // @ts-expect-error not public\n  void lease.${name};\n  // @ts-expect-error not public\n  void client.${name};`).join('\n')}
  // @ts-expect-error only LockClient makes leases
  void new Lease();
}
`,
    },
  );
  const entry = fs.readFileSync(path.join(ROOT, 'dist/src/index.d.ts'), 'utf8') + fs.readFileSync(path.join(ROOT, 'dist/src/client/index.d.ts'), 'utf8');
  for (const name of internals) expect({ name, exported: entry.includes(name) }).toEqual({ name, exported: false });
  const lease = fs.readFileSync(path.join(ROOT, 'dist/src/client/lease.d.ts'), 'utf8');
  expect(lease).not.toMatch(/markLost|tick|startAutoRenew|renewSoon/);
});
