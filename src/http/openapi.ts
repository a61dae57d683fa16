/**
 * The OpenAPI 3.1 document of the HTTP API, built from the route table (so it always matches
 * the routes). src/http/openapi.json is the checked-in copy, served at GET /openapi.json;
 * regenerate it with `npm run build && node dist/src/http/openapi.js > src/http/openapi.json`
 * (a test fails while it is stale).
 */
import { ROUTES, RouteSpec } from './routes';
import { HTTP_STATUS_BY_CODE } from './status';

/** `/v1/locks/:key/fence/:fence` -> `/v1/locks/{key}/fence/{fence}`. */
export function openApiPath(url: string): string {
  return url.replace(/:([A-Za-z_]+)/g, '{$1}');
}

function parameters(route: RouteSpec): object[] {
  const out: object[] = [];
  for (const [where, schema] of [
    ['path', route.schema.params],
    ['query', route.schema.querystring],
  ] as const) {
    const s = schema as { properties?: Record<string, { description?: string }>; required?: string[] } | undefined;
    for (const [name, property] of Object.entries(s?.properties ?? {})) {
      const { description, ...rest } = property;
      out.push({ name, in: where, required: where === 'path' || (s?.required ?? []).includes(name), ...(description && { description }), schema: rest });
    }
  }
  return out;
}

function responses(route: RouteSpec): Record<string, object> {
  const out: Record<string, object> = {};
  for (const [status, schema] of Object.entries(route.schema.response)) {
    const code = status.replace('xx', 'XX');
    const type = status === '200' && route.produces !== undefined ? route.produces.split(';')[0] : 'application/json';
    const description = status === '200' ? 'Success' : status.endsWith('xx') ? 'Error (see the status table in info.description)' : `Status ${status}`;
    out[code] = { description, content: { [type]: { schema } } };
  }
  return out;
}

/** The API's version (the /v1 routes); bumped when a route or schema changes incompatibly. */
export const API_VERSION = '1.0.0';

/** The whole document. */
export function buildOpenApiDocument(): object {
  const paths: Record<string, Record<string, object>> = {};
  for (const route of ROUTES) {
    const path = openApiPath(route.url);
    paths[path] ??= {};
    const body = route.schema.body as { type?: string | string[] } | undefined;
    paths[path][route.method.toLowerCase()] = {
      operationId: route.operationId,
      summary: route.summary,
      ...(route.description && { description: route.description }),
      tags: [route.tag],
      'x-lockd-right': route.right,
      parameters: parameters(route),
      ...(body && {
        requestBody: { required: !(Array.isArray(body.type) && body.type.includes('null')), content: { 'application/json': { schema: body } } },
      }),
      responses: responses(route),
    };
  }
  const table = Object.entries(HTTP_STATUS_BY_CODE)
    .map(([code, status]) => `| ${code} | ${status} |`)
    .join('\n');
  return {
    openapi: '3.1.0',
    info: {
      title: 'lockd HTTP API',
      version: API_VERSION,
      description: `Locks over HTTP with the same rules as lockd's Thrift API, plus health, metrics and admin. Errors are {"error": {"code", "message"}}; codes map to statuses:\n\n| code | status |\n| --- | --- |\n${table}`,
    },
    tags: [
      { name: 'locks', description: 'The JSON lock API' },
      { name: 'seed', description: "Seed 004's route, for clients written against it" },
      { name: 'admin', description: 'Force-release and drain (the admin right, when security exists)' },
      { name: 'operations', description: 'Health, readiness and metrics' },
    ],
    paths,
  };
}

if (require.main === module) process.stdout.write(`${JSON.stringify(buildOpenApiDocument(), null, 2)}\n`);
