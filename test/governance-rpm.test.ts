/**
 * One rpm for all of a key's requests: a key made through the API with rpm N got N governed POSTs
 * and, on a separate counter, another N GET/DELETE /v1/responses/:id a minute (an outside review's case).
 */
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { apiKeys, headers, keys, migratedDatabase } from './support/actions.js';
import type { TestDatabase } from './support/databases.js';
import { chatCompletion, fakeProviderEnv, startFakeLLM } from './support/fake-llm.js';
import { type RuntimeHandle, startRuntime } from './support/runtimes.js';

const USAGE = { prompt_tokens: 8, completion_tokens: 20, total_tokens: 28 };

describe('one rpm for all of a key’s requests (node, real Postgres and Redis)', () => {
  let database: TestDatabase;
  let llm: Awaited<ReturnType<typeof startFakeLLM>>;
  let a: RuntimeHandle;

  beforeAll(async () => {
    database = await migratedDatabase();
    llm = await startFakeLLM();
    a = await startRuntime('node', {
      ...fakeProviderEnv(llm.url),
      DATABASE_URL: database.url,
      MYCA_API_KEYS: apiKeys,
      UPSTASH_REDIS_REST_URL: inject('upstashUrl'),
      UPSTASH_REDIS_REST_TOKEN: inject('upstashToken'),
    });
  });
  afterAll(async () => {
    await a?.close();
    await llm?.close();
    await database?.drop();
  });

  it('a key with rpm 3 is refused its 4th request of the minute, whatever mix of chat and stored-response reads', async () => {
    llm.always('gpt-4o', { status: 200, body: chatCompletion('gpt-4o', { content: 'ok' }, USAGE) });
    const made = await a.fetch('/v1/keys', { method: 'POST', headers: headers(keys.admin), body: JSON.stringify({ name: 'rpm', rpm: 3 }) });
    expect(made.status).toBe(201);
    const key = (await made.json()) as { secret: string };
    const into = Date.now() % 60_000;
    if (into > 45_000) await new Promise((resolve) => setTimeout(resolve, 60_000 - into + 100));
    const statuses: number[] = [];
    for (let i = 0; i < 3; i++)
      statuses.push(
        (
          await a.fetch('/v1/chat/completions', {
            method: 'POST',
            headers: headers(key.secret),
            body: JSON.stringify({ model: 'planning', max_tokens: 20, messages: [{ role: 'user', content: 'hi' }] }),
          })
        ).status,
      );
    for (let i = 0; i < 3; i++)
      statuses.push((await a.fetch(`/v1/responses/resp_${'0'.repeat(24)}`, { headers: headers(key.secret) })).status);
    expect(statuses.slice(0, 3)).toEqual([200, 200, 200]);
    expect(statuses.slice(3)).toEqual([429, 429, 429]);
  }, 90_000);
});
