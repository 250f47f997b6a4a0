import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeQdrant } from './support/fake-qdrant.js';
import { startOtlpCollector } from './support/otlp-collector.js';
import { eventually, RUNTIMES, type RuntimeHandle, startRuntime } from './support/runtimes.js';

describe.each(RUNTIMES)('telemetry on %s', (runtime) => {
  let collector: Awaited<ReturnType<typeof startOtlpCollector>>;
  let qdrant: Awaited<ReturnType<typeof startFakeQdrant>>;
  let app: RuntimeHandle;
  beforeAll(async () => {
    collector = await startOtlpCollector();
    qdrant = await startFakeQdrant();
    app = await startRuntime(runtime, { OTEL_EXPORTER_OTLP_ENDPOINT: collector.url, QDRANT_URL: qdrant.url });
  });
  afterAll(async () => {
    await app?.close();
    await qdrant?.close();
    await collector?.close();
  });

  it('exports the server span over OTLP/HTTP with the caller’s trace id', async () => {
    const traceId = '5e0c63257de34c92bf9efcd03927272e';
    await app.fetch('/health', { headers: { traceparent: `00-${traceId}-00f067aa0ba902b7-01` } });
    await app.flush();
    const span = await eventually(() => collector.spans.find((s) => s.traceId === traceId), 8000);
    expect(span).toMatchObject({ name: 'GET /health', parentSpanId: '00f067aa0ba902b7' });
    expect(span.attributes['http.response.status_code']).toBe(200);
  });

  it('redacts secrets from exported spans (a key in a query string)', async () => {
    const canary = ['sk', 'proj', `${'Z'.repeat(20)}${Date.now()}`].join('-');
    const response = await app.fetch(`/health?api_key=${canary}&q=1`);
    const traceId = response.headers.get('x-correlation-id');
    await app.flush();
    const span = await eventually(() => collector.spans.find((s) => s.traceId === traceId), 8000);
    expect(String(span.attributes['url.full'])).toContain('api_key=***');
    expect(JSON.stringify(collector.spans)).not.toContain(canary);
  });

  it('passes the correlation id and trace context on to outbound calls', async () => {
    const response = await app.fetch('/ready');
    const correlationId = response.headers.get('x-correlation-id');
    const call = qdrant.state.requests.find((r) => r.path === '/readyz' && r.correlationId === correlationId);
    expect(call, JSON.stringify(qdrant.state.requests)).toBeTruthy();
    expect(call?.traceparent).toMatch(new RegExp(`^00-${correlationId}-[0-9a-f]{16}-0[01]$`));
  });
});
