import { mkdtempSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { serve } from '@hono/node-server';
import OpenAI from 'openai';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../functions/app.js';
import { startFakeLLM } from './support/fake-llm.js';
import { type RuntimeHandle, startRuntime } from './support/runtimes.js';

const agentKey = `myca_${'d4'.repeat(16)}`;

/** A models file with every provider type, each pointed at the loopback fake. */
function modelsFile(llmUrl: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'myca-models-'));
  const file = join(dir, 'models.yaml');
  writeFileSync(
    file,
    `providers:
  openai: { type: openai, api_key: test-openai, base_url: "${llmUrl}/v1" }
  azure: { type: azure, api_key: test-azure, endpoint: "${llmUrl}", api_version: "2024-10-21" }
  local: { type: openai_compatible, base_url: "${llmUrl}/ollama/v1" }
  refused: { type: openai_compatible, base_url: "http://127.0.0.1:9/v1" }
models:
  planning: { provider: openai, model: gpt-4o, timeout_ms: 400, cost: { input: 2.5, output: 10 } }
  azure-chat: { provider: azure, model: my-gpt4o-deployment }
  local-chat: { provider: local, model: llama3.1 }
  dead: { provider: refused, model: nothing }
  embedding: { provider: openai, model: text-embedding-3-small, kind: embedding }
routing:
  fallback_chain: [planning, local-chat]
  retries: 0
  backoff_ms: 5
  breaker: { failures: 2, window_ms: 60000, cooldown_ms: 300 }
  rate_limit: { requests_per_minute: 40 }
`,
  );
  return file;
}

