/**
 * Deployments and context windows end to end. Weights and a dead deployment run on Node with their
 * own models.yaml (MODELS_CONFIG; workerd runs the bundled config/models.yaml, which lists no
 * deployments); the context windows of the bundled config run on both runtimes.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { fakeProviderEnv, fixture, startFakeLLM } from './support/fake-llm.js';
import { RUNTIMES, type RuntimeHandle, startRuntime } from './support/runtimes.js';

const agentKey = `myca_${'d5'.repeat(16)}`;
const auth = { authorization: `Bearer ${agentKey}`, 'content-type': 'application/json' };
const hello = [{ role: 'user', content: 'hello' }];

function modelsFile(llmUrl: string): string {
  const file = join(mkdtempSync(join(tmpdir(), 'myca-deployments-')), 'models.yaml');
  writeFileSync(
    file,
    `providers:
  east: { type: openai, api_key: test-east, base_url: "${llmUrl}/v1" }
  west: { type: openai, api_key: test-west, base_url: "${llmUrl}/v1" }
models:
  execution:
    strategy: weighted
    deployments:
      - { name: east, provider: east, model: mini-east, weight: 3 }
      - { name: west, provider: west, model: mini-west, weight: 1 }
routing:
  retries: 0
  breaker: { failures: 2, window_ms: 60000, cooldown_ms: 60000 }
  rate_limit: { requests_per_minute: 0 }
`,
  );
  return file;
}

describe('deployments on node', () => {
  let llm: Awaited<ReturnType<typeof startFakeLLM>>;
  let app: RuntimeHandle;
  const served = async (count: number) => {
    const tally: Record<string, number> = {};
    for (let batch = 0; batch < count / 20; batch++) {
      const responses = await Promise.all(
        Array.from({ length: 20 }, () =>
          app.fetch('/v1/chat/completions', {
            method: 'POST',
            headers: auth,
            body: JSON.stringify({ model: 'execution', messages: hello }),
          }),
        ),
      );
      for (const response of responses) {
        expect(response.status).toBe(200);
        await response.arrayBuffer();
        const deployment = response.headers.get('x-myca-deployment') ?? 'none';
        tally[deployment] = (tally[deployment] ?? 0) + 1;
      }
    }
    return tally;
  };

  beforeAll(async () => {
    llm = await startFakeLLM();
    app = await startRuntime('node', { MYCA_API_KEYS: `ops:agent:${agentKey}`, MODELS_CONFIG: modelsFile(llm.url) });
  });
  afterEach(() => llm.reset());
  afterAll(async () => {
    await app?.close();
    await llm?.close();
  });

  it('3:1 weights split 400 requests 300:100 within ±40 (about 4.6σ), and the header names the deployment', async () => {
    // Binomial(400, 0.75): σ = √(400 · 0.75 · 0.25) ≈ 8.7 requests; ±40 fails by chance about once in 200 000 runs.
    const tally = await served(400);
    expect(Object.keys(tally).sort()).toEqual(['east', 'west']);
    expect(Math.abs((tally.east ?? 0) - 300)).toBeLessThanOrEqual(40);
    // Each deployment's calls went to its own model (and provider account).
    const models = new Set(llm.requests.map((r) => r.model));
    expect(models).toEqual(new Set(['mini-east', 'mini-west']));
    expect(llm.requests.find((r) => r.model === 'mini-west')?.headers.authorization).toBe('Bearer test-west');
  });

  it("a dead deployment's share moves to the other: every request answered, by west", async () => {
    llm.always('mini-east', { status: 500 });
    const tally = await served(100);
    expect(tally).toEqual({ west: 100 });
    // east's breaker opened after its 2 failures: it was called only until then.
    expect(llm.requests.filter((r) => r.model === 'mini-east').length).toBeLessThanOrEqual(20);
  });
});

describe.each(RUNTIMES)('context windows on %s', (runtime) => {
  let llm: Awaited<ReturnType<typeof startFakeLLM>>;
  let app: RuntimeHandle;
  const chat = (messages: unknown) =>
    app.fetch('/v1/chat/completions', { method: 'POST', headers: auth, body: JSON.stringify({ model: 'execution', messages }) });

  beforeAll(async () => {
    llm = await startFakeLLM();
    app = await startRuntime(runtime, { MYCA_API_KEYS: `ops:agent:${agentKey}`, ...fakeProviderEnv(llm.url), LLM_RETRIES: '0' });
  }, 60_000);
  afterEach(() => llm.reset());
  afterAll(async () => {
    await app?.close();
    await llm?.close();
  });

  it('a long prompt skips the 128k-window models and lands on the 1M-window one', async () => {
    // 600 000 characters ≈ 150 000 tokens estimated: more than gpt-4o's and gpt-4o-mini's 128 000.
    const response = await chat([{ role: 'user', content: 'word '.repeat(120_000) }]);
    expect(response.status).toBe(200);
    expect(response.headers.get('x-myca-provider')).toBe('gemini');
    expect(response.headers.get('x-myca-model')).toBe('gemini-2.0-flash');
    expect(llm.requests.map((r) => r.model)).toEqual(['gemini-2.0-flash']);
  });

  it("a provider's context-length error moves to a larger window; when none is left, a clear 400", async () => {
    llm.queue('gpt-4o-mini', { status: 400, body: fixture('openai-error-context-length.json') });
    const moved = await chat(hello);
    expect(moved.status).toBe(200);
    expect(moved.headers.get('x-myca-model')).toBe('gemini-2.0-flash');
    // gpt-4o (planning) has no larger window than gpt-4o-mini: it was not tried.
    expect(llm.requests.map((r) => r.model)).toEqual(['gpt-4o-mini', 'gemini-2.0-flash']);

    llm.queue('gpt-4o-mini', { status: 400, body: fixture('openai-error-context-length.json') });
    llm.queue('gemini-2.0-flash', { status: 400, body: fixture('gemini-error-context-length.json') });
    const refused = await chat(hello);
    expect(refused.status).toBe(400);
    const problem = (await refused.json()) as { detail: string; hint: string };
    expect(problem.detail).toMatch(/does not fit the context window/);
    expect(problem.hint).toMatch(/shorten the messages or lower max_tokens/);
  });

  it('a prompt no model can fit is refused before any call, naming the largest window', async () => {
    const response = await chat([{ role: 'user', content: 'word '.repeat(1_000_000) }]);
    expect(response.status).toBe(400);
    expect(((await response.json()) as { detail: string }).detail).toMatch(/largest is 1048576 tokens/);
    expect(llm.requests).toHaveLength(0);
  });
});
