import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { METRIC_FAMILIES } from '../../shared/telemetry/metrics.js';
import { type RuntimeHandle, startRuntime } from '../../test/support/runtimes.js';

describe('GET /metrics on node', () => {
  let app: RuntimeHandle;
  beforeAll(async () => {
    app = await startRuntime('node', {});
  });
  afterAll(() => app.close());

  it('serves every seed metric family with HELP and TYPE at /metrics, and counts requests', async () => {
    await app.fetch('/health');
    const response = await app.fetch('/metrics');
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toContain('text/plain');
    const text = await response.text();
    for (const family of Object.values(METRIC_FAMILIES)) {
      expect(text).toContain(`# HELP ${family.name} `);
      expect(text).toContain(`# TYPE ${family.name} ${family.type}`);
    }
    expect(text).toMatch(/http_requests_total\{method="GET",route="\/health",status="200"\} 1/);
    expect(text).not.toContain('otel_scope_name');
  });
});

describe('GET /metrics on workerd', () => {
  it('is not kept there, and says where to find it', async () => {
    const app = await startRuntime('workerd', {});
    try {
      const response = await app.fetch('/metrics');
      expect(response.status).toBe(404);
      expect(await response.json()).toMatchObject({ code: 'NOT_FOUND', hint: expect.stringContaining('Node') });
    } finally {
      await app.close();
    }
  });
});
