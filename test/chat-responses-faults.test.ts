/**
 * chat-route's fault matrix (test/support/fault-matrix.ts) on `POST /v1/responses`, both runtimes:
 * a fallback answers as a completed Response; a stream that fails after its first byte ends in
 * `response.failed` (never `response.completed`) and is counted as a failure; failures before an
 * answer are the same problem+json as chat's; the gateway stays healthy with nothing unhandled.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { readSse, type startFakeLLM } from './support/fake-llm.js';
import { type Adapter, CASES, type FaultStack, RESPONSES_ADAPTERS, startFaultStack } from './support/fault-matrix.js';
import { eventually, RUNTIMES, type RuntimeHandle } from './support/runtimes.js';
import type { TcpProxy } from './support/tcp-proxy.js';

const agentKey = `myca_${'c5'.repeat(16)}`;
const auth = { authorization: `Bearer ${agentKey}`, 'content-type': 'application/json' };

/** `name{labels} value` lines of the Prometheus text as a map. */
function series(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    const match = /^([a-z_]+\{[^}]*\}) ([\d.e+-]+)$/.exec(line);
    if (match) out.set(match[1] as string, Number(match[2]));
  }
  return out;
}

describe.each(RUNTIMES)('/v1/responses under upstream faults on %s', (runtime) => {
  let llm: Awaited<ReturnType<typeof startFakeLLM>>;
  let app: RuntimeHandle;
  let proxies: Map<Adapter['provider'], TcpProxy>;
  let stack: FaultStack | undefined;
  let cut: TcpProxy | undefined;
  /** Failed calls of a provider so far (Node: /metrics; workerd's metrics leave over OTLP). */
  const failures = async (adapter: Adapter) => {
    if (runtime !== 'node') return 0;
    let total = 0;
    for (const [name, value] of series(await (await app.fetch('/metrics')).text()))
      if (name.startsWith('llm_calls_total{') && name.includes(`provider="${adapter.provider}"`) && !name.includes('status="success"'))
        total += value;
    return total;
  };

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

  describe.each(RESPONSES_ADAPTERS)('$provider', (adapter) => {
    it('client disconnect mid-stream: the upstream call is cut, nothing else is tried', async () => {
      llm.always(adapter.model, { sse: adapter.events.slice(0, adapter.head), delayMs: 30, after: 'hang' });
      const controller = new AbortController();
      const response = await fetch(`${await app.url()}/v1/responses`, {
        method: 'POST',
        headers: auth,
        body: JSON.stringify({ model: adapter.target, input: 'hello', stream: true }),
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
      const failedBefore = await failures(adapter);
      const response = await app.fetch('/v1/responses', {
        method: 'POST',
        headers: auth,
        body: JSON.stringify({ model: adapter.target, input: 'hello', stream: testCase.stream }),
      });
      const expected = testCase.expect;
      // OpenAI is asked at its own /responses (native), the others through their chat wire.
      if (fault !== 'refused') expect(llm.requests[0]?.path.endsWith('/responses')).toBe(adapter.native === true);
      if ('fallback' in expected) {
        expect(response.status).toBe(200);
        expect(response.headers.get('x-myca-model')).not.toBe(adapter.model);
        if (testCase.stream) expect((await readSse(response)).at(-1)?.event).toBe('response.completed');
        else expect(((await response.json()) as { status: string }).status).toBe('completed');
      } else if ('sseError' in expected) {
        expect(response.status).toBe(200);
        expect(response.headers.get('x-myca-model')).toBe(adapter.model);
        const events = await readSse(response);
        expect(events.at(-1)?.event).toBe('response.failed');
        expect(events.some((e) => e.event === 'response.completed' || e.event === 'response.incomplete')).toBe(false);
        const failed = JSON.parse(events.at(-1)?.data ?? '{}') as {
          response: { status: string; error: { code: string; message: string } };
        };
        expect(failed.response.status).toBe('failed');
        expect(failed.response.error.code).toBe('stream_interrupted');
        expect(failed.response.error.message).toMatch(expected.sseError);
        expect(llm.requests.every((r) => r.model === adapter.model)).toBe(true);
        // Counted once the stream ended, as a failure (Node reads its own /metrics).
        if (runtime === 'node') {
          const deadline = Date.now() + 3000;
          while ((await failures(adapter)) <= failedBefore && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
          expect(await failures(adapter)).toBeGreaterThan(failedBefore);
        }
      } else if ('problem' in expected) {
        expect(response.status).toBe(expected.problem);
        expect(response.headers.get('content-type')).toContain('application/problem+json');
        expect(((await response.json()) as { attempts: unknown[] }).attempts.length).toBeGreaterThan(0);
      }
      await stillHealthy();
    });
  });
});
