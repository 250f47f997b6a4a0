import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiKeys, headers, keys, migratedDatabase } from '../../test/support/actions.js';
import type { TestDatabase } from '../../test/support/databases.js';
import { RUNTIMES, type RuntimeHandle, startRuntime } from '../../test/support/runtimes.js';

describe.each(RUNTIMES)('GET /v1/audit/verify on %s', (runtime) => {
  let database: TestDatabase;
  let app: RuntimeHandle;
  beforeAll(async () => {
    database = await migratedDatabase();
    app = await startRuntime(runtime, { DATABASE_URL: database.url, MYCA_API_KEYS: apiKeys });
  });
  afterAll(async () => {
    await app?.close();
    await database?.drop();
  });

  it('is for admins only', async () => {
    expect((await app.fetch('/v1/audit/verify', { headers: headers(keys.agent) })).status).toBe(403);
    expect((await app.fetch('/v1/audit/verify', { headers: headers(keys.approver) })).status).toBe(403);
  });

  it('verifies the chain and reports its head after actions are recorded', async () => {
    const empty = (await (await app.fetch('/v1/audit/verify', { headers: headers(keys.admin) })).json()) as { ok: boolean; events: number };
    expect(empty).toMatchObject({ ok: true, events: 0 });
    await app.fetch('/v1/actions', {
      method: 'POST',
      headers: headers(keys.agent, `verify-${runtime}`),
      body: JSON.stringify({ type: 'db.query', input: { query: 'audit_counts_by_status' } }),
    });
    const after = (await (await app.fetch('/v1/audit/verify', { headers: headers(keys.admin) })).json()) as {
      ok: boolean;
      events: number;
      head: string;
    };
    expect(after).toMatchObject({ ok: true, events: 4 });
    expect(after.head).toMatch(/^[0-9a-f]{64}$/);
  });
});
