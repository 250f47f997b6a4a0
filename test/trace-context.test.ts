/**
 * Trace context comes back as the caller sent it, on both runtimes and with tracing off (the
 * default: no OTLP endpoint): the sampled flag of `traceparent`, and a UUID `x-correlation-id`
 * with its dashes (the trace id is still derived from it).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiKeys } from './support/actions.js';
import { createTestDatabase, type TestDatabase } from './support/databases.js';
import { startRuntime } from './support/runtimes.js';
import { type Started, start, stop } from './support/server-process.js';

const traceId = '4bf92f3577b34da6a3ce929d0e0e4736';
const uuid = '3F2504E0-4F89-41D3-9A0C-0305E82C3301';

const cases = (get: (headers: Record<string, string>) => Promise<Response>) => {
  it('keeps the sampled flag the caller sent (01 and 00)', async () => {
    for (const flags of ['01', '00']) {
      const response = await get({ traceparent: `00-${traceId}-00f067aa0ba902b7-${flags}` });
      expect(response.headers.get('traceparent')).toMatch(new RegExp(`^00-${traceId}-[0-9a-f]{16}-${flags}$`));
      expect(response.headers.get('x-correlation-id')).toBe(traceId);
    }
  });

  it('returns a UUID x-correlation-id as sent, the trace id derived from it', async () => {
    const response = await get({ 'x-correlation-id': uuid });
    expect(response.headers.get('x-correlation-id')).toBe(uuid);
    const compact = uuid.toLowerCase().replaceAll('-', '');
    expect(response.headers.get('traceparent')).toMatch(new RegExp(`^00-${compact}-[0-9a-f]{16}-0[01]$`));
  });
};

describe('trace context on the Node server (npm start, tracing off)', () => {
  let database: TestDatabase;
  let server: Started;
  beforeAll(async () => {
    database = await createTestDatabase();
    server = await start({ DATABASE_URL: database.url, MYCA_API_KEYS: apiKeys });
  }, 90_000);
  afterAll(async () => {
    if (server) await stop(server);
    await database?.drop();
  });
  cases((headers) => fetch(`${server.url}/health`, { headers }));
});

describe('trace context in workerd (tracing off)', () => {
  let app: Awaited<ReturnType<typeof startRuntime>>;
  beforeAll(async () => {
    app = await startRuntime('workerd', {});
  }, 90_000);
  afterAll(() => app?.close());
  cases((headers) => app.fetch('/health', { headers }));
});
