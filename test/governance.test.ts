/**
 * Per-key policy in chat-route (issue 18): two instances of each runtime share one Postgres and the
 * real Redis (through the project's Upstash REST server); 50 concurrent requests split between them.
 */
import postgres from 'postgres';
import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from 'vitest';
import { spendWriter } from '../shared/governance/spend.js';
import { apiKeys, headers, keys, migratedDatabase } from './support/actions.js';
import type { TestDatabase } from './support/databases.js';
import { chatCompletion, fakeProviderEnv, readSse, startFakeLLM } from './support/fake-llm.js';
import { eventually, RUNTIMES, type RuntimeHandle, startRuntime } from './support/runtimes.js';

/**
 * Every call answers 8 prompt + 20 completion tokens: a request with max_tokens 20 and "hi" reserves
 * exactly that (⌈2/3⌉ + 4 for the message + 3 for the reply, + 20).
 */
const USAGE = { prompt_tokens: 8, completion_tokens: 20, total_tokens: 28 };
/** gpt-4o's price in config/models.yaml: 2.5 and 10 USD per 1M tokens. */
const COST = (8 * 2.5 + 20 * 10) / 1_000_000;
const chunk = (rest: Record<string, unknown>) =>
  JSON.stringify({ id: 'c1', object: 'chat.completion.chunk', created: 1, model: 'gpt-4o', ...rest });
const STREAM = [
  chunk({ choices: [{ index: 0, delta: { role: 'assistant', content: 'ok' }, finish_reason: null }] }),
  chunk({ choices: [{ index: 0, delta: {}, finish_reason: 'stop' }] }),
  chunk({ choices: [], usage: USAGE }),
  '[DONE]',
];

interface Problem {
  code: string;
  resets_at: string;
}

