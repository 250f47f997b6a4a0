import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sha256Hex } from '../shared/http/auth.js';
import { eventually, RUNTIMES, type RuntimeHandle, startRuntime } from '../test/support/runtimes.js';

const agentKey = `myca_${'a1'.repeat(16)}`;
const approverKey = `myca_${'b2'.repeat(16)}`;

describe.each(RUNTIMES)('the composed app on %s', (runtime) => {
  let app: RuntimeHandle;
  beforeAll(async () => {
    // One raw key and one given only as its hash: both forms of MYCA_API_KEYS must work.
    app = await startRuntime(runtime, { MYCA_API_KEYS: `planner:agent:${agentKey},alice:approver:sha256:${await sha256Hex(approverKey)}` });
  });
  afterAll(() => app.close());

  it('requires a bearer key under /v1 and gives the caller a typed principal', async () => {
    const none = await app.fetch('/v1/whoami');
    expect(none.status).toBe(401);
    expect(none.headers.get('content-type')).toBe('application/problem+json');
    expect(none.headers.get('www-authenticate')).toContain('Bearer');
    expect(await none.json()).toMatchObject({ code: 'UNAUTHENTICATED', status: 401, hint: expect.stringContaining('Bearer') });

    const wrong = await app.fetch('/v1/whoami', { headers: { authorization: `Bearer ${agentKey}x` } });
    expect(wrong.status).toBe(401);

    const agent = await app.fetch('/v1/whoami', { headers: { authorization: `Bearer ${agentKey}` } });
    expect(await agent.json()).toEqual({ id: 'planner', role: 'agent' });
    const approver = await app.fetch('/v1/whoami', { headers: { authorization: `bearer ${approverKey}` } });
    expect(await approver.json()).toEqual({ id: 'alice', role: 'approver' });
  });

  it('leaves /health, /ready open', async () => {
    expect((await app.fetch('/health')).status).toBe(200);
    expect((await app.fetch('/ready')).status).toBe(200);
  });

  it('answers unknown routes 404 and wrong methods 405 as problem+json with the correlation id', async () => {
    const missing = await app.fetch('/v1/nothing-here', { headers: { authorization: `Bearer ${agentKey}` } });
    expect(missing.status).toBe(404);
    const body = (await missing.json()) as Record<string, unknown>;
    expect(body).toMatchObject({ type: expect.stringContaining('not-found'), title: 'Not found', status: 404, code: 'NOT_FOUND' });
    expect(body.correlation_id).toBe(missing.headers.get('x-correlation-id'));

    const wrongMethod = await app.fetch('/health', { method: 'DELETE' });
    expect(wrongMethod.status).toBe(405);
    expect(wrongMethod.headers.get('allow')).toBe('GET, HEAD');
    expect(await wrongMethod.json()).toMatchObject({ code: 'METHOD_NOT_ALLOWED', hint: 'use GET or HEAD' });
  });

  it('never writes a bearer key to the logs', async () => {
    await app.fetch('/v1/whoami', { headers: { authorization: `Bearer ${agentKey}` } });
    const line = await eventually(() => app.logs().find((entry) => entry.route === '/v1/whoami' && entry.status === 200));
    expect(line.principal).toBe('planner');
    const all = JSON.stringify(app.logs());
    expect(all).not.toContain(agentKey);
  });
});

describe('traces on node', () => {
  let app: RuntimeHandle;
  beforeAll(async () => {
    app = await startRuntime('node', { MYCA_API_KEYS: `planner:agent:${agentKey}` });
  });
  afterAll(() => app.close());

  it('names the server span METHOD routePath and continues the caller’s trace', async () => {
    const traceId = `${'a'.repeat(31)}1`;
    const parentSpanId = 'b'.repeat(16);
    const response = await app.fetch('/health', { headers: { traceparent: `00-${traceId}-${parentSpanId}-01` } });
    const span = await eventually(() => app.spans?.getFinishedSpans().find((s) => s.spanContext().traceId === traceId));
    expect(span.name).toBe('GET /health');
    expect(span.parentSpanContext?.spanId).toBe(parentSpanId);
    expect(response.headers.get('traceparent')).toBe(`00-${traceId}-${span.spanContext().spanId}-01`);
  });

  it('starts a new trace whose id is the correlation id when none comes in', async () => {
    const response = await app.fetch('/ready');
    const correlationId = response.headers.get('x-correlation-id');
    const span = await eventually(() => app.spans?.getFinishedSpans().find((s) => s.name === 'GET /ready'));
    expect(span.spanContext().traceId).toBe(correlationId);
    expect(span.parentSpanContext).toBeUndefined();
  });

  it('gives the span the route and the status, an error status for a 5xx answer and none for a 4xx', async () => {
    // No provider key is set here, so the gateway answers 503.
    const response = await app.fetch('/v1/chat/completions?note=1', {
      method: 'POST',
      headers: { authorization: `Bearer ${agentKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'fast', messages: [{ role: 'user', content: 'hi' }] }),
    });
    expect(response.status).toBe(503);
    const correlationId = response.headers.get('x-correlation-id');
    const span = await eventually(() =>
      app.spans?.getFinishedSpans().find((s) => s.spanContext().traceId === correlationId && s.kind === 1),
    );
    expect(span.name).toBe('POST /v1/chat/completions');
    expect(span.attributes).toMatchObject({
      'http.request.method': 'POST',
      'http.route': '/v1/chat/completions',
      'http.response.status_code': 503,
    });
    expect(String(span.attributes['url.full'])).toMatch(/\/v1\/chat\/completions\?note=1$/);
    expect(span.status.code).toBe(2);

    // A 4xx is the caller's fault: the span's status stays unset.
    const refused = await app.fetch('/v1/whoami', { headers: { authorization: 'Bearer nope' } });
    expect(refused.status).toBe(401);
    const refusedId = refused.headers.get('x-correlation-id');
    const refusedSpan = await eventually(() =>
      app.spans?.getFinishedSpans().find((s) => s.spanContext().traceId === refusedId && s.kind === 1),
    );
    expect(refusedSpan.attributes['http.response.status_code']).toBe(401);
    expect(refusedSpan.status.code).toBe(0);
  });
});
