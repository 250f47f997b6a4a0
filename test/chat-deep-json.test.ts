import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { apiKeys, headers, keys, migratedDatabase } from './support/actions.js';
import type { TestDatabase } from './support/databases.js';
import { completionReply, fakeProviderEnv, startFakeLLM } from './support/fake-llm.js';
import { RUNTIMES, type RuntimeHandle, startRuntime } from './support/runtimes.js';

// JSON nested deeper than the stack can walk (JSON.parse takes it; a recursive walk or
// JSON.stringify of it throws RangeError). Such a body fits the 8 MiB chat limit many times over.
const DEPTH = 100_000;
const deepObject = `${'{"a":'.repeat(DEPTH)}1${'}'.repeat(DEPTH)}`;
const hello = '[{"role":"user","content":"hello"}]';

describe.each(RUNTIMES)('chat requests holding very deeply nested JSON on %s', (runtime) => {
  let database: TestDatabase;
  let app: RuntimeHandle;
  let llm: Awaited<ReturnType<typeof startFakeLLM>>;

  beforeAll(async () => {
    database = await migratedDatabase();
    llm = await startFakeLLM();
    app = await startRuntime(runtime, {
      DATABASE_URL: database.url,
      MYCA_API_KEYS: apiKeys,
      ...fakeProviderEnv(llm.url),
      LLM_RETRIES: '0',
      LLM_RATE_LIMIT_RPM: '0',
    });
  });
  afterAll(async () => {
    await app?.close();
    await llm?.close();
    await database?.drop();
  });
  beforeEach(() => llm.reset());

  const post = (path: string, body: string, key = keys.agent) => app.fetch(path, { method: 'POST', headers: headers(key), body });

  it.each([
    [
      '/v1/chat/completions',
      `{"model":"planning","messages":${hello},"tools":[{"type":"function","function":{"name":"f","parameters":${deepObject}}}]}`,
    ],
    ['/v1/responses', `{"model":"planning","input":"hello","text":{"format":{"type":"json_schema","name":"x","schema":${deepObject}}}}`],
  ])('answers %s with a 4xx when a schema in it is nested too deep, not a 500', async (path, body) => {
    const response = await post(path, body);
    const problem = (await response.json()) as { code?: string; detail?: string };
    expect(response.status, `${response.status} ${problem.code}: ${problem.detail}`).toBeLessThan(500);
  });

  it("does not count a request it cannot serialize against the provider: one key's bodies do not open the breaker for every key", async () => {
    llm.always('gpt-4o', completionReply('gpt-4o', { content: 'fine' }));
    const before = await post('/v1/chat/completions', `{"model":"openai/gpt-4o","messages":${hello}}`, keys.agent2);
    expect(((await before.json()) as { model?: string }).model).toBe('gpt-4o');
    // The breaker opens after 5 failures in 30 s (models.yaml routing.breaker); no fallback here.
    const statuses: number[] = [];
    for (let i = 0; i < 6; i++) {
      const response = await post('/v1/chat/completions', `{"model":"openai/gpt-4o","messages":${hello},"metadata":${deepObject}}`);
      statuses.push(response.status);
    }
    // Another key's ordinary request to the same model.
    const other = await post('/v1/chat/completions', `{"model":"openai/gpt-4o","messages":${hello}}`, keys.agent2);
    const body = (await other.json()) as {
      code?: string;
      detail?: string;
      model?: string;
      choices?: Array<{ message: { content: string } }>;
    };
    expect(
      other.status,
      `after deep requests answered ${statuses.join(', ')}, another key got ${other.status} ${body.code}: ${body.detail}`,
    ).toBe(200);
    expect(body.choices?.[0]?.message.content, `answered by ${body.model}, not gpt-4o: gpt-4o's breaker is open`).toBe('fine');
  });
});
