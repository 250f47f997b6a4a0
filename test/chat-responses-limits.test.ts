/**
 * REVIEW (wt/review): item_reference amplification. A request of a few KB naming one stored output
 * item 2,048 times is expanded into 2,048 copies of that item and sent upstream. With a ~500 KB item
 * (stored under the default 1 MiB bound) that is ~1 GiB built in memory and sent to the provider from a
 * ~100 KB request; here a 16 KB item × 1,024 references becomes a ~16 MiB provider request — twice the
 * 8 MiB the gateway refuses for a /v1/chat/completions body. Expected: a 400/413 naming the bound
 * (duplicate references refused, or the resolved input bounded like a chat body), nothing sent upstream.
 * FAILS TODAY: the gateway answers 200 and the provider receives the whole expansion.
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

  // REVIEW: responses-routes.ts unavailable() and responses-state.ts unreachable() put the database
  // driver's own message into the client's problem detail (the actions domain's auditUnavailable keeps
  // it as `cause`, for the log only). A connection failure then tells any key the database's address
  // ("connect ECONNREFUSED 10.0.3.7:5432"), a schema fault its table names. FAILS TODAY.
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

  // REVIEW: expired responses are deleted only by a later insert (responses-store.ts saveResponse).
  // The periodic sweep (app.ts sweep(): Node timer / Cron Trigger) leaves them, so an idle deployment,
  // or one that set RESPONSES_RETENTION_DAYS=0 to stop keeping conversations (no insert ever comes
  // again), keeps every past conversation in llm_responses indefinitely. FAILS TODAY.
  it('the periodic sweep deletes expired stored responses (not only a later insert)', async () => {
    llm.reset();
    const created = (await (await post({ model: 'execution', input: 'short-lived secret' })).json()) as { id: string };
    await admin`update llm_responses set expires_at = now() - interval '1 second' where id = ${created.id}`;
    await app.sweep();
    expect(await admin`select 1 from llm_responses where id = ${created.id}`).toHaveLength(0);
  });
});
