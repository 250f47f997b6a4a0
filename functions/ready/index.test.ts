import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../../test/support/databases.js';
import { startFakeQdrant } from '../../test/support/fake-qdrant.js';
import { RUNTIMES, type RuntimeHandle, startRuntime } from '../../test/support/runtimes.js';
import { startTcpProxy, type TcpProxy } from '../../test/support/tcp-proxy.js';
import { ReadyResponseSchema } from './index.js';

const readyBody = async (response: Response) => ReadyResponseSchema.parse(await response.json());

describe.each(RUNTIMES)('GET /ready on %s', (runtime) => {
  let database: TestDatabase;
  let proxy: TcpProxy;
  let qdrant: Awaited<ReturnType<typeof startFakeQdrant>>;
  let app: RuntimeHandle;

  beforeAll(async () => {
    database = await createTestDatabase();
    const target = new URL(database.url);
    // The app reaches Postgres through a proxy the test can cut: Postgres "goes away" for it alone.
    proxy = await startTcpProxy({ host: target.hostname, port: Number(target.port || 5432) });
    target.host = `127.0.0.1:${proxy.port}`;
    qdrant = await startFakeQdrant();
    app = await startRuntime(runtime, {
      DATABASE_URL: target.toString(),
      UPSTASH_REDIS_REST_URL: inject('upstashUrl'),
      UPSTASH_REDIS_REST_TOKEN: inject('upstashToken'),
      QDRANT_URL: qdrant.url,
      QDRANT_API_KEY: 'qdrant-test-key',
      READY_TIMEOUT_MS: '500',
    });
  });
  afterAll(async () => {
    await app?.close();
    await proxy?.close();
    await qdrant?.close();
    await database?.drop();
  });

  it('is ready when Postgres, Redis (over the Upstash REST API) and Qdrant all answer', async () => {
    const response = await app.fetch('/ready');
    const body = await readyBody(response);
    expect(response.status, JSON.stringify(body)).toBe(200);
    expect(body.status).toBe('ready');
    for (const [name, mode] of [
      ['postgres', 'postgres'],
      ['redis', 'upstash'],
      ['qdrant', 'qdrant'],
    ] as const) {
      expect(body.checks[name]).toMatchObject({ status: 'up', mode });
      expect(body.checks[name].latency_ms).toBeGreaterThanOrEqual(0);
    }
    expect(qdrant.state.requests.at(-1)).toMatchObject({ path: '/readyz', apiKey: 'qdrant-test-key' });
  });

  it('turns 503 naming Postgres while it is unreachable, and back to 200 when it returns', async () => {
    await proxy.cut();
    const down = await app.fetch('/ready');
    const downBody = await readyBody(down);
    expect(down.status).toBe(503);
    expect(downBody.status).toBe('not_ready');
    expect(downBody.checks.postgres.status).toBe('down');
    expect(downBody.checks.postgres.error).toBeTruthy();
    expect(downBody.checks.redis.status).toBe('up');

    await proxy.restore();
    const up = await app.fetch('/ready');
    expect(up.status, JSON.stringify(await up.clone().json())).toBe(200);
    expect((await readyBody(up)).checks.postgres.status).toBe('up');
  });

  it('reports a Qdrant that is not ready, and one that hangs, within the timeout', async () => {
    qdrant.state.ready = false;
    const notReady = await readyBody(await app.fetch('/ready'));
    expect(notReady.checks.qdrant).toMatchObject({ status: 'down', error: expect.stringContaining('503') });
    qdrant.state.ready = true;

    qdrant.state.hang = true;
    const started = performance.now();
    const hung = await app.fetch('/ready');
    const elapsed = performance.now() - started;
    qdrant.state.hang = false;
    expect(hung.status).toBe(503);
    expect((await readyBody(hung)).checks.qdrant).toMatchObject({ status: 'down', error: expect.stringContaining('500 ms') });
    expect(elapsed).toBeLessThan(3000);
  });
});

describe.each(RUNTIMES)('GET /ready on %s with nothing configured', (runtime) => {
  let app: RuntimeHandle;
  beforeAll(async () => {
    app = await startRuntime(runtime, {});
  });
  afterAll(() => app.close());

  it('shows unconfigured dependencies as skipped, with what is used instead', async () => {
    const response = await app.fetch('/ready');
    const body = await readyBody(response);
    expect(response.status).toBe(200);
    expect(body.checks.postgres).toMatchObject({ status: 'skipped', error: 'DATABASE_URL is not set' });
    expect(body.checks.redis).toMatchObject({ status: 'skipped', mode: 'memory' });
    expect(body.checks.qdrant).toMatchObject({ status: 'skipped' });
  });
});
