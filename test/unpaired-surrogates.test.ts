import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import postgres from 'postgres';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { apiKeys, headers, keys, migratedDatabase } from './support/actions.js';
import type { TestDatabase } from './support/databases.js';
import { completionReply, startFakeLLM, toolCall } from './support/fake-llm.js';
import { RUNTIMES, type RuntimeHandle, startRuntime } from './support/runtimes.js';

// JSON may carry a lone UTF-16 surrogate as an escape ("\ud800"); JSON.parse gives it back as a
// string that Postgres jsonb refuses ("invalid input syntax for type json"). Such input comes from
// callers (a request body) and from models (a tool call's arguments are JSON the model writes).
const LONE = '\ud800';

describe.each(RUNTIMES)('input holding an unpaired surrogate on %s', (runtime) => {
  let database: TestDatabase;
  let app: RuntimeHandle;
  let sql: postgres.Sql;
  let llm: Awaited<ReturnType<typeof startFakeLLM>>;
  const filesRoot = mkdtempSync(join(tmpdir(), 'myca-surrogate-'));
  let counter = 0;
  const idem = () => `sur-${runtime}-${Date.now()}-${counter++}`;

  beforeAll(async () => {
    database = await migratedDatabase();
    sql = postgres(database.url, { max: 1, onnotice: () => {} });
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
  });
  afterAll(async () => {
    await app?.close();
    await llm?.close();
    await sql?.end();
    await database?.drop();
    rmSync(filesRoot, { recursive: true, force: true });
  });
  beforeEach(() => llm.reset());

  it('answers POST /v1/actions with an unpaired surrogate in the input without a 5xx, and records what it answered', async () => {
    const key = idem();
    const response = await app.fetch('/v1/actions', {
      method: 'POST',
      headers: headers(keys.corporate, key),
      body: JSON.stringify({ type: 'file.write', input: { path: 'scratch/lone.txt', content: `before ${LONE} after` } }),
    });
    const body = (await response.json()) as { code?: string; detail?: string };
    expect(response.status, `${response.status} ${body.code}: ${body.detail}`).toBeLessThan(500);
    // A 2xx means an action ran: its audit row must exist.
    if (response.status < 300) {
      const rows = await sql`select status from action_audit_logs where requested_by = 'corporate' and idempotency_key = ${key}`;
      expect(rows).toHaveLength(1);
    }
  });

  it('records a refused action whose type holds an unpaired surrogate instead of answering 503', async () => {
    const response = await app.fetch('/v1/actions', {
      method: 'POST',
      headers: headers(keys.agent, idem()),
      body: JSON.stringify({ type: `file.${LONE}`, input: {} }),
    });
    const body = (await response.json()) as { code?: string; detail?: string };
    expect(response.status, `${response.status} ${body.code}: ${body.detail}`).toBeLessThan(500);
  });

  it('starts an agent run whose input holds an unpaired surrogate without a 5xx', async () => {
    llm.queue('gpt-4o', completionReply('gpt-4o', { content: 'ok' }));
    const response = await app.fetch('/v1/agents/mycology/runs', {
      method: 'POST',
      headers: headers(keys.mycology),
      body: JSON.stringify({ input: `what is ${LONE}?`, idempotency_key: idem() }),
    });
    const body = (await response.json()) as { code?: string; detail?: string };
    expect(response.status, `${response.status} ${body.code}: ${body.detail}`).toBeLessThan(500);
  });

  it('ends an agent run whose model wrote an unpaired surrogate into a tool call, instead of leaving it running for the sweep to retry forever', async () => {
    // The model asks for the same read every time (a run that records it ends at max_steps at the latest).
    llm.always('gpt-4o', completionReply('gpt-4o', { tool_calls: [toolCall('file_read', { path: `species/${LONE}.md` })] }));
    const response = await app.fetch('/v1/agents/mycology/runs', {
      method: 'POST',
      headers: headers(keys.mycology),
      body: JSON.stringify({ input: 'read the notes', idempotency_key: idem() }),
    });
    const started = (await response.json()) as { id: string; status: string };
    expect(started.id).toBeTruthy();
    // What the sweep does for a run whose instance gave up: its lease runs out, the sweep resumes it.
    await sql`update agent_runs set lease_until = now() - interval '1 second' where id = ${started.id} and status = 'running'`;
    await app.sweep();
    const [run] = await sql<{ status: string; step: number }[]>`select status, step from agent_runs where id = ${started.id}`;
    const modelCalls = llm.requests.length;
    expect(run?.status, `after ${modelCalls} model calls (start, then the sweep) the run is ${run?.status} at step ${run?.step}`).toMatch(
      /^(succeeded|failed)$/,
    );
  });

  it('finishes an agent run whose model answered with an unpaired surrogate, instead of leaving it running', async () => {
    llm.always('gpt-4o', completionReply('gpt-4o', { content: `the answer ${LONE}` }));
    const response = await app.fetch('/v1/agents/mycology/runs', {
      method: 'POST',
      headers: headers(keys.mycology),
      body: JSON.stringify({ input: 'answer me', idempotency_key: idem() }),
    });
    const started = (await response.json()) as { id: string };
    await sql`update agent_runs set lease_until = now() - interval '1 second' where id = ${started.id} and status = 'running'`;
    await app.sweep();
    const [run] = await sql<{ status: string }[]>`select status from agent_runs where id = ${started.id}`;
    expect(run?.status, `after ${llm.requests.length} model calls the run is ${run?.status}`).toMatch(/^(succeeded|failed)$/);
  });
});
