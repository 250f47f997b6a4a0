import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT_DIR } from '../../shared/runtime/node-config.js';
import { apiKeys, headers, keys, migratedDatabase } from '../../test/support/actions.js';
import type { TestDatabase } from '../../test/support/databases.js';
import { RUNTIMES, type RuntimeHandle, startRuntime } from '../../test/support/runtimes.js';
import { createApp } from '../app.js';
import { openApiPath, ROUTES } from './document.js';

type Operation = { requestBody?: { content: Record<string, { example: unknown }> }; responses: Record<string, unknown> };
type Document = { openapi: string; paths: Record<string, Record<string, Operation>> };

describe.each(RUNTIMES)('GET /openapi.json on %s', (runtime) => {
  let app: RuntimeHandle;
  let database: TestDatabase;
  let document: Document;
  beforeAll(async () => {
    database = await migratedDatabase();
    app = await startRuntime(runtime, { DATABASE_URL: database.url, MYCA_API_KEYS: apiKeys });
    const response = await app.fetch('/openapi.json');
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toContain('application/json');
    document = (await response.json()) as Document;
  });
  afterAll(async () => {
    await app?.close();
    await database?.drop();
  });

  it('is OpenAPI 3.1 and lists every route the app registers (method and path), and no other', async (ctx) => {
    expect(document.openapi).toBe('3.1.0');
    ctx.skip(runtime !== 'node', 'Node only: the route table is read from the app built in-process (workerd serves the same app)');
    const documented = Object.entries(document.paths).flatMap(([path, operations]) =>
      Object.keys(operations).map((method) => `${method.toUpperCase()} ${path}`),
    );
    const registered = new Set(
      createApp(app.services as NonNullable<RuntimeHandle['services']>)
        .routes.filter((route) => route.method !== 'ALL' && !route.path.includes('*'))
        .map((route) => `${route.method} ${openApiPath(route.path)}`),
    );
    expect(documented.sort()).toEqual([...registered].sort());
  });

  it('has an example for every request body, and each validates against the schema the handler uses', () => {
    for (const route of ROUTES) {
      if (!route.request) continue;
      const result = route.request.schema.safeParse(route.request.example);
      expect(result.success, `${route.method} ${route.path}: ${JSON.stringify(result.error?.issues)}`).toBe(true);
      const operation = document.paths[openApiPath(route.path)]?.[route.method];
      expect(Object.values(operation?.requestBody?.content ?? {})[0]?.example).toEqual(route.request.example);
      expect(operation?.responses).toHaveProperty('default');
    }
  });

  it("answers the documented example of POST /v1/actions, sent with the financial agent's key, with a documented status", async () => {
    const route = ROUTES.find((entry) => entry.method === 'post' && entry.path === '/v1/actions');
    const response = await app.fetch('/v1/actions', {
      method: 'POST',
      headers: headers(keys.financial, `openapi-${runtime}`),
      body: JSON.stringify(route?.request?.example),
    });
    const body = (await response.json()) as { status: string };
    expect(response.status, JSON.stringify(body)).toBe(202); // a ledger write waits for an approver
    expect(body.status).toBe('pending');
    expect(Object.keys(document.paths['/v1/actions']?.post?.responses ?? {})).toEqual(expect.arrayContaining(['200', '202']));
  });

  it('is what docs/API.md gives a copy-paste request for, endpoint by endpoint', () => {
    const api = readFileSync(join(ROOT_DIR, 'docs', 'API.md'), 'utf8');
    for (const route of ROUTES.filter((entry) => !entry.path.startsWith('/approvals'))) {
      expect(api, `${route.method.toUpperCase()} ${route.path}`).toContain(`${route.method.toUpperCase()} ${route.path}`);
    }
  });
});
