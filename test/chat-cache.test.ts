/**
 * The response cache on both runtimes, with the key-value store being Redis behind the Upstash REST
 * stand-in and Qdrant a loopback stand-in speaking its REST API: exact hits are byte-identical and
 * never cross keys, streams are answered from the cache as SSE, `x-myca-cache` steers it, and a store
 * that is down is a miss, never an error.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, inject, it } from 'vitest';
import { requestKeys } from '../functions/chat-route/cache/policy.js';
import type { ChatRequest } from '../functions/chat-route/contract.js';
import { createUpstashStore } from '../shared/kv/upstash.js';
import { completionReply, fakeProviderEnv, readSse, startFakeLLM } from './support/fake-llm.js';
import { startFakeQdrant } from './support/fake-qdrant.js';
import { RUNTIMES, type RuntimeHandle, startRuntime } from './support/runtimes.js';

const alice = `myca_${'a1'.repeat(16)}`;
const bob = `myca_${'b2'.repeat(16)}`;
const keys = `alice:agent:${alice},bob:agent:${bob}`;
const headers = (key: string, extra: Record<string, string> = {}) => ({
  authorization: `Bearer ${key}`,
  'content-type': 'application/json',
  ...extra,
});
let counter = 0;
/** A deterministic request (temperature 0) with a prompt no other test uses. */
const unique = (extra: Record<string, unknown> = {}) => ({
  model: 'execution',
  temperature: 0,
  messages: [{ role: 'user', content: `classify ticket ${Date.now()}-${++counter}` }],
  ...extra,
});

