import fc from 'fast-check';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createRun } from '../functions/agent-run/store.js';
import { apiKeys, headers, keys, migratedDatabase } from './support/actions.js';
import type { TestDatabase } from './support/databases.js';
import { type RuntimeHandle, startRuntime } from './support/runtimes.js';

/**
 * Input that reaches SQL or a URL is validated at the edge: every id, name and path parameter of the
 * action, agent, approve and audit routes gets seeded random strings (object member names, unicode,
 * traversal, very long) and must answer a clean 4xx (or a 2xx), never a 500.
 */
const HOSTILE = [
  '__proto__',
  'constructor',
  'prototype',
  'toString',
  'hasOwnProperty',
  '__defineGetter__',
  'valueOf',
  '../../etc/passwd',
  '..',
  '.',
  '%2e%2e%2f',
  '\u0000',
  'a\u0000b',
  '💥🍄',
  '\u202Eevil',
  'ＡＢＣ',
  "x'; drop table action_audit_logs; --",
  '00000000-0000-0000-0000-00000000000g',
  '------------------------------------',
  'x'.repeat(300),
  'y'.repeat(5000),
];
const hostile = fc.oneof(
  fc.constantFrom(...HOSTILE),
  fc.string({ maxLength: 80 }),
  fc.string({ unit: 'grapheme', maxLength: 40 }),
  fc.string({ unit: 'binary', maxLength: 40 }),
  fc.string({ minLength: 1000, maxLength: 4000 }),
  fc.uuid(),
);
/** Numbers a query parameter may be sent as that are not whole numbers a query can take. */
const NUMERIC = ['1.5', '1e20', '-1', '0x10', 'NaN', 'Infinity', '9999999999999999999999', '2147483648', ' 1', '1 ', '+1', ''];
const ID = '00000000-0000-4000-8000-000000000000';
const query = (params: Record<string, string>) => new URLSearchParams(params).toString();
const SEED = 15_003;
const RUNS = 40;

