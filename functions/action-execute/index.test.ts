import { mkdtempSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiKeys, headers, keys, migratedDatabase } from '../../test/support/actions.js';
import type { TestDatabase } from '../../test/support/databases.js';
import { RUNTIMES, type RuntimeHandle, startRuntime } from '../../test/support/runtimes.js';

let counter = 0;
const idem = () => `test-${Date.now()}-${counter++}`;

describe.each(RUNTIMES)('action-execute and approve on %s', (runtime) => {
  let database: TestDatabase;
  let app: RuntimeHandle;
  let filesRoot: string;
  let upstream: ReturnType<typeof createServer>;
  let upstreamUrl: string;
  const submit = (body: unknown, key = keys.agent, idempotencyKey = idem()) =>
    app.fetch('/v1/actions', { method: 'POST', headers: headers(key, idempotencyKey), body: JSON.stringify(body) });
  const decideAs = (key: string, id: string, verb: 'approve' | 'reject', body: unknown) =>
    app.fetch(`/v1/actions/${id}/${verb}`, { method: 'POST', headers: headers(key), body: JSON.stringify(body) });

  beforeAll(async () => {
    database = await migratedDatabase();
    filesRoot = mkdtempSync(join(tmpdir(), 'myca-files-'));
    upstream = createServer((request, response) => {
      const port = (upstream.address() as AddressInfo).port;
      // Redirects to another allowed host (localhost) and to the same origin; /echo shows what arrived.
      if (request.url === '/to-other') response.writeHead(302, { location: `http://localhost:${port}/echo` });
      else if (request.url === '/to-same') response.writeHead(302, { location: '/echo' });
      else response.writeHead(200, { 'content-type': 'application/json' });
      response.end(
        JSON.stringify({ method: request.method, path: request.url, ...(request.url === '/echo' ? { headers: request.headers } : {}) }),
      );
    });
    await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
    upstreamUrl = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`;
    app = await startRuntime(runtime, {
      DATABASE_URL: database.url,
      MYCA_API_KEYS: apiKeys,
      MYCA_FILES_ROOT: filesRoot,
      ACTION_HTTP_ALLOW_HOSTS: '127.0.0.1,localhost',
      ACTION_HTTP_ALLOW_PRIVATE: 'true',
    });
    // A folder on Node, the FILES R2 bucket in workerd.
    await app.files.write('ledger/q3.csv', 'month,amount\nJuly,1200\n');
  });
  afterAll(async () => {
    await app?.close();
    upstream?.close();
    await database?.drop();
  });

  it('runs an auto-approved read at once and records it with its events', async () => {
    const response = await submit({ type: 'db.query', input: { query: 'audit_counts_by_status' } });
    const body = (await response.json()) as {
      status: string;
      id: string;
      output: { rows: unknown[] };
      correlation_id: string;
      policy_rule: string;
    };
    expect(response.status, JSON.stringify(body)).toBe(200);
    expect(body).toMatchObject({ status: 'executed', policy_rule: 'categories.read' });
    expect(body.correlation_id).toBe(response.headers.get('x-correlation-id'));
    const sql = postgres(database.url, { max: 1, onnotice: () => {} });
    const events = await sql`select event from action_audit_events where action_id = ${body.id} order by seq`;
    await sql.end();
    expect(events.map((e) => e.event)).toEqual(['requested', 'decided', 'executing', 'executed']);
  });

  it('holds a write for approval (202), executes it exactly once on approval, and binds it to the digest', async () => {
    const response = await submit({
      type: 'http.request',
      input: { method: 'POST', url: `${upstreamUrl}/orders`, body: '{"n":1}' },
    });
    expect(response.status).toBe(202);
    const held = (await response.json()) as { id: string; status: string; digest: string; expires_at: string; links: { approve: string } };
    expect(held).toMatchObject({ status: 'pending', links: { approve: `/v1/actions/${held.id}/approve` } });
    expect(held.digest).toMatch(/^[0-9a-f]{64}$/);

    const wrong = await decideAs(keys.approver, held.id, 'approve', { digest: 'f'.repeat(64) });
    expect(wrong.status).toBe(409);
    expect(await wrong.json()).toMatchObject({ detail: expect.stringContaining('digest') });

    const byAgent = await decideAs(keys.agent2, held.id, 'approve', { digest: held.digest });
    expect(byAgent.status).toBe(403);

    const approved = await decideAs(keys.approver, held.id, 'approve', { digest: held.digest, comment: 'ok' });
    const result = (await approved.json()) as { status: string; approved_by: string; output: { status: number; body: string } };
    expect(approved.status, JSON.stringify(result)).toBe(200);
    expect(result).toMatchObject({ status: 'executed', approved_by: 'alice' });
    expect(JSON.parse(result.output.body)).toEqual({ method: 'POST', path: '/orders' });

    const again = await decideAs(keys.approver2, held.id, 'approve', { digest: held.digest });
    expect(again.status).toBe(409);
  });

  it('returns the rejection reason to the agent and never executes a rejected action', async () => {
    const held = (await (await submit({ type: 'http.request', input: { method: 'DELETE', url: `${upstreamUrl}/x` } })).json()) as {
      id: string;
      digest: string;
    };
    const rejected = await decideAs(keys.approver, held.id, 'reject', { reason: 'not during the audit' });
    expect(rejected.status).toBe(200);
    const seen = (await (await app.fetch(`/v1/actions/${held.id}`, { headers: headers(keys.agent) })).json()) as {
      status: string;
      rejection_reason: string;
    };
    expect(seen).toMatchObject({ status: 'rejected', rejection_reason: 'not during the audit' });
    expect((await decideAs(keys.approver2, held.id, 'approve', { digest: held.digest })).status).toBe(409);
  });

  it('replays an Idempotency-Key: same body → stored result, different body → 422', async () => {
    const key = idem();
    const body = { type: 'db.query', input: { query: 'audit_counts_by_status' } };
    const first = (await (await submit(body, keys.agent, key)).json()) as { id: string };
    const second = await submit(body, keys.agent, key);
    expect(second.status).toBe(200);
    expect(await second.json()).toMatchObject({ id: first.id, replayed: true });
    const different = await submit({ ...body, agent_id: 'planner' }, keys.agent, key);
    expect(different.status).toBe(422);
    // A refused request replays as the same refusal.
    const badKey = idem();
    const bad = { type: 'db.query', input: { query: 'no_such_query' } };
    expect((await submit(bad, keys.agent, badKey)).status).toBe(404);
    const again = await submit(bad, keys.agent, badKey);
    expect(again.status).toBe(404);
    expect(await again.json()).toMatchObject({ replayed: true, action_status: 'denied' });
  });

  it('answers a failed action as problem+json with a hint, still carrying the action id and links (and on replay)', async () => {
    const key = idem();
    const body = { type: 'file.read', input: { path: 'ledger/missing.csv' }, agent_id: 'mycology' };
    for (const response of [await submit(body, keys.mycology, key), await submit(body, keys.mycology, key)]) {
      expect(response.status).toBe(404);
      expect(response.headers.get('content-type')).toContain('application/problem+json');
      const problem = (await response.json()) as Record<string, unknown> & { id: string; links: { self: string } };
      expect(problem).toMatchObject({ status: 404, code: 'NOT_FOUND', action_status: 'failed', hint: expect.any(String) });
      expect(problem.detail).toEqual(expect.stringContaining('missing.csv'));
      expect(problem.links.self).toBe(`/v1/actions/${problem.id}`);
      expect((problem.error as { message: string }).message).toContain(problem.hint as string);
    }
  });

  it('answers a denied action as problem+json carrying its id and links (and on replay)', async () => {
    // docs/API.md and docs/ACTION_AUDIT.md: a refused action adds its `id`, `links` and `action_status`.
    const key = idem();
    const body = { type: 'db.query', input: { query: 'audit_counts_by_status' } };
    for (const response of [await submit(body, keys.financial, key), await submit(body, keys.financial, key)]) {
      expect(response.status).toBe(403);
      expect(response.headers.get('content-type')).toContain('application/problem+json');
      const problem = (await response.json()) as Record<string, unknown> & { id: string; links?: { self?: string } };
      expect(problem).toMatchObject({ code: 'FORBIDDEN', action_status: 'denied', id: expect.any(String) });
      expect(problem.links?.self, JSON.stringify(problem)).toBe(`/v1/actions/${problem.id}`);
    }
  });

  it('replays a denied action with the hint it was first refused with', async () => {
    const key = idem();
    const body = { type: 'db.query', input: { query: 'audit_counts_by_status' } };
    const denied = (await (await submit(body, keys.financial, key)).json()) as { id: string; hint: string };
    expect(denied.hint).toContain('file.read');
    const replayed = (await (await submit(body, keys.financial, key)).json()) as { id: string; hint: string; replayed: boolean };
    expect(replayed).toMatchObject({ id: denied.id, replayed: true });
    expect(replayed.hint).toBe(denied.hint);
  });

  it('refuses unknown actions, bad input and missing keys with clear 4xx', async () => {
    const unknown = await submit({ type: 'shell.exec', input: { cmd: 'rm -rf /' } });
    expect(unknown.status).toBe(400);
    expect(await unknown.json()).toMatchObject({ detail: expect.stringContaining('Unknown action type'), status: 400 });
    const bad = await submit({ type: 'file.read', input: { path: 1 } });
    expect(bad.status).toBe(400);
    const noKey = await app.fetch('/v1/actions', {
      method: 'POST',
      headers: headers(keys.agent),
      body: JSON.stringify({ type: 'file.read', input: { path: 'a' } }),
    });
    expect(noKey.status).toBe(400);
    expect(await noKey.json()).toMatchObject({ detail: expect.stringContaining('Idempotency-Key') });
  });

  it('drops credentials on a redirect to another host, keeps them on the same origin', async () => {
    const credentials = {
      authorization: 'Bearer redirect-credential-1',
      cookie: 'session=redirect-credential-2',
      'x-api-key': 'redirect-credential-3',
      // Names the redactor did not know as secret once: dropped too (only a safe list crosses origins).
      'x-auth-key': 'redirect-credential-4',
      'ocp-apim-subscription-key': 'redirect-credential-5',
      'x-auth-email': 'redirect-credential-6',
      accept: 'application/json',
    };
    const other = await submit({ type: 'http.request', input: { url: `${upstreamUrl}/to-other`, headers: credentials } });
    const otherBody = (await other.json()) as { status: string; output: { url: string; body: string } };
    expect(otherBody).toMatchObject({ status: 'executed', output: { url: expect.stringContaining('localhost') } });
    const arrived = JSON.parse(otherBody.output.body) as { headers: Record<string, string> };
    expect(arrived.headers).toMatchObject({ accept: 'application/json' });
    for (const name of [
      'authorization',
      'cookie',
      'x-api-key',
      'proxy-authorization',
      'x-auth-key',
      'ocp-apim-subscription-key',
      'x-auth-email',
    ])
      expect(arrived.headers[name], name).toBeUndefined();
    // The audit row keeps none of the keys either.
    const sql = postgres(database.url, { max: 1, onnotice: () => {} });
    const [row] = await sql`select inputs from action_audit_logs where id = ${(otherBody as unknown as { id: string }).id}`;
    await sql.end();
    const stored = JSON.stringify(row?.inputs);
    for (const secret of ['redirect-credential-1', 'redirect-credential-3', 'redirect-credential-4', 'redirect-credential-5'])
      expect(stored, secret).not.toContain(secret);

    const same = await submit({ type: 'http.request', input: { url: `${upstreamUrl}/to-same`, headers: credentials } });
    const sameBody = (await same.json()) as { output: { body: string } };
    expect((JSON.parse(sameBody.output.body) as { headers: Record<string, string> }).headers).toMatchObject({
      authorization: credentials.authorization,
      'x-api-key': credentials['x-api-key'],
    });
  });

  it('reads and writes files under the root; scratch writes run at once, others wait', async () => {
    const read = await submit({ type: 'file.read', input: { path: 'ledger/q3.csv' } });
    expect(await read.json()).toMatchObject({ status: 'executed', output: { content: 'month,amount\nJuly,1200\n' } });
    const scratch = await submit({ type: 'file.write', input: { path: 'scratch/draft.md', content: '# Draft' } });
    expect(scratch.status).toBe(200);
    expect(await app.files.read('scratch/draft.md')).toBe('# Draft');
    const ledger = await submit({ type: 'file.write', input: { path: 'ledger/q4.csv', content: 'x' } });
    expect(ledger.status).toBe(202);
  });

  it('records tool and audit metrics with catalog names only, and a span per phase', async (ctx) => {
    ctx.skip(runtime !== 'node', 'Node only: workerd keeps no metrics, and its spans leave over OTLP');
    await submit({ type: 'db.query', input: { query: 'audit_counts_by_status' } });
    await submit({ type: 'no.such.action', input: {} });
    const render = app.services?.renderMetrics;
    if (!render) throw new Error('node serves metrics');
    const text = await render();
    expect(text).toMatch(/tool_executions_total\{tool_name="db.query",status="executed"\} \d+/);
    expect(text).toMatch(/tool_duration_seconds_count\{tool_name="db.query"\} \d+/);
    expect(text).toMatch(/action_audit_logs_total\{action_type="unknown",status="denied"\} \d+/);
    expect(text).not.toContain('no.such.action');
    const names = (app.spans?.getFinishedSpans() ?? []).map((span) => span.name);
    expect(names).toEqual(expect.arrayContaining(['action.decide', 'action.execute db.query', 'POST /v1/actions']));
  });

  it('deletes a file only after approval', async () => {
    await app.files.write('scratch/old.txt', 'bye');
    const held = (await (await submit({ type: 'file.delete', input: { path: 'scratch/old.txt' } })).json()) as {
      id: string;
      digest: string;
      status: string;
    };
    expect(held.status).toBe('pending');
    expect(await app.files.read('scratch/old.txt')).toBe('bye');
    const done = await decideAs(keys.approver, held.id, 'approve', { digest: held.digest });
    expect(await done.json()).toMatchObject({ status: 'executed', output: { deleted: true } });
    expect(await app.files.read('scratch/old.txt')).toBeNull();
  });

  it('lists pending actions for approvers', async () => {
    const response = await app.fetch('/v1/actions?status=pending', { headers: headers(keys.approver) });
    const body = (await response.json()) as { data: Array<{ status: string }> };
    expect(response.status).toBe(200);
    expect(body.data.every((row) => row.status === 'pending')).toBe(true);
  });
});
