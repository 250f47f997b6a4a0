import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiKeys, headers, keys, migratedDatabase } from '../../test/support/actions.js';
import type { TestDatabase } from '../../test/support/databases.js';
import { RUNTIMES, type RuntimeHandle, startRuntime } from '../../test/support/runtimes.js';

interface AgentEntry {
  name: string;
  model: string;
  available: boolean;
  reason?: string;
}

/**
 * docs/AGENTS.md: "an agent whose model is not in models.yaml is listed as unavailable (start answers
 * 503 naming the model), as a provider without a key is". With no provider key at all (the first
 * `npm start`), every shipped agent's model is served by a provider that has no key.
 */
describe.each(RUNTIMES)('agent availability without a provider key on %s', (runtime) => {
  let database: TestDatabase;
  let app: RuntimeHandle;
  let sql: postgres.Sql;

  beforeAll(async () => {
    database = await migratedDatabase();
    sql = postgres(database.url, { max: 1, onnotice: () => {} });
    // No OPENAI_API_KEY (nor any other provider's): the shipped agents' models (planning, execution) cannot be served.
    app = await startRuntime(runtime, { DATABASE_URL: database.url, MYCA_API_KEYS: apiKeys });
  });
  afterAll(async () => {
    await app?.close();
    await sql?.end();
    await database?.drop();
  });

  it('lists an agent whose provider has no key as unavailable, with the reason', async () => {
    const response = await app.fetch('/v1/agents', { headers: headers(keys.mycology) });
    expect(response.status).toBe(200);
    const { data } = (await response.json()) as { data: AgentEntry[] };
    const mycology = data.find((agent) => agent.name === 'mycology');
    expect(mycology, JSON.stringify(data)).toMatchObject({ model: 'planning', available: false });
    expect(mycology?.reason).toEqual(expect.stringContaining('openai'));
  });

  it('answers a run start for such an agent with 503 problem+json naming the provider, and records no run', async () => {
    const response = await app.fetch('/v1/agents/mycology/runs', {
      method: 'POST',
      headers: headers(keys.mycology),
      body: JSON.stringify({ input: 'What is turkey tail?' }),
    });
    const body = (await response.json()) as Record<string, unknown>;
    expect(response.status, JSON.stringify(body)).toBe(503);
    expect(response.headers.get('content-type')).toContain('application/problem+json');
    expect(body).toMatchObject({ code: 'UNAVAILABLE', hint: expect.any(String) });
    expect(body.detail).toEqual(expect.stringContaining('openai'));
    const [count] = await sql`select count(*)::int as n from agent_runs where agent_name = 'mycology'`;
    expect(count?.n).toBe(0);
  });
});