describe('edge input (property): ids, names and paths never make a 500', () => {
  let database: TestDatabase;
  let app: RuntimeHandle;
  let sql: postgres.Sql;
  let cookie = '';
  /** An admin's session (the spend page is for admins). */
  let adminCookie = '';
  let counter = 0;
  const seen: Array<{ route: string; status: number; value: string }> = [];

  const call = async (route: string, value: string, path: string, init: RequestInit = {}) => {
    const response = await app.fetch(path, init);
    seen.push({ route, status: response.status, value: value.slice(0, 60) });
    const text = await response.text();
    expect(response.status, `${route} with ${JSON.stringify(value.slice(0, 80))}: ${text.slice(0, 300)}`).toBeLessThan(500);
    return { status: response.status, text };
  };
  const post = (key: string, body: unknown, idem = true) => ({
    method: 'POST',
    headers: headers(key, idem ? `edge-${counter++}` : undefined),
    body: JSON.stringify(body),
  });
  const property = (run: (value: string) => Promise<unknown>) =>
    fc.assert(
      fc.asyncProperty(hostile, async (value) => {
        await run(value);
      }),
      // The hostile constants always run (as examples), then seeded random strings.
      { seed: SEED, numRuns: RUNS, endOnFailure: true, examples: HOSTILE.map((value) => [value] as [string]) },
    );

  beforeAll(async () => {
    database = await migratedDatabase();
    sql = postgres(database.url, { max: 1, onnotice: () => {} });
    app = await startRuntime('node', { DATABASE_URL: database.url, MYCA_API_KEYS: apiKeys, ACTION_HTTP_ALLOW_HOSTS: 'api.example.org' });
    const login = await app.fetch('/approvals/login', {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', origin: 'http://localhost' },
      body: new URLSearchParams({ credential: keys.approver }).toString(),
    });
    cookie = (login.headers.get('set-cookie') ?? '').split(';')[0] ?? '';
    expect(cookie).toContain('myca_approvals=');
    const admin = await app.fetch('/approvals/login', {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', origin: 'http://localhost' },
      body: new URLSearchParams({ credential: keys.admin }).toString(),
    });
    adminCookie = (admin.headers.get('set-cookie') ?? '').split(';')[0] ?? '';
    expect(adminCookie).toContain('myca_approvals=');
  });
  afterAll(async () => {
    await app?.close();
    await sql?.end();
    await database?.drop();
  });

  it('action and approve routes: /v1/actions/:id, /approve, /reject, ?status, ?limit', async () => {
    await property(async (value) => {
      const id = encodeURIComponent(value);
      await call('GET /v1/actions/:id', value, `/v1/actions/${id}`, { headers: headers(keys.agent) });
      await call(
        'POST /v1/actions/:id/approve',
        value,
        `/v1/actions/${id}/approve`,
        post(keys.approver, { digest: 'a'.repeat(64) }, false),
      );
      await call('POST /v1/actions/:id/reject', value, `/v1/actions/${id}/reject`, post(keys.approver, { reason: value || 'x' }, false));
      const query = new URLSearchParams({ status: value, limit: value }).toString();
      await call('GET /v1/actions?status&limit', value, `/v1/actions?${query}`, { headers: headers(keys.approver) });
    });
  });

  it('POST /v1/actions: type, agent_id, run_id, file paths, query names, parameter and header names', async () => {
    for (const name of ['constructor', '__proto__']) {
      const { status, text } = await call(
        'db.query name',
        name,
        '/v1/actions',
        post(keys.agent, { type: 'db.query', input: { query: name } }),
      );
      expect(status, text).toBe(404);
      expect(JSON.parse(text)).toMatchObject({ action_status: 'denied' });
    }
    await property(async (value) => {
      await call('type', value, '/v1/actions', post(keys.agent, { type: value, input: {} }));
      await call('agent_id', value, '/v1/actions', post(keys.agent, { type: 'file.read', input: { path: 'a.txt' }, agent_id: value }));
      await call('run_id', value, '/v1/actions', post(keys.agent, { type: 'file.read', input: { path: 'a.txt' }, run_id: value }));
      for (const type of ['file.read', 'file.write', 'file.delete'])
        await call(`${type} path`, value, '/v1/actions', post(keys.agent, { type, input: { path: value, content: 'x' } }));
      await call('db.query name', value, '/v1/actions', post(keys.agent, { type: 'db.query', input: { query: value } }));
      await call(
        'db.query params',
        value,
        '/v1/actions',
        post(keys.agent, { type: 'db.query', input: { query: 'actions_of_type', params: { [value]: 'x', action_type: value } } }),
      );
      await call(
        'http.request header',
        value,
        '/v1/actions',
        // POST is held for approval: nothing goes out.
        post(keys.agent, {
          type: 'http.request',
          input: { method: 'POST', url: `http://api.example.org/${encodeURIComponent(value)}`, headers: { [value]: value } },
        }),
      );
      await call('input key', value, '/v1/actions', post(keys.agent, { type: 'file.read', input: { [value]: 'x', path: 'a' } }));
    });
    // A non-UUID run_id is refused at the edge (400), before any row names it.
    const { status } = await call(
      'run_id',
      'run-1',
      '/v1/actions',
      post(keys.agent, { type: 'file.read', input: { path: 'a' }, run_id: 'run-1' }),
    );
    expect(status).toBe(400);
    expect((await sql`select count(*)::int as n from action_audit_logs where agent_run_id = 'run-1'`)[0]?.n).toBe(0);
  });

  it('agent routes: /v1/agents/:name/runs, /v1/runs/:id[/events|/resume], ?status, ?agent', async () => {
    for (const name of ['__proto__', 'constructor', 'toString'])
      expect((await call('POST /v1/agents/:name/runs', name, `/v1/agents/${name}/runs`, post(keys.agent, { input: 'hi' }))).status).toBe(
        404,
      );
    await property(async (value) => {
      const part = encodeURIComponent(value);
      const { status } = await call('POST /v1/agents/:name/runs', value, `/v1/agents/${part}/runs`, post(keys.agent, { input: 'hi' }));
      expect([403, 404, 405], value).toContain(status); // `..` and `.` resolve to other routes
      await call('GET /v1/runs/:id', value, `/v1/runs/${part}`, { headers: headers(keys.agent) });
      await call('GET /v1/runs/:id/events', value, `/v1/runs/${part}/events`, { headers: headers(keys.agent) });
      await call('POST /v1/runs/:id/resume', value, `/v1/runs/${part}/resume`, { method: 'POST', headers: headers(keys.agent) });
      const query = new URLSearchParams({ status: value, agent: value, limit: value }).toString();
      await call('GET /v1/runs?status&agent', value, `/v1/runs?${query}`, { headers: headers(keys.approver) });
    });
  });

  it('approvals page and audit routes: /approvals/actions/:id, /approvals/runs/:id, ?agent, ?category', async () => {
    // A held action whose run id is not a UUID (written before run ids were checked) must not break the inbox.
    for (const runId of ['run-1', '------------------------------------']) {
      await sql`
        insert into action_audit_logs (correlation_id, agent_id, agent_run_id, requested_by, action_type, action_category, inputs,
          status, approval_required, digest, expires_at, policy_version, policy_rule)
        values ('c', 'planner', ${runId}, 'planner', 'file.write', 'write', '{}', 'pending', true, ${'d'.repeat(64)},
          now() + interval '1 hour', 'v', 'r')`;
    }
    const inbox = await call('GET /approvals', 'legacy run ids', '/approvals', { headers: { cookie } });
    expect(inbox.status).toBe(200);
    await property(async (value) => {
      const part = encodeURIComponent(value);
      const page = { headers: { cookie } };
      await call('GET /approvals/actions/:id', value, `/approvals/actions/${part}`, page);
      await call('GET /approvals/runs/:id', value, `/approvals/runs/${part}`, page);
      await call('GET /approvals?agent&category', value, `/approvals?${new URLSearchParams({ agent: value, category: value })}`, page);
      await call('GET /v1/audit/verify', value, `/v1/audit/verify?${new URLSearchParams({ from: value })}`, {
        headers: headers(keys.admin),
      });
    });
  });

  it('query parameters of every route (limit, after, agent, status, category, done, verify): never a 500, a bad one is a 400', async () => {
    const run = await createRun(
      sql,
      {
        agentName: 'researcher',
        requestedBy: 'planner',
        correlationId: 'c'.repeat(32),
        idempotencyKey: null,
        requestHash: 'h',
        input: 'hi',
        messages: [],
        owner: 'test',
        leaseMs: 1,
      },
      { type: 'started', data: {} },
    );
    // Finished, so every events stream ends after what it has to send.
    await sql`update agent_runs set status = 'succeeded' where id = ${run?.id ?? ''}`;
    const runId = run?.id as string;
    // Nothing raw on stderr (Hono's stream errors would go there): failures go to the redacting logger.
    const stderr = vi.spyOn(console, 'error');
    const approver = { headers: headers(keys.approver) };
    const page = { headers: { cookie } };
    try {
      for (const value of NUMERIC) {
        for (const path of [`/v1/actions?${query({ limit: value })}`, `/v1/runs?${query({ limit: value })}`]) {
          const { status, text } = await call(path, value, path, approver);
          expect([200, 400], text).toContain(status);
          if (status === 400) expect(JSON.parse(text)).toMatchObject({ code: 'VALIDATION_FAILED', issues: [{ path: 'limit' }] });
        }
        const events = `/v1/runs/${runId}/events?${query({ after: value })}`;
        const { status, text } = await call('GET /v1/runs/:id/events?after', value, events, approver);
        expect(status, `after=${value}: ${text}`).toBe(/^\d+$/.test(value) && Number(value) <= 2_147_483_647 ? 200 : 400);
        const resumed = await call('GET /v1/runs/:id/events (Last-Event-ID)', value, `/v1/runs/${runId}/events`, {
          headers: { ...headers(keys.approver), 'last-event-id': value },
        });
        expect(resumed.status, `Last-Event-ID ${value}`).toBe(/^\s*\d+\s*$/.test(value) && Number(value) <= 2_147_483_647 ? 200 : 400);
      }
      for (const [path, expected] of [
        ['/v1/actions?limit=1.5', 400],
        ['/v1/runs?limit=1.5', 400],
        ['/v1/runs?agent=%00', 400],
        [`/v1/runs/${runId}/events?after=1e20`, 400],
        ['/v1/runs?limit=1000&agent=researcher', 200],
      ] as const)
        expect((await call(path, path, path, approver)).status, path).toBe(expected);
      await property(async (value) => {
        for (const name of ['limit', 'status'])
          await call(`GET /v1/actions?${name}`, value, `/v1/actions?${query({ [name]: value })}`, { headers: headers(keys.agent) });
        for (const name of ['limit', 'status', 'agent'])
          await call(`GET /v1/runs?${name}`, value, `/v1/runs?${query({ [name]: value })}`, approver);
        await call('GET /v1/runs/:id/events?after', value, `/v1/runs/${runId}/events?${query({ after: value })}`, approver);
        await call('GET /v1/audit/verify?limit', value, `/v1/audit/verify?${query({ limit: value, from: value })}`, {
          headers: headers(keys.admin),
        });
        await call('GET /approvals?category&agent', value, `/approvals?${query({ category: value, agent: value, limit: value })}`, page);
        await call('GET /approvals/actions/:id?done', value, `/approvals/actions/${ID}?${query({ done: value })}`, page);
        await call('GET /approvals/history?verify', value, `/approvals/history?${query({ verify: value, limit: value })}`, page);
        await call('GET /approvals/runs?status', value, `/approvals/runs?${query({ status: value, limit: value })}`, page);
        for (const name of ['group_by', 'from', 'to']) {
          const spend = await call(`GET /approvals/spend?${name}`, value, `/approvals/spend?${query({ [name]: value })}`, {
            headers: { cookie: adminCookie },
          });
          expect([200, 400], `${name}=${value}`).toContain(spend.status);
        }
      });
      expect(stderr).not.toHaveBeenCalled();
    } finally {
      stderr.mockRestore();
    }
  });

  it('form bodies of every approvals route: a body that is not a well-formed form is a 400 problem+json with a hint', async () => {
    const origin = 'http://localhost';
    const forms: Array<{ path: string; headers: Record<string, string> }> = [
      { path: '/approvals/login', headers: { origin } },
      { path: '/approvals/logout', headers: { origin, cookie } },
      { path: `/approvals/actions/${ID}/approve`, headers: { origin, cookie } },
      { path: `/approvals/actions/${ID}/reject`, headers: { origin, cookie } },
    ];
    for (const form of forms) {
      const garbage = await call(`POST ${form.path} (garbage multipart)`, 'garbage', form.path, {
        method: 'POST',
        headers: { ...form.headers, 'content-type': 'multipart/form-data; boundary=x' },
        body: 'this is not multipart at all',
      });
      expect(garbage.status, `${form.path}: ${garbage.text}`).toBe(400);
      expect(JSON.parse(garbage.text)).toMatchObject({ code: 'BAD_REQUEST', hint: expect.stringContaining('form') });
    }
    await property(async (value) => {
      for (const form of forms) {
        await call(`POST ${form.path} (multipart)`, value, form.path, {
          method: 'POST',
          headers: { ...form.headers, 'content-type': 'multipart/form-data; boundary=x' },
          body: `--x\r\nContent-Disposition: form-data; name="${value}"\r\n\r\n${value}\r\n--x--\r\n`,
        });
        await call(`POST ${form.path} (url-encoded)`, value, form.path, {
          method: 'POST',
          headers: { ...form.headers, 'content-type': 'application/x-www-form-urlencoded' },
          body: `${query({ credential: value, csrf: value, digest: value, reason: value, [value]: value })}`,
        });
        await call(`POST ${form.path} (raw)`, value, form.path, {
          method: 'POST',
          headers: { ...form.headers, 'content-type': 'multipart/form-data; boundary=x' },
          body: value,
        });
      }
    });
  });

  it('the refusals of actions were audited (denied rows), and no file or HTTP action ran', async () => {
    expect(seen.length).toBeGreaterThan(RUNS * 10);
    const [row] = await sql`select count(*)::int as n from action_audit_logs where status = 'denied'`;
    expect(row?.n).toBeGreaterThan(10);
    const [ran] = await sql`select count(*)::int as n from action_audit_logs where status = 'executed' and action_type <> 'db.query'`;
    expect(ran?.n).toBe(0);
  });
});
