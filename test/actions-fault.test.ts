import { mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiKeys, headers, keys, migratedDatabase } from './support/actions.js';
import type { TestDatabase } from './support/databases.js';
import { type RuntimeHandle, startRuntime } from './support/runtimes.js';

describe('action-execute while Postgres connections are cut (node)', () => {
  let database: TestDatabase;
  let app: RuntimeHandle;
  let admin: postgres.Sql;
  let filesRoot: string;

  beforeAll(async () => {
    database = await migratedDatabase();
    admin = postgres(database.url, { max: 1, onnotice: () => {} });
    filesRoot = mkdtempSync(join(tmpdir(), 'myca-fault-'));
    app = await startRuntime('node', { DATABASE_URL: database.url, MYCA_API_KEYS: apiKeys, MYCA_FILES_ROOT: filesRoot });
  });
  afterAll(async () => {
    await app?.close();
    await admin?.end();
    await database?.drop();
  });

  it('answers 503 during the cut, never executes without its audit row, leaves nothing half-written and recovers by itself', async () => {
    let n = 0;
    const statuses: number[] = [];
    let stop = false;
    const submitter = async () => {
      while (!stop) {
        const i = n++;
        const response = await app.fetch('/v1/actions', {
          method: 'POST',
          headers: headers(keys.agent, `fault-${i}`),
          body: JSON.stringify({
            type: 'file.write',
            input: { path: `scratch/fault-${i}.txt`, content: String(i) },
          }),
        });
        statuses.push(response.status);
        await response.arrayBuffer();
      }
    };
    const load = Promise.all(Array.from({ length: 8 }, submitter));
    await new Promise((resolve) => setTimeout(resolve, 300));
    // Cut every connection the app holds, several times over a second.
    for (let cut = 0; cut < 5; cut++) {
      await admin`select pg_terminate_backend(pid) from pg_stat_activity where datname = current_database() and pid <> pg_backend_pid() and application_name = 'myca-edge'`;
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    await new Promise((resolve) => setTimeout(resolve, 500));
    stop = true;
    await load;

    expect(statuses.length).toBeGreaterThan(20);
    expect(
      statuses.every((s) => s === 200 || s === 503),
      JSON.stringify([...new Set(statuses)]),
    ).toBe(true);
    expect(statuses.filter((s) => s === 200).length).toBeGreaterThan(0);

    const rows = await admin<
      { path: string; status: string }[]
    >`select inputs->>'path' as path, status from action_audit_logs where action_type = 'file.write'`;
    const byPath = new Map(rows.map((row) => [row.path, row.status]));
    const written = readdirSync(join(filesRoot, 'scratch')).map((file) => `scratch/${file}`);
    // Every file on disk has its audit row (executed, or executing when only the outcome was lost).
    for (const path of written) expect(['executed', 'executing'], path).toContain(byPath.get(path));
    // Every row that says executed really was.
    for (const [path, status] of byPath) if (status === 'executed') expect(written).toContain(path);
    // Nothing half-written: each action's events match its state.
    const broken = await admin`
      select l.id from action_audit_logs l
      where not exists (select 1 from action_audit_events e where e.action_id = l.id and e.event = 'requested')
         or (l.status = 'executed' and not exists (select 1 from action_audit_events e where e.action_id = l.id and e.event = 'executed'))`;
    expect(broken).toHaveLength(0);
    const verified = (await (await app.fetch('/v1/audit/verify', { headers: headers(keys.admin) })).json()) as { ok: boolean };
    expect(verified, JSON.stringify(verified)).toMatchObject({ ok: true });

    // Recovered with no restart.
    const after = await app.fetch('/v1/actions', {
      method: 'POST',
      headers: headers(keys.agent, 'fault-after'),
      body: JSON.stringify({ type: 'file.write', input: { path: 'scratch/after.txt', content: 'ok' } }),
    });
    expect(after.status).toBe(200);
  }, 30_000);
});
