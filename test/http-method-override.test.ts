import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiKeys, headers, keys, migratedDatabase } from './support/actions.js';
import type { TestDatabase } from './support/databases.js';
import { RUNTIMES, type RuntimeHandle, startRuntime } from './support/runtimes.js';

// policy.yaml lets http.request run at once when its method is GET or HEAD (rule reads-run). Many
// servers (Express's method-override, Google APIs, Rails, ASP.NET) take the method from these
// headers instead, so a "GET" that carries one is the write it names.
const OVERRIDES = ['X-HTTP-Method-Override', 'X-HTTP-Method', 'X-Method-Override'];

describe.each(RUNTIMES)('http.request method overrides on %s', (runtime) => {
  let database: TestDatabase;
  let app: RuntimeHandle;
  let upstream: ReturnType<typeof createServer>;
  let base: string;
  const effective: string[] = [];
  let counter = 0;

  beforeAll(async () => {
    database = await migratedDatabase();
    // An allowlisted API that honours method overrides, recording the method it acted on.
    upstream = createServer((request, response) => {
      const override = OVERRIDES.map((name) => request.headers[name.toLowerCase()]).find((value) => typeof value === 'string');
      effective.push(String(override ?? request.method).toUpperCase());
      response.writeHead(200, { 'content-type': 'application/json' });
      response.end('{"deleted":true}');
    });
    await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`;
    app = await startRuntime(runtime, {
      DATABASE_URL: database.url,
      MYCA_API_KEYS: apiKeys,
      ACTION_HTTP_ALLOW_HOSTS: '127.0.0.1',
      ACTION_HTTP_ALLOW_PRIVATE: 'true',
    });
  });
  afterAll(async () => {
    await app?.close();
    upstream?.close();
    await database?.drop();
  });

  it.each(OVERRIDES)('does not run a GET carrying %s at once as a read', async (header) => {
    effective.length = 0;
    const response = await app.fetch('/v1/actions', {
      method: 'POST',
      headers: headers(keys.agent, `override-${runtime}-${counter++}`),
      body: JSON.stringify({
        type: 'http.request',
        input: { method: 'GET', url: `${base}/v1/projects/42`, headers: { [header]: 'DELETE' } },
      }),
    });
    const body = (await response.json()) as { status?: string; policy_rule?: string };
    expect(effective, `the API acted on ${effective.join(', ') || 'nothing'}`).toEqual([]);
    // Held for an approver (202) or refused (4xx); never executed under the reads rule.
    expect(response.status, `${response.status} ${body.status} by ${body.policy_rule}`).not.toBe(200);
  });

  it.each([
    ['a line break', 'a\r\nX-Injected: 1'],
    ['a character beyond Latin-1', 'caf\u00e9 \u2603'],
  ])('refuses a header value holding %s at submission (400), not as a 502 failure after it ran', async (_what, value) => {
    effective.length = 0;
    const response = await app.fetch('/v1/actions', {
      method: 'POST',
      headers: headers(keys.agent, `header-value-${runtime}-${counter++}`),
      body: JSON.stringify({ type: 'http.request', input: { method: 'GET', url: `${base}/v1/projects/42`, headers: { 'X-Note': value } } }),
    });
    const body = (await response.json()) as { action_status?: string; detail?: string };
    expect(response.status, `${response.status} ${body.action_status}: ${body.detail}`).toBe(400);
    expect(body.action_status).toBe('denied');
  });
});
