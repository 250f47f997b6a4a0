/**
 * A failure is a failure everywhere: streams counted once with how they ended, in metrics and the
 * breaker; the breaker's 503 says when to come back; deadlines and caps say which one ended a stream.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { fakeProviderEnv, fixture, readSse, startFakeLLM } from './support/fake-llm.js';
import { RUNTIMES, type RuntimeHandle, startRuntime } from './support/runtimes.js';

const agentKey = `myca_${'c3'.repeat(16)}`;
const auth = { authorization: `Bearer ${agentKey}`, 'content-type': 'application/json' };
const hello = [{ role: 'user', content: 'hello' }];
const events = fixture('openai-chat-stream.jsonl').trim().split('\n');

/** `name{labels} value` lines of the Prometheus text as a map. */
function series(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    const match = /^([a-z_]+\{[^}]*\}) ([\d.e+-]+)$/.exec(line);
    if (match) out.set(match[1] as string, Number(match[2]));
  }
  return out;
}

describe('chat-route failure accounting on node', () => {
  let llm: Awaited<ReturnType<typeof startFakeLLM>>;
  let app: RuntimeHandle;
  const post = (path: string, body: unknown, headers: Record<string, string> = {}) =>
    app.fetch(path, { method: 'POST', headers: { ...auth, ...headers }, body: JSON.stringify(body) });
  const metrics = async () => series(await (await app.fetch('/metrics')).text());

  beforeAll(async () => {
    llm = await startFakeLLM();
    app = await startRuntime('node', {
      MYCA_API_KEYS: `planner:agent:${agentKey}`,
      ...fakeProviderEnv(llm.url),
      LLM_RETRIES: '0',
      LLM_BREAKER_FAILURES: '3',
      LLM_BREAKER_COOLDOWN_MS: '10000',
      LLM_RATE_LIMIT_RPM: '0',
      LLM_IDLE_TIMEOUT_MS: '300',
    });
  });
  afterEach(() => llm.reset());
  afterAll(async () => {
    await app?.close();
    await llm?.close();
  });

  it('counts each cut stream once, as a failure, and lets the breaker open on them', async () => {
    llm.always('gpt-4o-mini', { sse: events.slice(0, 2), delayMs: 20, after: 'drop' });
    const served: Array<string | null> = [];
    for (let i = 0; i < 6; i++) {
      const response = await post('/v1/chat/completions', { model: 'execution', messages: hello, stream: true });
      served.push(response.headers.get('x-myca-model'));
      await readSse(response);
    }
    // Three cut streams open the breaker (threshold 3): the rest go to the next model at once.
    expect(served).toEqual(['gpt-4o-mini', 'gpt-4o-mini', 'gpt-4o-mini', 'gpt-4o', 'gpt-4o', 'gpt-4o']);
    expect(llm.requests.filter((r) => r.model === 'gpt-4o-mini')).toHaveLength(3);
    const counted = await metrics();
    expect(counted.get('llm_calls_total{provider="openai",model="gpt-4o-mini",status="network"}')).toBe(3);
    expect(counted.get('llm_calls_total{provider="openai",model="gpt-4o-mini",status="success"}')).toBeUndefined();
    expect(counted.get('llm_calls_total{provider="openai",model="gpt-4o-mini",status="breaker_open"}')).toBe(3);
    expect(counted.get('llm_calls_total{provider="openai",model="gpt-4o",status="success"}')).toBe(3);
    expect([...counted.keys()].some((key) => key.includes('stream_error'))).toBe(false);
  });

  it('counts a 200 with an error body as a failure with its status', async () => {
    llm.always('gpt-4o', { status: 200, body: { error: { message: 'quota', code: 429 } } });
    const response = await post('/v1/chat/completions', { model: 'planning', messages: hello });
    expect(response.status).toBe(200);
    expect(response.headers.get('x-myca-model')).not.toBe('gpt-4o');
    const counted = await metrics();
    expect(counted.get('llm_calls_total{provider="openai",model="gpt-4o",status="429"}')).toBe(1);
  });

  it('counts a 200 JSON error body to a stream request as that error, not as a cut stream', async () => {
    // Some servers answer `stream: true` with a plain JSON error (status 200, no SSE framing).
    llm.always('gpt-4o', { status: 200, body: { error: { message: 'quota exceeded', code: 503 } } });
    const response = await post('/v1/chat/completions', { model: 'planning', messages: hello, stream: true });
    expect(response.status).toBe(200);
    expect(response.headers.get('x-myca-model')).not.toBe('gpt-4o');
    await readSse(response);
    const counted = await metrics();
    expect(counted.get('llm_calls_total{provider="openai",model="gpt-4o",status="503"}')).toBe(1);
    expect(counted.get('llm_calls_total{provider="openai",model="gpt-4o",status="network"}')).toBeUndefined();
  });

  it('answers an all-breakers-open 503 with retry-after = the remaining cooldown', async () => {
    llm.always('*', { status: 500 });
    for (let i = 0; i < 3; i++) await post('/v1/chat/completions', { model: 'planning', messages: hello });
    const response = await post('/v1/chat/completions', { model: 'planning', messages: hello });
    expect(response.status).toBe(503);
    const retryAfter = Number(response.headers.get('retry-after'));
    // Cooldown 10 s, opened moments ago: 9–10 s left, never the 30 s it said before.
    expect(retryAfter).toBeGreaterThanOrEqual(8);
    expect(retryAfter).toBeLessThanOrEqual(10);
  });

  it('lets embeddings ignore a chat task header', async () => {
    const response = await post('/v1/embeddings', { model: 'embedding', input: 'spores' }, { 'x-myca-task': 'planning' });
    expect(response.status).toBe(200);
    expect(llm.requests.at(-1)?.path).toBe('/v1/embeddings');
  });
});