describe.each(RUNTIMES)('response cache on %s', (runtime) => {
  let llm: Awaited<ReturnType<typeof startFakeLLM>>;
  let qdrant: Awaited<ReturnType<typeof startFakeQdrant>>;
  let app: RuntimeHandle;
  const chat = (key: string, body: unknown, extra: Record<string, string> = {}) =>
    app.fetch('/v1/chat/completions', { method: 'POST', headers: headers(key, extra), body: JSON.stringify(body) });
  const upstreamChats = () => llm.requests.filter((r) => r.path.endsWith('/chat/completions')).length;

  beforeAll(async () => {
    llm = await startFakeLLM();
    qdrant = await startFakeQdrant();
    app = await startRuntime(runtime, {
      MYCA_API_KEYS: keys,
      ...fakeProviderEnv(llm.url),
      UPSTASH_REDIS_REST_URL: inject('upstashUrl'),
      UPSTASH_REDIS_REST_TOKEN: inject('upstashToken'),
      LLM_CACHE_ENABLED: 'true',
      LLM_RATE_LIMIT_RPM: '0',
      // /v1/responses through the chat pipeline (a native stream is not cached).
      OPENAI_RESPONSES_API: 'bridge',
    });
  }, 60_000);
  afterAll(async () => {
    await app?.close();
    await llm?.close();
    await qdrant?.close();
  });
  beforeEach(() => llm.reset());

  it('a repeated deterministic request is a byte-identical hit; another key never gets it', async () => {
    const body = unique();
    llm.queue('gpt-4o-mini', completionReply('gpt-4o-mini', { content: 'billing' }), completionReply('gpt-4o-mini', { content: 'other' }));
    const first = await chat(alice, body);
    expect(first.status).toBe(200);
    expect(first.headers.get('x-myca-cache')).toBe('miss');
    expect(first.headers.get('x-myca-deployment')).toBe('openai/gpt-4o-mini');
    const firstText = await first.text();
    // The write runs after the answer: wait until a repeat is a hit.
    let second: Response | undefined;
    for (let i = 0; i < 50; i++) {
      second = await chat(alice, body);
      if (second.headers.get('x-myca-cache') === 'hit') break;
      await second.text();
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    expect(second?.headers.get('x-myca-cache')).toBe('hit');
    expect(second?.headers.get('x-myca-attempts')).toBe('0');
    expect(second?.headers.get('x-myca-model')).toBe('gpt-4o-mini');
    expect(await second?.text()).toBe(firstText);
    const upstreamBefore = upstreamChats();
    // Bob asks the very same: his own miss, the upstream's other answer.
    const bobs = await chat(bob, body);
    expect(bobs.headers.get('x-myca-cache')).toBe('miss');
    expect(JSON.parse(await bobs.text()).choices[0].message.content).not.toBe('billing');
    expect(upstreamChats()).toBe(upstreamBefore + 1);
  });

  it('an entry another instance wrote to the shared store (Redis) is a hit here, for its key only', async () => {
    const body = unique();
    const { exact } = await requestKeys('alice', 'execution', body as ChatRequest, false);
    const stored = JSON.stringify(completionReplyBody('from another instance'));
    const redis = createUpstashStore({ url: inject('upstashUrl'), token: inject('upstashToken') });
    const answer = { kind: 'json', body: stored, provider: 'openai', model: 'gpt-4o-mini', deployment: 'openai/gpt-4o-mini' };
    await redis.set(`myca:cache:v1:json:${exact}`, JSON.stringify(answer), { ttlMs: 60_000 });
    const hit = await chat(alice, body);
    expect(hit.headers.get('x-myca-cache')).toBe('hit');
    expect(await hit.text()).toBe(stored);
    expect((await chat(bob, body)).headers.get('x-myca-cache')).toBe('miss');
  });

  it('a streamed request is answered from the cache as SSE; a streamed miss is cached and replayed byte for byte', async () => {
    const body = unique();
    const json = await chat(alice, body);
    const completion = JSON.parse(await json.text());
    await waitForHit(() => chat(alice, body));
    const streamed = await chat(alice, { ...body, stream: true });
    expect(streamed.headers.get('content-type')).toMatch(/text\/event-stream/);
    expect(streamed.headers.get('x-myca-cache')).toBe('hit');
    const events = await readSse(streamed);
    expect(events.at(-1)?.data).toBe('[DONE]');
    expect(JSON.parse(events[0]?.data ?? '{}').choices[0].delta.content).toBe(completion.choices[0].message.content);

    const fresh = unique({ stream: true });
    const miss = await chat(alice, fresh);
    expect(miss.headers.get('x-myca-cache')).toBe('miss');
    const missText = await miss.text();
    expect(missText.endsWith('data: [DONE]\n\n')).toBe(true);
    const hit = await waitForHit(() => chat(alice, fresh));
    expect(await hit.text()).toBe(missText);
  });

  it('a streamed /v1/responses on a cached task: the miss is kept, and a repeat from the cache gives the same Responses events', async () => {
    const body = { model: 'execution', temperature: 0, input: `classify ticket ${Date.now()}-${++counter}`, stream: true, store: false };
    const send = () => app.fetch('/v1/responses', { method: 'POST', headers: headers(alice), body: JSON.stringify(body) });
    const miss = await send();
    expect(miss.headers.get('x-myca-cache')).toBe('miss');
    const missText = await miss.text();
    const events = [...missText.matchAll(/^event: (.+)$/gm)].map((match) => match[1]);
    expect(events.slice(0, 2)).toEqual(['response.created', 'response.in_progress']);
    expect(events).toContain('response.output_text.delta');
    expect(events.at(-1)).toBe('response.completed');
    const hit = await waitForHit(send);
    // The same events but for the ids each answer gets and the second it was made.
    const same = (sse: string) => sse.replaceAll(/"(resp|msg)_[A-Za-z0-9]+"/g, '"$1_"').replaceAll(/"created_at":\d+/g, '"created_at":0');
    expect(same(await hit.text())).toBe(same(missText));
  });

  it('x-myca-cache: no-store and refresh; a request that is not deterministic is not cached', async () => {
    const body = unique();
    await (await chat(alice, body)).text();
    await (await waitForHit(() => chat(alice, body))).text();
    const noStore = await chat(alice, body, { 'x-myca-cache': 'no-store' });
    expect(noStore.headers.get('x-myca-cache')).toBeNull();
    const refresh = await chat(alice, body, { 'x-myca-cache': 'refresh' });
    expect(refresh.headers.get('x-myca-cache')).toBe('miss');
    // execution's configured temperature is 0.1: without temperature 0 the request is not cached.
    const warm = { model: 'execution', messages: [{ role: 'user', content: `creative ${++counter}` }] };
    const before = upstreamChats();
    for (let i = 0; i < 2; i++) expect((await chat(alice, warm)).headers.get('x-myca-cache')).toBeNull();
    // Tools offered: the answer may call one; not cached.
    const tools = unique({ tools: [{ type: 'function', function: { name: 'send_mail', parameters: { type: 'object' } } }] });
    for (let i = 0; i < 2; i++) expect((await chat(alice, tools)).headers.get('x-myca-cache')).toBeNull();
    expect(upstreamChats()).toBe(before + 4);
  });

  it('counts hits, misses and the saved cost in the metrics', async (ctx) => {
    ctx.skip(runtime !== 'node', 'Node only: workerd records metrics on the no-op meter (nothing to read)');
    const body = unique();
    await (await chat(alice, body)).text();
    await (await waitForHit(() => chat(alice, body))).text();
    const text = (await app.services?.renderMetrics?.()) ?? '';
    expect(text).toMatch(/llm_cache_requests_total\{task="execution",result="hit"\} [1-9]/);
    expect(text).toMatch(/llm_cache_requests_total\{task="execution",result="miss"\} [1-9]/);
    // execution's price (0.15 / 0.6 USD per 1M) × the recorded fixture's usage (19 prompt, 10 completion tokens) = 0.00000885 a hit.
    const saved = Number(/llm_cache_saved_cost_usd_total\{task="execution"\} ([\d.e-]+)/.exec(text)?.[1]);
    expect(saved).toBeGreaterThanOrEqual(0.00000885);
  });

  async function waitForHit(send: () => Promise<Response>): Promise<Response> {
    for (let i = 0; i < 50; i++) {
      const response = await send();
      if (response.headers.get('x-myca-cache') === 'hit') return response;
      await response.text();
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    throw new Error('no cache hit');
  }
});

const completionReplyBody = (content: string) => completionReply('gpt-4o-mini', { content }).body;

describe.each(RUNTIMES)('semantic cache and broken stores on %s', (runtime) => {
  let llm: Awaited<ReturnType<typeof startFakeLLM>>;
  let qdrant: Awaited<ReturnType<typeof startFakeQdrant>>;
  let app: RuntimeHandle;
  let broken: RuntimeHandle;
  const chat = (handle: RuntimeHandle, key: string, body: unknown) =>
    handle.fetch('/v1/chat/completions', { method: 'POST', headers: headers(key), body: JSON.stringify(body) });

  beforeAll(async () => {
    llm = await startFakeLLM();
    qdrant = await startFakeQdrant();
    const env = { MYCA_API_KEYS: keys, ...fakeProviderEnv(llm.url), LLM_CACHE_ENABLED: 'true', LLM_RATE_LIMIT_RPM: '0' };
    app = await startRuntime(runtime, { ...env, QDRANT_URL: qdrant.url, LLM_CACHE_SEMANTIC: 'true', LLM_CACHE_SEMANTIC_THRESHOLD: '0.9' });
    // Nothing listens on port 9: every key-value and Qdrant call is refused.
    broken = await startRuntime(runtime, {
      ...env,
      UPSTASH_REDIS_REST_URL: 'http://127.0.0.1:9',
      UPSTASH_REDIS_REST_TOKEN: 'token',
      QDRANT_URL: 'http://127.0.0.1:9',
      LLM_CACHE_SEMANTIC: 'true',
    });
  }, 60_000);
  afterAll(async () => {
    await app?.close();
    await broken?.close();
    await llm?.close();
    await qdrant?.close();
  });

  it('a similar prompt (same embedding) is a semantic hit for the same key only', async () => {
    const first = await chat(app, alice, unique());
    expect(first.headers.get('x-myca-cache')).toBe('miss');
    const firstText = await first.text();
    // The fake embeds every text as the same vector: any later prompt is "similar" (cosine 1).
    let semantic: Response | undefined;
    for (let i = 0; i < 50 && semantic?.headers.get('x-myca-cache') !== 'semantic'; i++) {
      if (semantic) await semantic.text();
      semantic = await chat(app, alice, unique());
    }
    expect(semantic?.headers.get('x-myca-cache')).toBe('semantic');
    expect(await semantic?.text()).toBe(firstText);
    expect(qdrant.state.requests.some((r) => r.path.endsWith('/points/search'))).toBe(true);
    const bobs = await chat(app, bob, unique());
    expect(bobs.headers.get('x-myca-cache')).toBe('miss');
  });

  it('a failing Qdrant is a miss, never an error', async () => {
    qdrant.state.failing = true;
    try {
      const response = await chat(app, alice, unique());
      expect(response.status).toBe(200);
      expect(response.headers.get('x-myca-cache')).toBe('miss');
    } finally {
      qdrant.state.failing = false;
    }
  });

  it('a key-value store and Qdrant that refuse every connection: misses, answered by the provider', async () => {
    const body = unique();
    for (let i = 0; i < 2; i++) {
      const response = await chat(broken, alice, body);
      expect(response.status).toBe(200);
      expect(response.headers.get('x-myca-cache')).toBe('miss');
      expect(JSON.parse(await response.text()).choices[0].message.content).toBeTruthy();
    }
    const stream = await chat(broken, alice, { ...body, stream: true });
    expect(stream.status).toBe(200);
    expect((await readSse(stream)).at(-1)?.data).toBe('[DONE]');
  });
});