describe.each(RUNTIMES)('key policy in chat-route on %s (two instances, real Postgres and Redis)', (runtime) => {
  let database: TestDatabase;
  let sql: postgres.Sql;
  let llm: Awaited<ReturnType<typeof startFakeLLM>>;
  let a: RuntimeHandle;
  let b: RuntimeHandle;

  const makeKey = async (body: Record<string, unknown>) => {
    const response = await a.fetch('/v1/keys', {
      method: 'POST',
      headers: headers(keys.admin),
      body: JSON.stringify({ name: 't', ...body }),
    });
    expect(response.status).toBe(201);
    return (await response.json()) as { id: string; secret: string };
  };
  const ask = (app: RuntimeHandle, secret: string, body: Record<string, unknown> = {}, extra: Record<string, string> = {}) =>
    app.fetch('/v1/chat/completions', {
      method: 'POST',
      headers: { ...headers(secret), ...extra },
      body: JSON.stringify({ model: 'planning', max_tokens: 20, messages: [{ role: 'user', content: 'hi' }], ...body }),
    });
  /** 50 requests at once, 25 through each instance. */
  const burst = (secret: string) => Promise.all(Array.from({ length: 50 }, (_, i) => ask(i % 2 ? b : a, secret)));
  /** Stays inside one minute window (RPM and TPM windows are fixed minutes). */
  const sameMinute = async () => {
    const into = Date.now() % 60_000;
    if (into > 50_000) await new Promise((resolve) => setTimeout(resolve, 60_000 - into + 100));
  };
  /** Every spend row written (Node buffers them; workerd writes each at once, in the background). */
  const written = async (keyId: string, count: number) => {
    for (const app of [a, b]) if (app.services) await spendWriter(app.services).flush();
    const deadline = Date.now() + 5000;
    for (;;) {
      const rows = await sql`select * from llm_spend where key_id = ${keyId} order by id`;
      if (rows.length >= count || Date.now() > deadline) return rows;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  };

  beforeAll(async () => {
    database = await migratedDatabase();
    sql = postgres(database.url, { max: 2, onnotice: () => {} });
    llm = await startFakeLLM();
    const env = {
      ...fakeProviderEnv(llm.url),
      DATABASE_URL: database.url,
      MYCA_API_KEYS: apiKeys,
      UPSTASH_REDIS_REST_URL: inject('upstashUrl'),
      UPSTASH_REDIS_REST_TOKEN: inject('upstashToken'),
    };
    [a, b] = await Promise.all([startRuntime(runtime, env), startRuntime(runtime, env)]);
  });
  afterEach(() => {
    llm.reset();
  });

  it('reading and deleting stored responses count against a key’s own rpm (they pass no key gate)', async () => {
    const key = await makeKey({ rpm: 3 });
    await sameMinute();
    const statuses: number[] = [];
    for (let i = 0; i < 5; i++)
      statuses.push((await a.fetch(`/v1/responses/resp_${'0'.repeat(24)}`, { headers: headers(key.secret) })).status);
    expect(statuses).toEqual([404, 404, 404, 429, 429]);
  });

  it('a key made through the API acts through /v1/actions as the agents it lists, and only those', async () => {
    const act = (secret: string, body: Record<string, unknown>) =>
      a.fetch('/v1/actions', {
        method: 'POST',
        headers: headers(secret, crypto.randomUUID()),
        body: JSON.stringify({ type: 'file.read', input: { path: 'species/index.md' }, ...body }),
      });
    const mycology = await makeKey({ agents: ['mycology'] });
    const bare = await makeKey({});
    const own = await act(mycology.secret, {});
    const ownBody = (await own.json()) as { agent_id?: string; detail?: string };
    expect(own.status, JSON.stringify(ownBody)).not.toBe(403);
    expect(ownBody.agent_id).toBe('mycology');
    const other = await act(mycology.secret, { agent_id: 'financial' });
    expect(other.status).toBe(403);
    expect(((await other.json()) as { detail: string }).detail).toMatch(/may not act as the agent "financial"/);
    const none = await act(bare.secret, {});
    expect(none.status).toBe(403);
    expect(((await none.json()) as { detail: string }).detail).toMatch(/acts as no agent/);
  });
  afterAll(async () => {
    await a?.close();
    await b?.close();
    await llm?.close();
    await sql?.end();
    await database?.drop();
  });

  /** Calls held open 300 ms, so the whole burst is in flight together. */
  const slowAnswers = () =>
    llm.always('gpt-4o', { status: 200, body: chatCompletion('gpt-4o', { content: 'ok' }, USAGE), bodyDelayMs: 300 });

  it('RPM: exactly the limit of 50 concurrent requests is served; the rest get 429 rate_limited with retry-after and the reset time', async () => {
    slowAnswers();
    const key = await makeKey({ rpm: 7 });
    await sameMinute();
    const responses = await burst(key.secret);
    expect(responses.filter((r) => r.status === 200)).toHaveLength(7);
    const refused = responses.filter((r) => r.status === 429);
    expect(refused).toHaveLength(43);
    const problem = (await (refused[0] as Response).json()) as Problem;
    expect(problem.code).toBe('RATE_LIMITED');
    expect(Number(refused[0]?.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(Date.parse(problem.resets_at) % 60_000).toBe(0);
    expect(llm.requests).toHaveLength(7);
  });

  it('TPM: exactly what fits is served, the rest get 429 tokens_exhausted; the counter ends at the real usage', async () => {
    slowAnswers();
    const key = await makeKey({ tpm: 9 * USAGE.total_tokens });
    await sameMinute();
    const responses = await burst(key.secret);
    expect(responses.filter((r) => r.status === 200)).toHaveLength(9);
    const refused = responses.filter((r) => r.status === 429);
    expect(((await (refused[0] as Response).json()) as Problem).code).toBe('TOKENS_EXHAUSTED');
    const usage = (await (await b.fetch(`/v1/keys/${key.id}`, { headers: headers(keys.admin) })).json()) as {
      usage: { tokens_this_minute: number };
    };
    expect(usage.usage.tokens_this_minute).toBe(9 * USAGE.total_tokens);
  });

  it('budget: never passed under 50 concurrent requests; 429 budget_exceeded with the reset time; spend rows add up to the providers’ usage', async () => {
    slowAnswers();
    const key = await makeKey({ budget_usd: Number((11 * COST).toFixed(9)), budget_period: 'day' });
    const responses = await burst(key.secret);
    expect(responses.filter((r) => r.status === 200)).toHaveLength(11);
    const refused = responses.filter((r) => r.status === 429);
    const problem = (await (refused[0] as Response).json()) as Problem;
    expect(problem.code).toBe('BUDGET_EXCEEDED');
    const midnight = new Date();
    midnight.setUTCHours(24, 0, 0, 0);
    expect(problem.resets_at).toBe(midnight.toISOString());
    const rows = await written(key.id, 11);
    expect(rows).toHaveLength(11);
    expect(rows.every((row) => row.status === 'ok' && row.provider === 'openai' && row.model === 'gpt-4o' && row.attempts === 1)).toBe(
      true,
    );
    expect(rows.reduce((sum, row) => sum + row.prompt_tokens + row.completion_tokens, 0)).toBe(11 * USAGE.total_tokens);
    expect(rows.reduce((sum, row) => sum + Number(row.cost_usd), 0)).toBeCloseTo(11 * COST, 12);
    const spend = (await (await a.fetch('/v1/spend?group_by=key', { headers: headers(keys.admin) })).json()) as {
      data: Array<{ group: string; requests: number; cost_usd: number; prompt_tokens: number }>;
    };
    expect(spend.data.find((row) => row.group === key.id)).toMatchObject({ requests: 11, prompt_tokens: 11 * USAGE.prompt_tokens });
    if (a.services?.renderMetrics && b.services?.renderMetrics) {
      // The metrics of both instances add up to the rows.
      let tokens = 0;
      for (const text of [await a.services.renderMetrics(), await b.services.renderMetrics()]) {
        for (const match of text.matchAll(new RegExp(`llm_tokens_total\\{[^}]*key="${key.id}"[^}]*\\} (\\d+)`, 'g')))
          tokens += Number(match[1]);
      }
      expect(tokens).toBe(11 * USAGE.total_tokens);
    }
  });

  it('streamed usage counts like non-streamed usage; its info log line carries usage and cost', async () => {
    llm.always('gpt-4o', { sse: STREAM });
    const key = await makeKey({ tpm: 1000, budget_usd: 1, budget_period: 'month' });
    await sameMinute();
    const streamed = await ask(a, key.secret, { stream: true });
    expect(streamed.status).toBe(200);
    expect((await readSse(streamed)).at(-1)?.data).toBe('[DONE]');
    const view = async () =>
      (
        (await (await a.fetch(`/v1/keys/${key.id}`, { headers: headers(keys.admin) })).json()) as {
          usage: { tokens_this_minute: number; budget_used_usd: number };
        }
      ).usage;
    const deadline = Date.now() + 3000;
    while ((await view()).tokens_this_minute !== USAGE.total_tokens && Date.now() < deadline)
      await new Promise((resolve) => setTimeout(resolve, 50));
    expect(await view()).toMatchObject({ tokens_this_minute: USAGE.total_tokens, budget_used_usd: Number(COST.toFixed(9)) });
    const line = await eventually(() => a.logs().find((entry) => entry.msg === 'stream finished' && entry.level === 'info'));
    expect(line).toMatchObject({ usage: USAGE });
    expect(line.cost_usd).toBeCloseTo(COST, 12);
    const rows = await written(key.id, 1);
    expect(rows[0]).toMatchObject({ stream: true, status: 'ok', prompt_tokens: 8, completion_tokens: 20 });
  });

  it('a stream its client leaves mid-answer is charged at an estimate of what it was sent, never free', async () => {
    // 30 characters of answer a chunk, half a second apart; the client leaves after the second.
    const piece = 'spore '.repeat(5);
    const content = (text: string) => chunk({ choices: [{ index: 0, delta: { content: text }, finish_reason: null }] });
    llm.always('gpt-4o', {
      sse: [content(piece), content(piece), content(piece), STREAM[1] as string, chunk({ choices: [], usage: USAGE }), '[DONE]'],
      delayMs: 500,
    });
    const key = await makeKey({ tpm: 10_000, budget_usd: 1, budget_period: 'month' });
    await sameMinute();
    const streamed = await ask(a, key.secret, { stream: true, max_tokens: 500 });
    expect(streamed.status).toBe(200);
    const reader = (streamed.body as ReadableStream<Uint8Array>).getReader();
    const decoder = new TextDecoder();
    let text = '';
    while (text.split(piece).length - 1 < 2) {
      const { value, done } = await reader.read();
      if (done) throw new Error(`the stream ended early: ${text}`);
      text += decoder.decode(value, { stream: true });
    }
    await reader.cancel();

    const [row] = await written(key.id, 1);
    expect(Number(row?.cost_usd)).toBeGreaterThan(0);
    if (runtime === 'workerd' && row?.status === 'ok') {
      // workerd learns that a client left only when a write to it fails: here the rest was read and
      // sent first, so the call is counted at the provider's own usage.
      expect(row).toMatchObject({ stream: true, prompt_tokens: 8, completion_tokens: 20 });
      return;
    }
    // The prompt at its estimate (8, as reserved); the answer at ⌈characters / 3⌉ of the text sent:
    // two chunks of 30 characters (a third may have been read as the client left), never past max_tokens.
    expect(row).toMatchObject({ stream: true, status: 'client_closed', prompt_tokens: 8 });
    expect(row?.completion_tokens).toBeGreaterThanOrEqual(20);
    expect(row?.completion_tokens).toBeLessThanOrEqual(30);
    const line = await eventually(() => a.logs().find((entry) => entry.msg === 'stream finished' && entry.usage_estimated === true));
    expect(line.usage).toMatchObject({ prompt_tokens: 8, completion_tokens: row?.completion_tokens });
  });

  it('a stream its client closes after the finish reason is charged the answer the provider reports, its hidden reasoning included', async () => {
    // A reasoning model: 2000 completion tokens, 1970 of them reasoning the stream never shows; the
    // usage chunk comes 500 ms after the finish reason, the answer itself is finished by then.
    const reasoning = {
      prompt_tokens: 8,
      completion_tokens: 2000,
      total_tokens: 2008,
      completion_tokens_details: { reasoning_tokens: 1970 },
    };
    const content = (text: string) => chunk({ choices: [{ index: 0, delta: { content: text }, finish_reason: null }] });
    llm.always('gpt-4o', {
      sse: [
        content('spore '.repeat(5)),
        content('spore '.repeat(5)),
        STREAM[1] as string,
        chunk({ choices: [], usage: reasoning }),
        '[DONE]',
      ],
      delayMs: 500,
    });
    const key = await makeKey({ tpm: 100_000, budget_usd: 1, budget_period: 'month' });
    await sameMinute();
    const streamed = await ask(a, key.secret, { stream: true, max_tokens: 4000 });
    expect(streamed.status).toBe(200);
    const reader = (streamed.body as ReadableStream<Uint8Array>).getReader();
    const decoder = new TextDecoder();
    let text = '';
    while (!text.includes('"finish_reason":"stop"')) {
      const { value, done } = await reader.read();
      if (done) throw new Error(`the stream ended before its finish reason: ${text}`);
      text += decoder.decode(value, { stream: true });
    }
    await reader.cancel();

    const [row] = await written(key.id, 1);
    expect(row?.completion_tokens, `counted ${row?.status}`).toBeGreaterThanOrEqual(2000);
  });

  it('model allow-list, unpriced models and the agents a key may act as', async () => {
    llm.always('gpt-4o', { status: 200, body: chatCompletion('gpt-4o', { content: 'ok' }, USAGE) });
    llm.always('gpt-4o-mini', { status: 200, body: chatCompletion('gpt-4o-mini', { content: 'ok' }, USAGE) });
    const listed = await makeKey({ models: ['execution', 'openai/gpt-4o-*'], agents: ['mycology'] });
    expect((await ask(a, listed.secret, { model: 'planning' })).status).toBe(403);
    expect((await ask(b, listed.secret, { model: 'execution' })).status).toBe(200);
    expect((await ask(b, listed.secret, { model: 'openai/gpt-4o-mini' })).status).toBe(200);
    // Unpriced (an ad-hoc provider/model): refused unless the key allows it.
    const adhoc = { model: 'openai/o1-pro-expensive' };
    const plain = await makeKey({});
    const refused = await ask(a, plain.secret, adhoc);
    expect(refused.status).toBe(403);
    expect(((await refused.json()) as { detail: string }).detail).toContain('no configured price');
    const free = await makeKey({ allow_unpriced: true });
    expect((await ask(a, free.secret, adhoc)).status).toBe(200);
    // GET /v1/models lists what each key may call, no more.
    const models = async (secret: string) =>
      ((await (await b.fetch('/v1/models', { headers: headers(secret) })).json()) as { data: Array<{ id: string }> }).data.map(
        (model) => model.id,
      );
    expect(await models(listed.secret)).toEqual(['execution']);
    expect(await models(plain.secret)).toEqual(['planning', 'execution', 'fast', 'review', 'embedding']);
    // Agents: the one listed, none other; the spend row names it.
    expect((await ask(a, listed.secret, { model: 'execution' }, { 'x-myca-agent': 'financial' })).status).toBe(403);
    expect((await ask(a, listed.secret, { model: 'execution' }, { 'x-myca-agent': 'Not An Agent' })).status).toBe(400);
    const run = 'run-42';
    expect((await ask(a, listed.secret, { model: 'execution' }, { 'x-myca-agent': 'mycology', 'x-myca-run': run })).status).toBe(200);
    const rows = await written(listed.id, 3);
    expect(rows.find((row) => row.run_id === run)).toMatchObject({ agent: 'mycology', task: 'execution', model: 'gpt-4o-mini' });
    // Keys of MYCA_API_KEYS keep today's behaviour (unpriced allowed by LLM_ALLOW_UNPRICED's default).
    expect((await ask(a, keys.agent, adhoc)).status).toBe(200);
  });

  it('the periodic sweep deletes spend rows past LLM_SPEND_RETENTION_DAYS (default 400) and keeps the recent ones', async () => {
    const keyId = `vk_${runtime === 'node' ? 'a' : 'b'}${'0'.repeat(22)}1`;
    await sql`
      insert into llm_spend (at, key_id, correlation_id, task, latency_ms, status, attempts)
      values (now() - interval '401 days', ${keyId}, 'old', 'planning', 1, 'ok', 1),
             (now() - interval '399 days', ${keyId}, 'recent', 'planning', 1, 'ok', 1)`;
    await a.sweep();
    const rows = await sql`select correlation_id from llm_spend where key_id = ${keyId}`;
    expect(rows.map((row) => row.correlation_id)).toEqual(['recent']);
  });

  /** An embeddings call; 8 token ids: the estimate is exact, as the fixture's usage (8 prompt tokens). */
  const embed = (app: RuntimeHandle, secret: string, body: Record<string, unknown> = {}, extra: Record<string, string> = {}) =>
    app.fetch('/v1/embeddings', {
      method: 'POST',
      headers: { ...headers(secret), ...extra },
      body: JSON.stringify({ input: [[1, 2, 3, 4, 5, 6, 7, 8]], ...body }),
    });
  const embedBurst = (secret: string, count: number) => Promise.all(Array.from({ length: count }, (_, i) => embed(i % 2 ? b : a, secret)));
  /** text-embedding-3-small's price in config/models.yaml: 0.02 USD per 1M input tokens; the fixture reports 8. */
  const EMBED_COST = (8 * 0.02) / 1_000_000;

  it('embeddings: the model allow-list applies as to chat (403); one spend row of kind embedding per call, chat rows are kind chat', async () => {
    const chatOnly = await makeKey({ models: ['planning'] });
    const refused = await embed(a, chatOnly.secret);
    expect(refused.status).toBe(403);
    expect(((await refused.json()) as { code: string; detail: string }).detail).toContain('may not use "embedding"');
    expect((await embed(b, chatOnly.secret, { model: 'text-embedding-3-small' })).status).toBe(403);
    expect(llm.requests).toHaveLength(0);
    const listed = await makeKey({ models: ['embedding', 'planning'], agents: ['mycology'] });
    expect((await embed(a, listed.secret, {}, { 'x-myca-agent': 'financial' })).status).toBe(403);
    expect((await embed(a, listed.secret, { input: 'spores' }, { 'x-myca-run': 'run-e1' })).status).toBe(200);
    llm.always('gpt-4o', { status: 200, body: chatCompletion('gpt-4o', { content: 'ok' }, USAGE) });
    expect((await ask(b, listed.secret)).status).toBe(200);
    const rows = await written(listed.id, 2);
    expect(rows).toHaveLength(2);
    const embedded = rows.find((row) => row.kind === 'embedding');
    expect(embedded).toMatchObject({
      task: 'embedding',
      agent: 'mycology',
      run_id: 'run-e1',
      provider: 'openai',
      model: 'text-embedding-3-small',
      prompt_tokens: 8,
      completion_tokens: 0,
      status: 'ok',
      attempts: 1,
      stream: false,
    });
    expect(Number(embedded?.cost_usd)).toBeCloseTo(EMBED_COST, 12);
    expect(rows.find((row) => row.kind === 'chat')).toMatchObject({ task: 'planning', model: 'gpt-4o' });
    // GET /v1/spend sums them per kind too (this database holds other keys' chat rows as well).
    const byKind = (await (await a.fetch('/v1/spend?group_by=kind', { headers: headers(keys.admin) })).json()) as {
      data: Array<{ group: string; requests: number }>;
    };
    expect(byKind.data.map((group) => group.group).sort()).toEqual(['chat', 'embedding']);
  });

  it('embeddings: RPM and TPM (input tokens) hold exactly under concurrent calls on two instances', async () => {
    llm.always('text-embedding-3-small', { delayMs: 300 });
    const limited = await makeKey({ rpm: 3 });
    const tokens = await makeKey({ tpm: 3 * 8 });
    await sameMinute();
    const [byRequests, byTokens] = await Promise.all([embedBurst(limited.secret, 10), embedBurst(tokens.secret, 10)]);
    expect(byRequests.filter((r) => r.status === 200)).toHaveLength(3);
    expect(((await (byRequests.find((r) => r.status === 429) as Response).json()) as Problem).code).toBe('RATE_LIMITED');
    expect(byTokens.filter((r) => r.status === 200)).toHaveLength(3);
    expect(((await (byTokens.find((r) => r.status === 429) as Response).json()) as Problem).code).toBe('TOKENS_EXHAUSTED');
    expect(llm.requests).toHaveLength(6);
  });

  it('embeddings: a tiny budget is never passed; 429 budget_exceeded once spent; the rows add up to it', async () => {
    llm.always('text-embedding-3-small', { delayMs: 300 });
    // 1 µUSD: six calls of 8 tokens (0.16 µUSD each) fit, a seventh does not.
    const key = await makeKey({ budget_usd: 0.000001, budget_period: 'day' });
    const responses = await embedBurst(key.secret, 10);
    expect(responses.filter((r) => r.status === 200)).toHaveLength(6);
    const refused = responses.filter((r) => r.status === 429);
    expect(refused).toHaveLength(4);
    expect(((await (refused[0] as Response).json()) as Problem).code).toBe('BUDGET_EXCEEDED');
    const later = await embed(a, key.secret);
    expect(later.status).toBe(429);
    const rows = await written(key.id, 6);
    expect(rows).toHaveLength(6);
    expect(rows.every((row) => row.kind === 'embedding' && row.status === 'ok')).toBe(true);
    expect(rows.reduce((sum, row) => sum + Number(row.cost_usd), 0)).toBeCloseTo(6 * EMBED_COST, 12);
    const view = (await (await b.fetch(`/v1/keys/${key.id}`, { headers: headers(keys.admin) })).json()) as {
      usage: { budget_used_usd: number };
    };
    expect(view.usage.budget_used_usd).toBeCloseTo(6 * EMBED_COST, 12);
  });
});
