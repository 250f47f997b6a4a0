import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import postgres from 'postgres';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { apiKeys, expireNow, headers, keys, migratedDatabase } from '../../test/support/actions.js';
import type { TestDatabase } from '../../test/support/databases.js';
import { completionReply, startFakeLLM, toolCall } from '../../test/support/fake-llm.js';
import { RUNTIMES, type RuntimeHandle, startRuntime } from '../../test/support/runtimes.js';

type Fake = Awaited<ReturnType<typeof startFakeLLM>>;

const answer = (model: string, content: string) => completionReply(model, { content });
const calls = (model: string, ...toolCalls: unknown[]) => completionReply(model, { tool_calls: toolCalls });

interface Run {
  id: string;
  status: string;
  agent_name: string;
  correlation_id: string;
  output: string | null;
  error: string | null;
  step: number;
  steps: Array<{ n: number; tool_calls: Array<{ action_id: string | null; status: string }> }>;
  usage: { total_tokens: number };
  cost_usd: number;
  pending_action_ids: string[];
}

describe.each(RUNTIMES)('agent-run on %s', (runtime) => {
  let database: TestDatabase;
  let app: RuntimeHandle;
  let sql: postgres.Sql;
  let llm: Fake;
  const filesRoot = mkdtempSync(join(tmpdir(), 'myca-agent-files-'));
  let counter = 0;

  /** A key acts only as the agent it is named after: each agent's runs start with its own key. */
  const keyOf = (agent: string) => (agent === 'mycology' || agent === 'financial' || agent === 'corporate' ? keys[agent] : keys.agent);
  const start = (agent: string, input: string, key = keyOf(agent), extra: Record<string, string> = {}) =>
    app.fetch(`/v1/agents/${agent}/runs`, {
      method: 'POST',
      headers: { ...headers(key), ...extra },
      body: JSON.stringify({ input, idempotency_key: `run-${runtime}-${counter++}` }),
    });
  const getRun = async (id: string, key = keys.approver) =>
    (await (await app.fetch(`/v1/runs/${id}`, { headers: headers(key) })).json()) as Run;
  /** The run once it has finished (resumes go on in the background after the deciding request). */
  const settled = async (id: string) => {
    const deadline = Date.now() + 15_000;
    for (;;) {
      const run = await getRun(id);
      if (run.status === 'succeeded' || run.status === 'failed') return run;
      if (Date.now() > deadline) throw new Error(`run ${id} is still ${run.status}`);
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
  };
  /** Requests the fake provider got on behalf of one run (they carry its correlation id). */
  const requestsOf = (run: Run) => llm.requests.filter((request) => request.headers['x-correlation-id'] === run.correlation_id);
  const toolResults = (body: Record<string, unknown>) =>
    (body.messages as Array<{ role: string; content: string }>).filter((m) => m.role === 'tool').map((m) => JSON.parse(m.content));

  beforeAll(async () => {
    database = await migratedDatabase();
    sql = postgres(database.url, { max: 2, onnotice: () => {} });
    llm = await startFakeLLM();
    app = await startRuntime(runtime, {
      DATABASE_URL: database.url,
      MYCA_API_KEYS: apiKeys,
      MYCA_FILES_ROOT: filesRoot,
      OPENAI_API_KEY: 'test-openai-key',
      OPENAI_BASE_URL: `${llm.url}/v1`,
      LLM_RETRIES: '0',
      LLM_RATE_LIMIT_RPM: '0',
    });
    await app.files.write('species/index.md', '# Species\n- Amanita muscaria: fly agaric, toxic\n');
    await app.files.write('finance/ledger.csv', 'date,account,amount,memo\n2026-11-01,cash,100.00,opening\n');
  });
  afterAll(async () => {
    await app?.close();
    await llm?.close();
    await sql?.end();
    await database?.drop();
    rmSync(filesRoot, { recursive: true, force: true });
  });
  beforeEach(() => llm.reset());

  it('runs a trivial agent end to end: a file.read tool call through the audited action path, then an answer', async () => {
    llm.queue(
      'gpt-4o',
      calls('gpt-4o', toolCall('file_read', { path: 'species/index.md' })),
      answer('gpt-4o', 'Amanita muscaria is toxic.'),
    );
    const response = await start('mycology', 'Is the fly agaric edible?');
    expect(response.status).toBe(200);
    const run = (await response.json()) as Run;
    expect(run).toMatchObject({ status: 'succeeded', agent_name: 'mycology', output: 'Amanita muscaria is toxic.', step: 2 });
    expect(run.correlation_id).toBe(response.headers.get('x-correlation-id'));
    expect(run.usage.total_tokens).toBe(240);
    expect(run.cost_usd).toBeCloseTo((200 * 2.5 + 40 * 10) / 1e6, 10);

    // The model was offered the agent's actions as tools and got the file back as the tool result.
    const [first, second] = requestsOf(run);
    const tools = first?.body.tools as Array<{ function: { name: string; parameters: { properties: Record<string, unknown> } } }>;
    expect(tools.map((tool) => tool.function.name)).toEqual([
      'mindex_search_taxa',
      'mindex_get_taxon',
      'mindex_list_observations',
      'file_read',
    ]);
    expect(tools.find((tool) => tool.function.name === 'file_read')?.function.parameters.properties).toHaveProperty('path');
    expect(second && toolResults(second.body)).toEqual([
      expect.objectContaining({
        status: 'executed',
        type: 'file.read',
        output: expect.objectContaining({ content: expect.stringContaining('fly agaric') }),
      }),
    ]);

    // The audit log has the action, with the run id and the run's correlation id.
    const rows = await sql`select * from action_audit_logs where agent_run_id = ${run.id}`;
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({
      action_type: 'file.read',
      status: 'executed',
      agent_id: 'mycology',
      correlation_id: run.correlation_id,
      requested_by: 'mycology',
    });
    expect(run.steps[0]?.tool_calls[0]).toMatchObject({ action_id: rows[0]?.id, status: 'executed' });

    if (runtime === 'node') {
      const metrics = await (await app.fetch('/metrics')).text();
      expect(metrics).toMatch(/agent_runs_total\{agent_name="mycology",status="succeeded"\} 1\b/);
      expect(metrics).toMatch(/agent_run_duration_seconds_count\{agent_name="mycology"\} 1\b/);
      await app.flush();
      const steps = app.spans?.getFinishedSpans().filter((span) => span.name === 'agent.step') ?? [];
      expect(steps.map((span) => span.attributes['myca.run.step'])).toEqual([1, 2]);
      expect(steps.every((span) => span.attributes['myca.correlation_id'] === run.correlation_id)).toBe(true);
    }
  });

  it('streams the run as server-sent events, in order, ending with the answer', async () => {
    llm.queue('gpt-4o', calls('gpt-4o', toolCall('file_read', { path: 'species/index.md' })), answer('gpt-4o', 'done'));
    const run = (await (await start('mycology', 'list species')).json()) as Run;
    const response = await app.fetch(`/v1/runs/${run.id}/events`, { headers: headers(keys.mycology) });
    expect(response.headers.get('content-type')).toContain('text/event-stream');
    const text = await response.text();
    const types = [...text.matchAll(/^event: (.+)$/gm)].map((match) => match[1]);
    expect(types).toEqual(['started', 'step_started', 'tool_call', 'action_executed', 'step_started', 'final']);
    // Reconnecting with Last-Event-ID gets only what came after.
    const rest = await (
      await app.fetch(`/v1/runs/${run.id}/events`, { headers: { ...headers(keys.mycology), 'last-event-id': '4' } })
    ).text();
    expect([...rest.matchAll(/^event: (.+)$/gm)].map((match) => match[1])).toEqual(['step_started', 'final']);
  });

  it('waits for approval, resumes when the action is approved, and finishes', async () => {
    const ledger = 'date,account,amount,memo\n2026-11-01,cash,100.00,opening\n2026-11-28,cash,-12.50,spores\n';
    llm.queue(
      'gpt-4o',
      calls('gpt-4o', toolCall('file_write', { path: 'finance/ledger.csv', content: ledger })),
      answer('gpt-4o', 'Recorded.'),
    );
    const response = await start('financial', 'Record 12.50 spent on spores today');
    expect(response.status).toBe(202);
    const waiting = (await response.json()) as Run;
    expect(waiting.status).toBe('waiting_approval');
    expect(waiting.pending_action_ids).toHaveLength(1);
    const actionId = waiting.pending_action_ids[0] as string;
    const action = (await (await app.fetch(`/v1/actions/${actionId}`, { headers: headers(keys.approver) })).json()) as {
      digest: string;
      agent_run_id: string;
    };
    expect(action.agent_run_id).toBe(waiting.id);
    expect(await app.files.read('finance/ledger.csv')).not.toContain('spores');

    const approved = await app.fetch(`/v1/actions/${actionId}/approve`, {
      method: 'POST',
      headers: headers(keys.approver),
      body: JSON.stringify({ digest: action.digest }),
    });
    expect(approved.status).toBe(200);
    const done = await settled(waiting.id);
    expect(done).toMatchObject({ status: 'succeeded', output: 'Recorded.', step: 2 });
    expect(await app.files.read('finance/ledger.csv')).toBe(ledger);
    const second = requestsOf(done)[1];
    expect(second && toolResults(second.body)).toEqual([expect.objectContaining({ status: 'executed', action_id: actionId })]);
  });

  it('gives a rejection reason back to the model as the tool result', async () => {
    llm.queue(
      'gpt-4o',
      calls('gpt-4o', toolCall('file_write', { path: 'finance/ledger.csv', content: 'wiped' })),
      answer('gpt-4o', 'Understood, I will not wipe the ledger.'),
    );
    const waiting = (await (await start('financial', 'clean up the ledger')).json()) as Run;
    expect(waiting.status).toBe('waiting_approval');
    const actionId = waiting.pending_action_ids[0] as string;
    const rejected = await app.fetch(`/v1/actions/${actionId}/reject`, {
      method: 'POST',
      headers: headers(keys.approver),
      body: JSON.stringify({ reason: 'never overwrite the whole ledger' }),
    });
    expect(rejected.status).toBe(200);
    const done = await settled(waiting.id);
    expect(done.status).toBe('succeeded');
    const second = requestsOf(done)[1];
    expect(second && toolResults(second.body)).toEqual([
      expect.objectContaining({ status: 'rejected', reason: 'never overwrite the whole ledger', rejected_by: 'alice' }),
    ]);
    expect(await app.files.read('finance/ledger.csv')).not.toBe('wiped');
  });

  it('fails honestly when the approval expires', async () => {
    llm.queue('gpt-4o', calls('gpt-4o', toolCall('file_write', { path: 'finance/ledger.csv', content: 'x' })));
    const waiting = (await (await start('financial', 'write x')).json()) as Run;
    const actionId = waiting.pending_action_ids[0] as string;
    await expireNow(sql, actionId);
    const resumed = await app.fetch(`/v1/runs/${waiting.id}/resume`, { method: 'POST', headers: headers(keys.financial) });
    expect(resumed.status).toBe(200);
    const run = (await resumed.json()) as Run;
    expect(run.status).toBe('failed');
    expect(run.error).toMatch(/approval of file\.write .* expired/);
    expect(requestsOf(run)).toHaveLength(1);
    const [action] = await sql`select status from action_audit_logs where id = ${actionId}`;
    expect(action?.status).toBe('expired');
  });

  it('the periodic sweep (Node timer / Cron Trigger) ends a run whose approval expired, with nobody asking', async () => {
    llm.queue('gpt-4o', calls('gpt-4o', toolCall('file_write', { path: 'finance/ledger.csv', content: 'y' })));
    const waiting = (await (await start('financial', 'write y')).json()) as Run;
    await expireNow(sql, waiting.pending_action_ids[0] as string);
    await app.sweep();
    const run = await settled(waiting.id);
    expect(run.status).toBe('failed');
    expect(run.error).toContain('expired');
  });

  it('stops cleanly at max_steps', async () => {
    llm.always('gpt-4o-mini', calls('gpt-4o-mini', toolCall('file_read', { path: 'species/index.md' })));
    const response = await start('corporate', 'loop forever');
    const run = (await response.json()) as Run;
    expect(response.status).toBe(200);
    expect(run.status).toBe('failed');
    expect(run.error).toContain('max_steps');
    expect(run.step).toBe(6);
    expect(requestsOf(run)).toHaveLength(6);
    const [count] = await sql`select count(*)::int as n from action_audit_logs where agent_run_id = ${run.id}`;
    expect(count?.n).toBe(6);
  });

  it('never runs a step twice when resumes race', async () => {
    llm.queue('gpt-4o', calls('gpt-4o', toolCall('file_write', { path: 'finance/race.csv', content: 'a' })), answer('gpt-4o', 'ok'));
    const waiting = (await (await start('financial', 'race')).json()) as Run;
    const actionId = waiting.pending_action_ids[0] as string;
    const [row] = await sql`select digest from action_audit_logs where id = ${actionId}`;
    const results = await Promise.all([
      app.fetch(`/v1/actions/${actionId}/approve`, {
        method: 'POST',
        headers: headers(keys.approver),
        body: JSON.stringify({ digest: row?.digest }),
      }),
      ...Array.from({ length: 6 }, () => app.fetch(`/v1/runs/${waiting.id}/resume`, { method: 'POST', headers: headers(keys.financial) })),
    ]);
    expect(results.every((r) => r.status < 500)).toBe(true);
    const done = await settled(waiting.id);
    expect(done.status).toBe('succeeded');
    expect(requestsOf(done)).toHaveLength(2);
    const events = await sql`select type, data from agent_run_events where run_id = ${done.id} and type = 'step_started' order by seq`;
    expect(events.map((event) => event.data.step)).toEqual([1, 2]);
  });

  it('refuses what it cannot run with clear errors and changes nothing', async () => {
    const unknown = await start('astrologer', 'hi');
    expect(unknown.status).toBe(404);
    expect(((await unknown.json()) as { hint: string }).hint).toContain('mycology');
    expect((await start('mycology', 'hi', keys.approver)).status).toBe(403);
    const bad = await app.fetch('/v1/agents/mycology/runs', {
      method: 'POST',
      headers: headers(keys.mycology),
      body: JSON.stringify({ input: '' }),
    });
    expect(bad.status).toBe(400);
    expect((await app.fetch('/v1/runs/not-a-run', { headers: headers(keys.mycology) })).status).toBe(404);
    const [count] = await sql`select count(*)::int as n from agent_runs where input = 'hi'`;
    expect(count?.n).toBe(0);
  });

  it('replays a start with the same idempotency key as the same run, and hides runs from other agents', async () => {
    llm.queue('gpt-4o', answer('gpt-4o', 'hello'));
    const body = JSON.stringify({ input: 'say hello', idempotency_key: `same-${runtime}` });
    const first = (await (
      await app.fetch('/v1/agents/mycology/runs', { method: 'POST', headers: headers(keys.mycology), body })
    ).json()) as Run;
    const again = await app.fetch('/v1/agents/mycology/runs', { method: 'POST', headers: headers(keys.mycology), body });
    expect(again.status).toBe(200);
    expect(((await again.json()) as Run).id).toBe(first.id);
    expect(requestsOf(first)).toHaveLength(1);
    expect((await app.fetch(`/v1/runs/${first.id}`, { headers: headers(keys.agent2) })).status).toBe(404);
    expect((await app.fetch(`/v1/runs/${first.id}`, { headers: headers(keys.approver) })).status).toBe(200);
  });

  it('answers 202 at once with Prefer: respond-async and goes on in the background', async () => {
    llm.queue('gpt-4o', answer('gpt-4o', 'later'));
    const response = await start('mycology', 'take your time', keys.mycology, { prefer: 'respond-async' });
    expect(response.status).toBe(202);
    expect(response.headers.get('location')).toMatch(/^\/v1\/runs\//);
    const run = (await response.json()) as Run;
    expect(run.status).toBe('running');
    expect(response.headers.get('preference-applied')).toBe('respond-async');
    expect((await settled(run.id)).output).toBe('later');
  });
});
