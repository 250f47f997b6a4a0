import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, RUNTIMES, type RuntimeHandle, startRuntime } from '../../test/support/runtimes.js';
import { HealthResponseSchema } from './index.js';

describe.each(RUNTIMES)('GET /health on %s', (runtime) => {
  let app: RuntimeHandle;
  beforeAll(async () => {
    app = await startRuntime(runtime, {});
  });
  afterAll(() => app.close());

  it('answers 200 with status, version and uptime, without any dependency configured', async () => {
    const response = await app.fetch('/health');
    expect(response.status).toBe(200);
    const body = HealthResponseSchema.parse(await response.json());
    expect(body).toMatchObject({ status: 'ok', version: expect.any(String) });
    expect(body.uptime_s).toBeGreaterThanOrEqual(0);
  });

  it('continues an incoming trace: the trace id comes back as the correlation id and in the log line', async () => {
    const traceId = '4bf92f3577b34da6a3ce929d0e0e4736';
    const response = await app.fetch('/health', { headers: { traceparent: `00-${traceId}-00f067aa0ba902b7-01` } });
    expect(response.headers.get('x-correlation-id')).toBe(traceId);
    expect(response.headers.get('traceparent')).toMatch(new RegExp(`^00-${traceId}-[0-9a-f]{16}-01$`));
    const line = await eventually(() => app.logs().find((entry) => entry.msg === 'request' && entry.correlation_id === traceId));
    expect(line).toMatchObject({ method: 'GET', route: '/health', status: 200, level: 'info' });
    expect(typeof line.duration_ms).toBe('number');
  });

  it('keeps a UUID x-correlation-id as sent, its hex digits the trace id, and makes a new id when none is sent', async () => {
    const uuid = '0b7c0a5e-2f1d-4c55-9d8e-5a3c1b2d4e6f';
    const given = await app.fetch('/health', { headers: { 'x-correlation-id': uuid } });
    expect(given.headers.get('x-correlation-id')).toBe(uuid);
    expect(given.headers.get('traceparent')).toContain(uuid.replaceAll('-', ''));
    const fresh1 = (await app.fetch('/health')).headers.get('x-correlation-id');
    const fresh2 = (await app.fetch('/health')).headers.get('x-correlation-id');
    expect(fresh1).toMatch(/^[0-9a-f]{32}$/);
    expect(fresh1).not.toBe(fresh2);
  });
});
