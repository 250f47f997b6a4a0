/**
 * The fault matrix: every provider adapter (OpenAI's wire format, Azure through it, Gemini through its
 * SDK, Anthropic's Messages API) meets every way an upstream fails, on both runtimes.
 * Each case checks what the client gets (a fallback answer, an SSE `error` event without `[DONE]`,
 * or problem+json), that /health still answers, and that nothing was left unhandled.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { readSse, type startFakeLLM } from './support/fake-llm.js';
import { ADAPTERS, type Adapter, CASES, type FaultStack, startFaultStack } from './support/fault-matrix.js';
import { eventually, RUNTIMES, type RuntimeHandle } from './support/runtimes.js';
import type { TcpProxy } from './support/tcp-proxy.js';

const agentKey = `myca_${'c3'.repeat(16)}`;
const auth = { authorization: `Bearer ${agentKey}`, 'content-type': 'application/json' };
const hello = [{ role: 'user', content: 'hello' }];

describe.each(RUNTIMES)('chat-route under upstream faults on %s', (runtime) => {
  let llm: Awaited<ReturnType<typeof startFakeLLM>>;
  let app: RuntimeHandle;
  let proxies: Map<Adapter['provider'], TcpProxy>;
  let stack: FaultStack | undefined;
  let cut: TcpProxy | undefined;

  beforeAll(async () => {
    stack = await startFaultStack(runtime, agentKey);
    ({ llm, app, proxies } = stack);
  });
  afterEach(async () => {
    llm.reset();
    await cut?.restore();
    cut = undefined;
  });
  afterAll(async () => {
    await stack?.close();
  });

  const stillHealthy = () => (stack as FaultStack).stillHealthy();

  describe.each(ADAPTERS)('$provider', (adapter) => {
    it('client disconnect mid-stream: the upstream call is cut, nothing else is tried', async () => {
      llm.always(adapter.model, { sse: adapter.events.slice(0, adapter.head), delayMs: 30, after: 'hang' });
      const controller = new AbortController();
      const response = await fetch(`${await app.url()}/v1/chat/completions`, {
        method: 'POST',
        headers: auth,
        body: JSON.stringify({ model: adapter.target, messages: hello, stream: true }),
        signal: controller.signal,
      });
      const reader = (response.body as ReadableStream<Uint8Array>).getReader();
      await reader.read();
      controller.abort();
      await reader.cancel().catch(() => {});
      await eventually(() => llm.requests[0]?.abandoned, 5000);
      expect(llm.requests).toHaveLength(1);
      await stillHealthy();
    });
    it.each(CASES)('$name (stream: $stream)', async (testCase) => {
      const fault = testCase.fault(adapter);
      if (fault === 'refused') {
        cut = proxies.get(adapter.provider);
        await cut?.cut();
      } else if (fault === 'everything-hangs') llm.always('*', { hang: true });
      else llm.always(adapter.model, fault);
      const response = await app.fetch('/v1/chat/completions', {
        method: 'POST',
        headers: auth,
        body: JSON.stringify({ model: adapter.target, messages: hello, stream: testCase.stream }),
      });
      const expected = testCase.expect;
      if ('fallback' in expected) {
        expect(response.status).toBe(200);
        expect(response.headers.get('x-myca-model')).not.toBe(adapter.model);
        if (testCase.stream) expect((await readSse(response)).at(-1)?.data).toBe('[DONE]');
        else expect(((await response.json()) as { choices: unknown[] }).choices.length).toBeGreaterThan(0);
      } else if ('sseError' in expected) {
        expect(response.status).toBe(200);
        expect(response.headers.get('x-myca-model')).toBe(adapter.model);
        const events = await readSse(response);
        expect(events.at(-1)?.event).toBe('error');
        const error = JSON.parse(events.at(-1)?.data ?? '{}') as { error: { code: string; message: string } };
        expect(error.error.code).toBe('stream_interrupted');
        expect(error.error.message).toMatch(expected.sseError);
        expect(events.some((e) => e.data === '[DONE]')).toBe(false);
        // No fallback after the first byte.
        expect(llm.requests.every((r) => r.model === adapter.model)).toBe(true);
      } else if ('problem' in expected) {
        expect(response.status).toBe(expected.problem);
        expect(response.headers.get('content-type')).toContain('application/problem+json');
        const body = (await response.json()) as { attempts: unknown[] };
        expect(body.attempts.length).toBeGreaterThan(0);
      }
      await stillHealthy();
    });
  });

  it('client disconnect before the answer: the upstream call is cut, no fallback, logged as 499', async (ctx) => {
    ctx.skip(runtime !== 'node', "Node only: Miniflare never tells a JSON request's handler that its client left");
    for (const stream of [false, true]) {
      llm.reset();
      llm.always('gpt-4o-mini', { hang: true });
      const controller = new AbortController();
      const pending = app.fetch('/v1/chat/completions', {
        method: 'POST',
        headers: { ...auth, 'x-correlation-id': `gone-${stream}` },
        body: JSON.stringify({ model: 'execution', messages: hello, stream }),
        signal: controller.signal,
      });
      await eventually(() => llm.requests.length > 0);
      controller.abort();
      const response = await pending;
      expect(response.status).toBe(499);
      await eventually(() => llm.requests[0]?.abandoned);
      expect(llm.requests.map((r) => r.model)).toEqual(['gpt-4o-mini']);
      const line = await eventually(() => app.logs().find((l) => l.msg === 'request' && l.correlation_id === `gone-${stream}`));
      expect(line.status).toBe(499);
    }
    await stillHealthy();
  });
});
