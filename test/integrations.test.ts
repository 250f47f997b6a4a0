import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { CONTRACTS, GENERATED_DIR, generate } from '../scripts/contracts.js';
import { apiKeys, headers, keys, migratedDatabase } from './support/actions.js';
import type { TestDatabase } from './support/databases.js';
import { startContractServer } from './support/fake-contract-server.js';
import { RUNTIMES, type RuntimeHandle, startRuntime } from './support/runtimes.js';

type Fake = Awaited<ReturnType<typeof startContractServer>>;
interface ActionBody {
  id: string;
  status: string;
  action_status?: string;
  digest: string;
  output?: { data?: Array<Record<string, unknown>>; pagination?: { total: number; offset: number; limit: number }; status?: string };
  problem?: { status: number; detail: string };
  detail?: string;
  hint?: string;
}

describe.each(RUNTIMES)('integration clients on %s, against loopback servers that speak the pinned contracts', (runtime) => {
  let database: TestDatabase;
  let app: RuntimeHandle;
  let mindex: Fake;
  let natureos: Fake;
  let website: Fake;
  let counter = 0;

  // Each agent acts with its own key (a key acts only as its agent): mycology's, or the test agent planner's.
  const act = async (type: string, input: Record<string, unknown>, agent: 'mycology' | 'planner' = 'mycology') => {
    const response = await app.fetch('/v1/actions', {
      method: 'POST',
      headers: headers(agent === 'mycology' ? keys.mycology : keys.agent, `int-${runtime}-${counter++}`),
      body: JSON.stringify({ type, input, agent_id: agent }),
    });
    return { response, body: (await response.json()) as ActionBody };
  };

  beforeAll(async () => {
    database = await migratedDatabase();
    [mindex, natureos, website] = await Promise.all([
      startContractServer('mindex'),
      startContractServer('natureos'),
      startContractServer('website'),
    ]);
    app = await startRuntime(runtime, {
      DATABASE_URL: database.url,
      MYCA_API_KEYS: apiKeys,
      MINDEX_BASE_URL: mindex.url,
      MINDEX_API_KEY: 'mindex-test-key',
      NATUREOS_BASE_URL: natureos.url,
      NATUREOS_API_KEY: 'natureos-test-token',
      WEBSITE_BASE_URL: website.url,
      INTEGRATION_TIMEOUT_MS: '400',
      INTEGRATION_RETRIES: '1',
      ACTION_HTTP_ALLOW_PRIVATE: 'true',
    });
  });
  afterAll(async () => {
    await app?.close();
    await Promise.all([mindex?.close(), natureos?.close(), website?.close()]);
    await database?.drop();
  });
  beforeEach(() => {
    mindex.reset();
    natureos.reset();
    website.reset();
  });

  it('searches taxa: the answer checked against the contract, the API key and the correlation id sent', async () => {
    const { response, body } = await act('mindex.search_taxa', { q: 'amanita', limit: 2 });
    expect(response.status).toBe(200);
    expect(body.status).toBe('executed');
    expect(body.output?.data?.map((taxon) => taxon.scientific_name)).toEqual(['Amanita muscaria', 'Trametes versicolor']);
    expect(body.output?.pagination).toEqual({ limit: 2, offset: 0, total: 3 });
    const [call] = mindex.calls;
    expect(call?.path).toBe('/api/mindex/taxa');
    expect(call?.query.get('q')).toBe('amanita');
    expect(call?.headers['x-api-key']).toBe('mindex-test-key');
    const correlationId = response.headers.get('x-correlation-id');
    expect(call?.headers['x-correlation-id']).toBe(correlationId);
    expect(call?.headers.traceparent).toMatch(new RegExp(`^00-${correlationId}-[0-9a-f]{16}-0[01]$`));
  });

  it('pages with limit and offset', async () => {
    const { body } = await act('mindex.search_taxa', { limit: 2, offset: 2 });
    expect(body.output?.data?.map((taxon) => taxon.id)).toEqual(['tx_pleurotus_ostreatus']);
    expect(body.output?.pagination).toEqual({ limit: 2, offset: 2, total: 3 });
  });

  it('turns a 404 into a typed error naming the service and the operation', async () => {
    const { response, body } = await act('mindex.get_taxon', { id: 'tx_unknown' });
    expect(response.status).toBe(404);
    expect(body.action_status).toBe('failed');
    expect(body.problem?.detail).toBe('mindex getTaxon: answered 404: No taxon tx_unknown');
    const found = await act('mindex.get_taxon', { id: 'tx_amanita_muscaria' });
    expect(found.body.output).toMatchObject({ scientific_name: 'Amanita muscaria', traits: expect.any(Array) });
  });

  it('waits out a 429 with Retry-After, then succeeds', async () => {
    mindex.queue('searchTaxa', { status: 429, body: { status: 429, title: 'Too many requests' }, headers: { 'retry-after': '1' } });
    const started = Date.now();
    const { response } = await act('mindex.search_taxa', { q: 'x' });
    expect(response.status).toBe(200);
    expect(Date.now() - started).toBeGreaterThanOrEqual(900);
    expect(mindex.calls).toHaveLength(2);
  });

  it('gives up after the timeout of each attempt with a clear 504', async () => {
    mindex.queue('listObservations', { hang: true }, { hang: true });
    const { response, body } = await act('mindex.list_observations', { taxon_id: 'tx_amanita_muscaria' });
    expect(response.status).toBe(504);
    expect(body.problem?.detail).toBe('mindex listObservations: no answer within 400 ms (2 attempt(s))');
  });

  it('refuses an answer that breaks the contract with a typed error naming the field, and keeps serving', async () => {
    mindex.queue('searchTaxa', {
      mutate: (example) => {
        const copy = example as { data: Array<Record<string, unknown>> };
        delete copy.data[0]?.scientific_name;
        return copy;
      },
    });
    const { response, body } = await act('mindex.search_taxa', {});
    expect(response.status).toBe(502);
    expect(body.problem?.detail).toMatch(/^mindex searchTaxa: the answer does not match contract 1\.4\.0: data\.0\.scientific_name: /);
    expect((await act('mindex.search_taxa', {})).response.status).toBe(200);
  });

  it('holds a NatureOS status change for approval, then sends it with the bearer token', async () => {
    const held = await act('natureos.update_device_status', { id: 'nd_1', status: 'maintenance', reason: 'probe cleaning' }, 'planner');
    expect(held.response.status).toBe(202);
    expect(natureos.calls).toHaveLength(0);
    const approved = await app.fetch(`/v1/actions/${held.body.id}/approve`, {
      method: 'POST',
      headers: headers(keys.approver),
      body: JSON.stringify({ digest: held.body.digest }),
    });
    expect(approved.status).toBe(200);
    expect(((await approved.json()) as ActionBody).output?.status).toBe('maintenance');
    expect(natureos.calls[0]).toMatchObject({
      method: 'PATCH',
      path: '/api/devices/nd_1/status',
      body: { status: 'maintenance', reason: 'probe cleaning' },
    });
    expect(natureos.calls[0]?.headers.authorization).toBe('Bearer natureos-test-token');
    const devices = await act('natureos.list_devices', { status: 'active' }, 'planner');
    expect(devices.body.output?.data).toHaveLength(2);
  });

  it('reports each integration in /ready with its version against the pinned contract, without failing readiness', async () => {
    const ready = (await (await app.fetch('/ready')).json()) as { status: string; integrations: Record<string, Record<string, unknown>> };
    expect(ready.integrations).toMatchObject({
      mindex: { status: 'up', contract: '1.4.0', version: '1.4.2', compatible: true },
      natureos: { status: 'up', contract: '2.1.0', version: '2.1.3', compatible: true },
      website: { status: 'up', contract: '1.0.0', version: '1.2.0', compatible: true },
    });
    mindex.reportVersion('2.0.0');
    const after = (await (await app.fetch('/ready')).json()) as typeof ready;
    expect(after.integrations.mindex).toMatchObject({
      status: 'up',
      version: '2.0.0',
      compatible: false,
      error: expect.stringContaining('1.4.0'),
    });
    expect(after.status).toBe('ready');
  });
});