describe.each(RUNTIMES)('stream deadlines and caps on %s', (runtime) => {
  let llm: Awaited<ReturnType<typeof startFakeLLM>>;
  let app: RuntimeHandle;
  const post = (body: unknown) => app.fetch('/v1/chat/completions', { method: 'POST', headers: auth, body: JSON.stringify(body) });
  beforeAll(async () => {
    llm = await startFakeLLM();
    app = await startRuntime(runtime, {
      MYCA_API_KEYS: `planner:agent:${agentKey}`,
      OPENAI_API_KEY: 'test-openai-key',
      OPENAI_BASE_URL: `${llm.url}/v1`,
      LLM_RETRIES: '0',
      LLM_RATE_LIMIT_RPM: '0',
      LLM_DEADLINE_MS: '400',
      LLM_IDLE_TIMEOUT_MS: '500',
      LLM_STREAM_MAX_MS: '3000',
    });
  });
  afterEach(() => llm.reset());
  afterAll(async () => {
    await app?.close();
    await llm?.close();
  });

  const [first, middle, , finish, usage] = events as [string, string, string, string, string];

  it('lets a healthy stream run past the request deadline (the deadline only bounds its start)', async () => {
    // ~1 s of chunks, 100 ms apart: past the 400 ms deadline, inside the 3 s cap.
    llm.queue('gpt-4o-mini', { sse: [first, ...Array(9).fill(middle), finish, usage, '[DONE]'], delayMs: 100 });
    const received = await readSse(await post({ model: 'execution', messages: hello, stream: true }));
    expect(received.at(-1)?.data).toBe('[DONE]');
  });

  it('ends a stream that outlives its cap with an error naming the cap', async () => {
    llm.queue('gpt-4o-mini', { sse: [first, ...Array(40).fill(middle)], delayMs: 100, after: 'hang' });
    const received = await readSse(await post({ model: 'execution', messages: hello, stream: true }));
    expect(received.at(-1)?.event).toBe('error');
    expect(received.at(-1)?.data).toContain('cap of 3000 ms');
    expect(received.some((e) => e.data === '[DONE]')).toBe(false);
  });
});