describe('the official openai client against MYCA Edge over HTTP (node)', () => {
  let llm: Awaited<ReturnType<typeof startFakeLLM>>;
  let app: RuntimeHandle;
  let server: ReturnType<typeof serve>;
  let client: OpenAI;

  beforeAll(async () => {
    llm = await startFakeLLM();
    app = await startRuntime('node', { MYCA_API_KEYS: `planner:agent:${agentKey}`, MODELS_CONFIG: modelsFile(llm.url) });
    if (!app.services) throw new Error('the node runtime exposes its services');
    const hono = createApp(app.services);
    server = await new Promise((resolve) => {
      const created = serve({ fetch: hono.fetch, hostname: '127.0.0.1', port: 0 }, () => resolve(created));
    });
    client = new OpenAI({ apiKey: agentKey, baseURL: `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`, maxRetries: 0 });
  });
  afterEach(() => llm.reset());
  afterAll(async () => {
    server?.close();
    await app?.close();
    await llm?.close();
  });

  it('chat, stream and embeddings work unchanged through the SDK', async () => {
    const completion = await client.chat.completions.create({ model: 'planning', messages: [{ role: 'user', content: 'hi' }] });
    expect(completion.choices[0]?.message.content).toBe('Hello! How can I assist you today?');

    const stream = await client.chat.completions.create({ model: 'planning', messages: [{ role: 'user', content: 'hi' }], stream: true });
    let text = '';
    for await (const chunk of stream) text += chunk.choices[0]?.delta.content ?? '';
    expect(text).toBe('Hello there');

    const embeddings = await client.embeddings.create({ model: 'embedding', input: ['spores'] });
    expect(embeddings.data[0]?.embedding).toHaveLength(3);
    expect(embeddings.data[0]?.embedding[0]).toBeCloseTo(0.0023064255, 6);

    const models = await client.models.list();
    expect(models.data.map((m) => m.id)).toContain('planning');
  });

  it('a cut stream makes the SDK throw instead of ending quietly', async () => {
    const head = (await import('./support/fake-llm.js')).fixture('openai-chat-stream.jsonl').trim().split('\n').slice(0, 2);
    llm.queue('gpt-4o', { sse: head, delayMs: 50, after: 'drop' });
    const stream = await client.chat.completions.create({ model: 'planning', messages: [{ role: 'user', content: 'hi' }], stream: true });
    const read = async () => {
      for await (const _chunk of stream) {
        // consume
      }
    };
    await expect(read()).rejects.toThrow(/stream/i);
  });

  it('speaks Azure’s deployment paths and any OpenAI-compatible server', async () => {
    await client.chat.completions.create({ model: 'azure-chat', messages: [{ role: 'user', content: 'hi' }] });
    const azure = llm.requests.at(-1);
    expect(azure?.path).toBe('/openai/deployments/my-gpt4o-deployment/chat/completions?api-version=2024-10-21');
    expect(azure?.headers['api-key']).toBe('test-azure');

    await client.chat.completions.create({ model: 'local-chat', messages: [{ role: 'user', content: 'hi' }] });
    expect(llm.requests.at(-1)).toMatchObject({ path: '/ollama/v1/chat/completions', model: 'llama3.1' });
  });

  it('falls back on a timeout and on a refused connection', async () => {
    llm.queue('gpt-4o', { hang: true });
    const response = await client.chat.completions
      .create({ model: 'planning', messages: [{ role: 'user', content: 'hi' }] })
      .withResponse();
    expect(response.response.headers.get('x-myca-model')).toBe('llama3.1');

    // The cut stream of the test before and this timeout are two failures of gpt-4o: its breaker
    // (2 failures, 300 ms cooldown) is open; after the cooldown the next call is its probe.
    await new Promise((resolve) => setTimeout(resolve, 350));
    // `dead` points at a closed port: its connection is refused and the chain answers.
    const dead = await client.chat.completions.create({ model: 'dead', messages: [{ role: 'user', content: 'hi' }] }).withResponse();
    expect(dead.response.headers.get('x-myca-attempts')).toBe('2');
    expect(dead.response.headers.get('x-myca-model')).toBe('gpt-4o');
    expect(llm.requests.at(-1)?.model).toBe('gpt-4o');
  });

  it('opens the breaker after repeated failures, skips the model, and closes it after a good probe', async () => {
    llm.always('gpt-4o', { status: 500 });
    for (let i = 0; i < 2; i++) await client.chat.completions.create({ model: 'planning', messages: [{ role: 'user', content: 'hi' }] });
    const before = llm.requests.filter((r) => r.model === 'gpt-4o').length;
    const skipped = await client.chat.completions.create({ model: 'planning', messages: [{ role: 'user', content: 'hi' }] }).withResponse();
    expect(skipped.response.headers.get('x-myca-model')).toBe('llama3.1');
    expect(llm.requests.filter((r) => r.model === 'gpt-4o').length).toBe(before);

    llm.reset();
    await new Promise((resolve) => setTimeout(resolve, 350));
    const probe = await client.chat.completions.create({ model: 'planning', messages: [{ role: 'user', content: 'hi' }] }).withResponse();
    expect(probe.response.headers.get('x-myca-model')).toBe('gpt-4o');
  });

  it('records calls, tokens and cost with bounded labels', async () => {
    await client.chat.completions.create({ model: 'planning', messages: [{ role: 'user', content: 'hi' }] });
    await client.chat.completions.create({ model: 'openai/some-unlisted-model', messages: [{ role: 'user', content: 'hi' }] });
    const render = app.services?.renderMetrics;
    if (!render) throw new Error('the node runtime serves metrics');
    const metrics = await render();
    expect(metrics).toMatch(/llm_calls_total\{provider="openai",model="gpt-4o",status="success"\} \d+/);
    expect(metrics).toMatch(/llm_tokens_total\{provider="openai",model="gpt-4o",type="prompt",key="[^"]+"\} \d+/);
    expect(metrics).toMatch(/llm_cost_usd_total\{provider="openai",model="gpt-4o",key="[^"]+"\} [\d.e-]+/);
    expect(metrics).toMatch(/llm_calls_total\{provider="openai",model="other",status="success"\}/);
    expect(metrics).not.toContain('some-unlisted-model');
  });

  it('limits requests per key with 429 and Retry-After', async () => {
    let limited: unknown;
    for (let i = 0; i < 45 && !limited; i++) {
      try {
        await client.chat.completions.create({ model: 'planning', messages: [{ role: 'user', content: 'hi' }] });
      } catch (error) {
        limited = error;
      }
    }
    expect(limited).toBeInstanceOf(OpenAI.RateLimitError);
    expect(Number((limited as InstanceType<typeof OpenAI.RateLimitError>).headers?.get('retry-after'))).toBeGreaterThan(0);
  });
});