describe('integration clients, what only Node shows', () => {
  let database: TestDatabase;
  let app: RuntimeHandle;
  let mindex: Fake;
  beforeAll(async () => {
    database = await migratedDatabase();
    mindex = await startContractServer('mindex');
  });
  afterAll(async () => {
    await app?.close();
    await mindex?.close();
    await database?.drop();
  });

  it('traces each call as a client span, and answers 503 with a hint when the service is not configured', async () => {
    app = await startRuntime('node', { DATABASE_URL: database.url, MYCA_API_KEYS: apiKeys, MINDEX_BASE_URL: mindex.url });
    const client = app.services?.integrations.mindex;
    expect(client).toBeTruthy();
    const taxon = await client?.getTaxon('tx_amanita_muscaria');
    expect(taxon?.traits[0]?.name).toBe('edibility');
    await app.flush();
    expect(app.spans?.getFinishedSpans().map((span) => span.name)).toContain('mindex getTaxon');
    await app.close();

    app = await startRuntime('node', { DATABASE_URL: database.url, MYCA_API_KEYS: apiKeys });
    const refused = await app.fetch('/v1/actions', {
      method: 'POST',
      headers: headers(keys.agent, 'not-configured'),
      body: JSON.stringify({ type: 'natureos.list_devices', input: {} }),
    });
    expect(refused.status).toBe(503);
    expect(((await refused.json()) as ActionBody).hint).toContain('NATUREOS_BASE_URL');
    const ready = (await (await app.fetch('/ready')).json()) as { integrations: Record<string, { status: string }> };
    expect(ready.integrations.natureos?.status).toBe('skipped');
  });

  it('has generated types that match the contracts (npm run contracts)', async () => {
    for (const name of CONTRACTS) {
      expect(readFileSync(join(GENERATED_DIR, `${name}.ts`), 'utf8'), `${name}.ts is stale: run npm run contracts`).toBe(
        await generate(name),
      );
    }
  }, 30_000);
});
