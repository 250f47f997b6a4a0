/**
 * GET /v1/models lists the models a key may call, by the gate's own predicates. A task served by
 * several deployments may carry its prices on the deployments (models.yaml): a key that may not call
 * unpriced models calls it all the same, so it is listed. Node only: workerd runs the bundled
 * config/models.yaml, which lists no deployments.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiKeys, headers, keys, migratedDatabase } from './support/actions.js';
import type { TestDatabase } from './support/databases.js';
import { chatCompletion, startFakeLLM } from './support/fake-llm.js';
import { type RuntimeHandle, startRuntime } from './support/runtimes.js';

function modelsFile(llmUrl: string): string {
  const file = join(mkdtempSync(join(tmpdir(), 'myca-models-listing-')), 'models.yaml');
  writeFileSync(
    file,
    `providers:
  east: { type: openai, api_key: test-east, base_url: "${llmUrl}/v1" }
  west: { type: openai, api_key: test-west, base_url: "${llmUrl}/v1" }
models:
  execution:
    deployments:
      - { name: east, provider: east, model: mini-east, cost: { input: 0.15, output: 0.6 } }
      - { name: west, provider: west, model: mini-west, cost: { input: 0.15, output: 0.6 } }
  fast:
    provider: east
    model: mini-fast
    cost: { input: 0.1, output: 0.4 }
routing:
  retries: 0
  rate_limit: { requests_per_minute: 0 }
`,
  );
  return file;
}

describe('the models a key may call, on node', () => {
  let database: TestDatabase;
  let llm: Awaited<ReturnType<typeof startFakeLLM>>;
  let app: RuntimeHandle;

  beforeAll(async () => {
    database = await migratedDatabase();
    llm = await startFakeLLM();
    app = await startRuntime('node', { DATABASE_URL: database.url, MYCA_API_KEYS: apiKeys, MODELS_CONFIG: modelsFile(llm.url) });
  });
  afterAll(async () => {
    await app?.close();
    await llm?.close();
    await database?.drop();
  });

  it('lists a task whose prices are on its deployments to a key that may not call unpriced models, as the key may call it', async () => {
    for (const model of ['mini-east', 'mini-west'])
      llm.always(model, {
        status: 200,
        body: chatCompletion(model, { content: 'ok' }, { prompt_tokens: 1, completion_tokens: 1, total_tokens: 2 }),
      });
    const made = await app.fetch('/v1/keys', {
      method: 'POST',
      headers: headers(keys.admin),
      body: JSON.stringify({ name: 'priced only' }),
    });
    expect(made.status).toBe(201);
    const { secret } = (await made.json()) as { secret: string };

    const called = await app.fetch('/v1/chat/completions', {
      method: 'POST',
      headers: headers(secret),
      body: JSON.stringify({ model: 'execution', messages: [{ role: 'user', content: 'hi' }] }),
    });
    expect(called.status, await called.clone().text()).toBe(200);
    const listed = (await (await app.fetch('/v1/models', { headers: headers(secret) })).json()) as { data: Array<{ id: string }> };
    expect(listed.data.map((model) => model.id).sort()).toEqual(['execution', 'fast']);
  });
});
