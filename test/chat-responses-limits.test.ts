/**
 * /v1/responses state against a hostile key: item_reference cannot multiply a stored item into a huge
 * provider call (each reference once; the expanded input held to the chat body limit); the database's
 * own error text never reaches the client; the periodic sweep deletes expired stored responses.
 */
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migratedDatabase } from './support/actions.js';
import type { TestDatabase } from './support/databases.js';
import { completionReply, fakeProviderEnv, startFakeLLM } from './support/fake-llm.js';
import { type RuntimeHandle, startRuntime } from './support/runtimes.js';

const key = `myca_${'d1'.repeat(16)}`;

describe('item_reference amplification (node)', () => {
  let llm: Awaited<ReturnType<typeof startFakeLLM>>;
  let database: TestDatabase;
  let admin: postgres.Sql;
  let app: RuntimeHandle;

  beforeAll(async () => {
    llm = await startFakeLLM();
    database = await migratedDatabase();
    admin = postgres(database.url, { max: 1, onnotice: () => {} });
    app = await startRuntime('node', {
      DATABASE_URL: database.url,
      MYCA_API_KEYS: `attacker:agent:${key}`,
      ...fakeProviderEnv(llm.url),
      LLM_RETRIES: '0',
      LLM_RATE_LIMIT_RPM: '0',
      RESPONSES_MAX_KEPT: '3',
    });
  });
  afterAll(async () => {
    await app?.close();
    await llm?.close();
    await admin?.end();
    await database?.drop();
  });

  const post = (body: unknown) =>
    app.fetch('/v1/responses', {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });

  it('refuses a request whose references expand past the chat body bound; the provider gets nothing', async () => {
    // Turn 1: the model answers 16 KB (an attacker just asks it to repeat something); it is stored.
    llm.always('gpt-4o-mini', completionReply('gpt-4o-mini', { content: 'A'.repeat(16 * 1024) }));
    const first = await post({ model: 'execution', input: 'repeat A 16384 times' });
    expect(first.status).toBe(200);
    const created = (await first.json()) as { store: boolean; output: Array<{ id: string; type: string }> };
    expect(created.store).toBe(true);
    const messageId = created.output.find((item) => item.type === 'message')?.id as string;
    llm.reset();
    llm.always('gpt-4o-mini', completionReply('gpt-4o-mini', { content: 'ok' }));

    // Turn 2: ~70 KB of request, 1,024 references to the same item.
    const input = Array.from({ length: 1024 }, () => ({ type: 'item_reference', id: messageId }));
    const requestBytes = JSON.stringify({ model: 'execution', input, store: false }).length;
    expect(requestBytes).toBeLessThan(128 * 1024);
    const second = await post({ model: 'execution', input, store: false });
    const upstreamBytes = llm.requests.reduce((sum, r) => sum + JSON.stringify(r.body).length, 0);
    // Today: 200, and the provider received > 16 MiB built from a < 128 KB request.
    expect({ status: second.status, upstreamBytes }).toEqual({ status: expect.any(Number), upstreamBytes: 0 });
    expect([400, 413]).toContain(second.status);
  }, 60_000);

  it('does not hand the database driver’s error text to the client when stored responses cannot be read', async () => {
    await admin`alter table llm_responses rename to llm_responses_gone`;
    try {
      const response = await app.fetch('/v1/responses/resp_0123456789abcdef0123456789abcdef', {
        headers: { authorization: `Bearer ${key}` },
      });
      expect(response.status).toBe(503);
      const problem = (await response.json()) as { detail: string };
      expect(problem.detail).not.toMatch(/relation|llm_responses|does not exist/);
    } finally {
      await admin`alter table llm_responses_gone rename to llm_responses`;
    }
  });

  it('the periodic sweep deletes expired stored responses (not only a later insert)', async () => {
    llm.reset();
    const created = (await (await post({ model: 'execution', input: 'short-lived secret' })).json()) as { id: string };
    await admin`update llm_responses set expires_at = now() - interval '1 second' where id = ${created.id}`;
    await app.sweep();
    expect(await admin`select 1 from llm_responses where id = ${created.id}`).toHaveLength(0);
  });

  it('a key keeps only its newest RESPONSES_MAX_KEPT responses: each new one evicts its oldest', async () => {
    llm.reset();
    llm.always('gpt-4o-mini', completionReply('gpt-4o-mini', { content: 'kept' }));
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) ids.push(((await (await post({ model: 'execution', input: `turn ${i}` })).json()) as { id: string }).id);
    const statuses = await Promise.all(
      ids.map(async (id) => (await app.fetch(`/v1/responses/${id}`, { headers: { authorization: `Bearer ${key}` } })).status),
    );
    expect(statuses).toEqual([404, 404, 200, 200, 200]);
    const [{ n }] = (await admin`select count(*)::int as n from llm_responses where principal_id = 'attacker'`) as unknown as [
      { n: number },
    ];
    expect(n).toBe(3);
  });
});

describe('GET and DELETE /v1/responses/:id under the per-key rate limit (node)', () => {
  let database: TestDatabase;
  let app: RuntimeHandle;
  beforeAll(async () => {
    database = await migratedDatabase();
    app = await startRuntime('node', { DATABASE_URL: database.url, MYCA_API_KEYS: `attacker:agent:${key}`, LLM_RATE_LIMIT_RPM: '3' });
  });
  afterAll(async () => {
    await app?.close();
    await database?.drop();
  });

  it('counts reads and deletes of stored responses like any other request of the key', async () => {
    const id = 'resp_0123456789abcdef0123456789abcdef';
    const auth = { authorization: `Bearer ${key}` };
    const statuses: number[] = [];
    for (const method of ['GET', 'DELETE', 'GET', 'GET'])
      statuses.push((await app.fetch(`/v1/responses/${id}`, { method, headers: auth })).status);
    expect(statuses).toEqual([404, 404, 404, 429]);
  });
});
