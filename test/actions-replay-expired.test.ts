/**
 * REVIEW (wt/review): with expiry moved to the sweep, reads show an overdue held action as expired
 * (list.ts asSeen), but the idempotent replay of POST /v1/actions (submit.ts replay) still answers
 * from the raw row: 202 with status "pending" for an action whose deadline has passed, until the next
 * sweep records it. An agent retrying its request (what the Idempotency-Key is for) is told to keep
 * waiting for an approval that can no longer come. Expected: the replay shows it as the reads do
 * (status "expired", not 202).
 * FAILS TODAY: 202 { status: "pending", replayed: true }.
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
    const idempotencyKey = `review-replay-${Date.now()}`;
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
