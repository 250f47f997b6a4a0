import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT_DIR } from '../shared/runtime/node-config.js';
import { apiKeys, headers, insertExecuting, keys, migratedDatabase } from './support/actions.js';
import type { TestDatabase } from './support/databases.js';
import { type RuntimeHandle, startRuntime } from './support/runtimes.js';

// policy.yaml's named queries may write (`write: true`: a read-write transaction, no row cap). db.query
// is in category `read` whatever its query does, so the category default (read: auto) runs such a
// query at once, and the recovery sweep counts it among the reads it may run again.
const WRITE_QUERY = `
  record_payment:
    sql: insert into payments (amount) values ($1::numeric)
    params: [amount]
    write: true
`;

describe('a named query that writes (node)', () => {
  let database: TestDatabase;
  let app: RuntimeHandle;
  let sql: postgres.Sql;
  const configDir = mkdtempSync(join(tmpdir(), 'myca-write-query-'));

  beforeAll(async () => {
    database = await migratedDatabase();
    sql = postgres(database.url, { max: 1, onnotice: () => {} });
    await sql`create table payments (id serial primary key, amount numeric not null)`;
    cpSync(join(ROOT_DIR, 'config'), configDir, { recursive: true });
    const policy = readFileSync(join(configDir, 'policy.yaml'), 'utf8').replace(/^queries:\n/m, `queries:${WRITE_QUERY}`);
    expect(policy).toContain('record_payment');
    writeFileSync(join(configDir, 'policy.yaml'), policy);
    app = await startRuntime('node', { DATABASE_URL: database.url, MYCA_API_KEYS: apiKeys, MYCA_CONFIG_DIR: configDir });
  });
  afterAll(async () => {
    await app?.close();
    await sql?.end();
    await database?.drop();
    rmSync(configDir, { recursive: true, force: true });
  });

  it('holds a db.query whose named query writes for an approver instead of running it at once as a read', async () => {
    // planner has no agents.yaml entry: the policy alone decides (docs/ACTION_AUDIT.md).
    const response = await app.fetch('/v1/actions', {
      method: 'POST',
      headers: headers(keys.agent, `write-query-${Date.now()}`),
      body: JSON.stringify({ type: 'db.query', input: { query: 'record_payment', params: { amount: '250000' } } }),
    });
    const body = (await response.json()) as { status?: string; policy_rule?: string };
    const [paid] = await sql<{ n: number }[]>`select count(*)::int as n from payments`;
    expect(paid?.n, `the payment was written (${response.status} ${body.status} by ${body.policy_rule})`).toBe(0);
    expect(response.status).toBe(202);
  });

  it('never runs again, after a crash, a query recorded as a read that the configuration now makes write', async () => {
    // Recorded before policy.yaml gave record_payment `write: true` (a read then), its worker gone.
    const input = { query: 'record_payment', params: { amount: '99' } };
    const stuck = await insertExecuting(sql, {
      key: `write-query-recovery-${Date.now()}`,
      type: 'db.query',
      input,
      agent: 'planner',
      category: 'read',
    });
    await new Promise((resolve) => setTimeout(resolve, 1100));
    await app.sweep();
    const [row] = await sql<{ status: string; error: string | null }[]>`
      select status, error from action_audit_logs where id = ${stuck.id}`;
    expect(row).toMatchObject({ status: 'failed', error: expect.stringMatching(/^interrupted:/) });
    const [paid] = await sql<{ n: number }[]>`select count(*)::int as n from payments where amount = 99`;
    expect(paid?.n).toBe(0);
  });
});
