import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { fakeProviderEnv, startFakeLLM } from './support/fake-llm.js';
import { RUNTIMES, type RuntimeHandle, startRuntime } from './support/runtimes.js';

const agentKey = `myca_${'c3'.repeat(16)}`;
const auth = { authorization: `Bearer ${agentKey}`, 'content-type': 'application/json' };

/** The only upstream paths the gateway may call: each provider's documented endpoints. */
const DOCUMENTED = [
  /^\/v1\/(chat\/completions|embeddings)$/,
  /^\/v1beta\/models\/[A-Za-z0-9._-]+:(generateContent|batchEmbedContents|streamGenerateContent\?alt=sse)$/,
  /^\/openai\/deployments\/[A-Za-z0-9._-]+\/(chat\/completions|embeddings)\?api-version=[\w.-]+$/,
  /^\/v1\/messages$/,
];

/** A seeded generator (mulberry32): a failure names its seed and replays exactly. */
function random(seed: number) {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const PIECES = [
  ...'abcxyzABZ0129-_.',
  '/',
  '..',
  '../',
  '?',
  ':',
  '#',
  '%',
  '%2e',
  '%2F',
  '&x=',
  '=',
  '\\',
  '@',
  ' ',
  '\t',
  '\n',
  '\u0000',
  'é',
  '𝄞',
  ':generateContent',
  ':streamGenerateContent?alt=sse&y=',
  'v1beta/',
  'cachedContents',
  'tunedModels/',
  'models/',
  'gemini-2.0-flash',
];
const PREFIXES = ['gemini/', 'azure/', 'openai/', 'anthropic/', 'gemini/models/', 'gemini/tunedModels/', 'azure/../', ''];

function modelNames(seed: number, count: number): string[] {
  const next = random(seed);
  const pick = <T>(items: readonly T[]) => items[Math.floor(next() * items.length)] as T;
  const names = [
    'gemini/../../../../v1beta/cachedContents?pageSize=1&x=',
    'gemini/tunedModels/x',
    'gemini/gemini-2.0-flash:streamGenerateContent?alt=sse&y=',
    'azure/../../openai/files?x=',
    'azure/dep#frag',
    'gemini/%2e%2e%2fcachedContents',
  ];
  while (names.length < count) {
    let name = pick(PREFIXES);
    const length = 1 + Math.floor(next() * 12);
    for (let i = 0; i < length; i++) name += pick(PIECES);
    names.push(name);
  }
  return names;
}

describe.each(RUNTIMES)('model names from callers on %s', (runtime) => {
  let llm: Awaited<ReturnType<typeof startFakeLLM>>;
  let app: RuntimeHandle;
  beforeAll(async () => {
    llm = await startFakeLLM();
    app = await startRuntime(runtime, {
      MYCA_API_KEYS: `planner:agent:${agentKey}`,
      ...fakeProviderEnv(llm.url),
      AZURE_OPENAI_API_KEY: 'test-azure-key',
      AZURE_OPENAI_ENDPOINT: llm.url,
      LLM_RATE_LIMIT_RPM: '0',
      LLM_RETRIES: '0',
      // Only the named model is tried: what reaches the upstream is what the name made.
      LLM_BREAKER_FAILURES: '1000',
    });
  });
  afterEach(() => llm.reset());
  afterAll(async () => {
    await app?.close();
    await llm?.close();
  });

  const seed = 20261129 + (runtime === 'node' ? 0 : 1);
  it(`never reaches an undocumented upstream path nor answers 500 (seed ${seed})`, async () => {
    const names = modelNames(seed, runtime === 'node' ? 160 : 80);
    for (const [index, model] of names.entries()) {
      const messages = [{ role: 'user', content: 'hi' }];
      const requests =
        index % 3 === 0
          ? { path: '/v1/embeddings', body: { model, input: 'spores' } }
          : { path: '/v1/chat/completions', body: { model, messages, stream: index % 3 === 2 } };
      const response = await app.fetch(requests.path, { method: 'POST', headers: auth, body: JSON.stringify(requests.body) });
      const text = await response.text();
      expect(response.status, `${JSON.stringify(model)} → ${text}`).not.toBe(500);
      if (response.status >= 400) {
        expect(response.headers.get('content-type'), JSON.stringify(model)).toContain('application/problem+json');
      }
      for (const request of llm.requests) {
        expect(
          DOCUMENTED.some((pattern) => pattern.test(request.path)),
          `${JSON.stringify(model)} reached ${request.path}`,
        ).toBe(true);
      }
      llm.reset();
    }
  });

  it('refuses a model name that would leave the provider’s path with a 400 naming it', async () => {
    const model = 'gemini/../../../../v1beta/cachedContents?pageSize=1&x=';
    const response = await app.fetch('/v1/chat/completions', {
      method: 'POST',
      headers: auth,
      body: JSON.stringify({ model, messages: [{ role: 'user', content: 'hi' }] }),
    });
    expect(response.status).toBe(400);
    expect(await response.json()).toMatchObject({ detail: expect.stringContaining('../../../../v1beta/cachedContents') });
    expect(llm.requests).toHaveLength(0);
  });
});
