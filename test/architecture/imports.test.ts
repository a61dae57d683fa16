/**
 * The layout the README describes, checked: which folder of src/ may import which. A new
 * folder, or a new edge between folders, must be added here on purpose.
 */
import fs from 'node:fs';
import path from 'node:path';

const SRC = path.resolve(__dirname, '../../src');

/**
 * Allowed imports per folder (top-level modules such as errors.ts count as folder "errors").
 * Shared leaves (errors, util, version) are allowed everywhere they are listed.
 */
const ALLOWED: Record<string, readonly string[]> = {
  errors: [],
  version: [],
  util: [],
  options: ['errors', 'util'],
  table: ['errors', 'util'],
  protocol: ['errors', 'util', 'table'],
  store: ['errors', 'util', 'table', 'protocol'],
  backend: ['errors', 'util', 'table', 'store', 'protocol'],
  server: ['errors', 'util', 'version', 'options', 'table', 'protocol', 'backend', 'store', 'auth', 'http', 'metrics', 'admin', 'cluster'],
  auth: ['errors', 'util', 'options', 'table'],
  metrics: ['errors', 'util', 'options', 'table', 'backend'],
  http: ['errors', 'util', 'version', 'options', 'table', 'backend', 'metrics', 'auth', 'admin'],
  admin: ['errors', 'util', 'table', 'backend'],
  cluster: ['errors', 'util', 'options', 'table', 'store', 'backend', 'protocol', 'client'],
  client: ['errors', 'util', 'version', 'protocol'],
  cli: ['errors', 'util', 'version', 'client'],
  index: ['errors', 'client', 'table'],
};

function sourceFiles(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(full);
    return entry.name.endsWith('.ts') ? [full] : [];
  });
}

/** The folder of src/ a file belongs to ("errors" for src/errors.ts). */
function areaOf(file: string): string {
  const relative = path.relative(SRC, file).split(path.sep);
  return relative.length === 1 ? relative[0].replace(/\.ts$/, '') : relative[0];
}

function importsOf(file: string): string[] {
  const text = fs.readFileSync(file, 'utf8');
  const specifiers = [...text.matchAll(/(?:import|export)[^'"]*?from\s+'([^']+)'|require\('([^']+)'\)|import\('([^']+)'\)/g)];
  return specifiers.map((m) => m[1] ?? m[2] ?? m[3]).filter((s) => s.startsWith('.'));
}

test('every import between folders of src/ follows the layout', () => {
  const violations: string[] = [];
  for (const file of sourceFiles(SRC)) {
    const from = areaOf(file);
    const allowed = ALLOWED[from];
    if (allowed === undefined) {
      violations.push(`${path.relative(SRC, file)}: folder "${from}" has no import rule (add it to test/architecture/imports.test.ts)`);
      continue;
    }
    for (const specifier of importsOf(file)) {
      const target = path.resolve(path.dirname(file), specifier);
      if (!target.startsWith(SRC)) continue; // package.json and the like
      const to = areaOf(target.endsWith('.ts') ? target : `${target}.ts`);
      if (to !== from && !allowed.includes(to)) violations.push(`${path.relative(SRC, file)} imports ${specifier} (${from} -> ${to} is not allowed)`);
    }
  }
  expect(violations).toEqual([]);
});

test('the rules themselves: the table and the client stay apart from the server side', () => {
  expect(ALLOWED.table).toEqual(['errors', 'util']);
  for (const forbidden of ['server', 'backend', 'table', 'store']) expect(ALLOWED.client).not.toContain(forbidden);
  expect(ALLOWED.cli.filter((area) => !['errors', 'util', 'version'].includes(area))).toEqual(['client']);
});
