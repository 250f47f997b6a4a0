/**
 * A retried POST /v1/actions (same Idempotency-Key) for a held action past its deadline is answered
 * as reads show it — expired, 200 — not 202 pending, though the sweep has not recorded the expiry yet.
 */
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiKeys, expireNow, headers, keys, migratedDatabase } from './support/actions.js';
import type { TestDatabase } from './support/databases.js';
import { type RuntimeHandle, startRuntime } from './support/runtimes.js';

describe('replay of an overdue held action (node)', () => {
  let database: TestDatabase;
  let app: RuntimeHandle;
  let sql: postgres.Sql;

  beforeAll(async () => {
    database = await migratedDatabase();
    sql = postgres(database.url, { max: 2, onnotice: () => {} });
    app = await startRuntime('node', {
      DATABASE_URL: database.url,
      MYCA_API_KEYS: apiKeys,
      ACTION_HTTP_ALLOW_HOSTS: '127.0.0.1',
      ACTION_HTTP_ALLOW_PRIVATE: 'true',
    });
  });
  afterAll(async () => {
    await app?.close();
    await sql?.end();
    await database?.drop();
  });

  it('answers a replay as GET does: expired, never 202 pending', async () => {
    const body = JSON.stringify({ type: 'http.request', input: { method: 'POST', url: 'http://127.0.0.1:9/none' } });
    const idempotencyKey = `replay-expired-${Date.now()}`;
    const first = await app.fetch('/v1/actions', { method: 'POST', headers: headers(keys.agent, idempotencyKey), body });
    expect(first.status).toBe(202);
    const held = (await first.json()) as { id: string };
    await expireNow(sql, held.id);
    const read = await app.fetch(`/v1/actions/${held.id}`, { headers: headers(keys.agent) });
    expect(((await read.json()) as { status: string }).status).toBe('expired');
    const replay = await app.fetch('/v1/actions', { method: 'POST', headers: headers(keys.agent, idempotencyKey), body });
    const replayed = (await replay.json()) as { status: string };
    expect({ http: replay.status, status: replayed.status }).toEqual({ http: 200, status: 'expired' });
  });
});
