/**
 * The OpenAPI document: the checked-in copy (src/http/openapi.json) is what lockd serves and what
 * the route table builds, it is a valid OpenAPI 3.1 document, and it lists exactly the routes the
 * server answers.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { buildOpenApiDocument } from '../../src/http/openapi';
import { ROUTES } from '../../src/http/routes';
import { call, HttpLockd, startHttpLockd } from './http-lockd';

const CHECKED_IN = path.resolve(__dirname, '../../src/http/openapi.json');
const checkedIn = JSON.parse(readFileSync(CHECKED_IN, 'utf8'));

let lockd: HttpLockd;
beforeAll(async () => {
  lockd = await startHttpLockd();
});
afterAll(async () => {
  expect(await lockd.stop()).toBe(0);
});

test('the checked-in document is the one the route table builds (regenerate: node dist/src/http/openapi.js > src/http/openapi.json)', () => {
  expect(checkedIn).toEqual(JSON.parse(JSON.stringify(buildOpenApiDocument())));
});

test('lockd serves the checked-in document at GET /openapi.json', async () => {
  const served = await call(lockd.http, 'GET', '/openapi.json');
  expect(served.status).toBe(200);
  expect(served.json).toEqual(checkedIn);
});

/** @seriousme/openapi-schema-validator's CLI (the package is ESM-only, so it runs in its own process). */
function validate(file: string): { valid: boolean; errors?: unknown[] } {
  const cli = require.resolve('@seriousme/openapi-schema-validator/bin/validate-api-cli.js');
  const result = spawnSync(process.execPath, [cli, file], { encoding: 'utf8', timeout: 30_000 });
  // Exit 0: valid, 1: invalid (the report is on stdout either way).
  if (result.status !== 0 && result.status !== 1) throw new Error(`the validator failed (${result.status ?? result.signal}): ${result.stderr}`);
  return JSON.parse(result.stdout);
}

test('the document is valid OpenAPI 3.1 (and the validator does reject a broken one)', () => {
  expect(checkedIn.openapi).toBe('3.1.0');
  expect(validate(CHECKED_IN)).toEqual({ valid: true });
  const broken = path.join(require('node:os').tmpdir(), `lockd-openapi-broken-${process.pid}.json`);
  require('node:fs').writeFileSync(broken, JSON.stringify({ ...checkedIn, info: { title: 'no version' } }));
  expect(validate(broken).valid).toBe(false);
});

test('every documented operation is answered by lockd, and every route is documented', async () => {
  const documented = Object.entries(checkedIn.paths as Record<string, Record<string, unknown>>).flatMap(([p, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${p}`));
  const routed = ROUTES.map((r) => `${r.method} ${r.url.replace(/:([A-Za-z_]+)/g, '{$1}')}`);
  expect(documented.sort()).toEqual(routed.sort());
  // Each documented operation reaches a route on the running server: the answer is never the not-found handler's.
  for (const operation of documented) {
    const [method, template] = operation.split(' ');
    const url = template.replace('{key}', 'probe-key').replace('{fence}', '1');
    const result = await call(lockd.http, method, url, undefined, method === 'POST' || method === 'DELETE' ? { body: '{}', headers: { 'content-type': 'application/json' } } : {});
    expect({ operation, notFoundRoute: result.json?.error?.code === 'NOT_FOUND' && /no route/.test(result.json?.error?.message) }).toEqual({ operation, notFoundRoute: false });
  }
  const unknown = await call(lockd.http, 'PUT', '/v1/locks/probe-key');
  expect(unknown.json.error.message).toMatch(/no route/);
});
