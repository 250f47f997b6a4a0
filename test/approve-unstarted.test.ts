import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiKeys, headers, keys, migratedDatabase } from './support/actions.js';
import type { TestDatabase } from './support/databases.js';
import { RUNTIMES, type RuntimeHandle, startRuntime } from './support/runtimes.js';

/**
 * An approval is recorded, then the database refuses the next step (starting the action): the
 * approver is answered 503 with what the recovery sweep will do. What the sweep then does must be
 * what the answer said.
 */
describe.each(RUNTIMES)('an approval whose action could not be started (%s)', (runtime) => {
  let database: TestDatabase;
  let app: RuntimeHandle;
  let admin: postgres.Sql;

  beforeAll(async () => {
    database = await migratedDatabase();
    admin = postgres(database.url, { max: 2, onnotice: () => {} });
    app = await startRuntime(runtime, {
      DATABASE_URL: database.url,
      MYCA_API_KEYS: apiKeys,
      MYCA_FILES_ROOT: mkdtempSync(join(tmpdir(), 'myca-approve-unstarted-')),
      ACTION_LEASE_S: '1',
      ACTION_TIMEOUT_MS: '400',
      ACTION_HTTP_TIMEOUT_MS: '400',
    });
  });
  afterAll(async () => {
    await app?.close();
    await admin?.end();
    await database?.drop();
  });

  it('tells the approver what the recovery sweep will do with an approved file.delete, and the sweep does it', async () => {
    await app.files.write('notes/old.md', 'to be deleted');
    const submitted = await app.fetch('/v1/actions', {
      method: 'POST',
      headers: headers(keys.agent, `unstarted-${runtime}`),
      body: JSON.stringify({ type: 'file.delete', input: { path: 'notes/old.md' }, agent_id: 'planner' }),
    });
    expect(submitted.status).toBe(202);
    const held = (await submitted.json()) as { id: string; digest: string };

    // The database records the approval, then refuses to start the action.
    await admin.unsafe(`
      create function refuse_start() returns trigger language plpgsql as $$
      begin
        if old.status = 'approved' and new.status = 'executing' then raise exception 'the database stopped answering'; end if;
        return new;
      end $$;
      create trigger refuse_start before update on action_audit_logs for each row execute function refuse_start();`);
    let problem: { hint?: string; action_status?: string };
    try {
      const approved = await app.fetch(`/v1/actions/${held.id}/approve`, {
        method: 'POST',
        headers: headers(keys.approver),
        body: JSON.stringify({ digest: held.digest }),
      });
      problem = (await approved.json()) as typeof problem;
      expect(approved.status, JSON.stringify(problem)).toBe(503);
    } finally {
      await admin.unsafe('drop trigger refuse_start on action_audit_logs; drop function refuse_start();');
    }
    expect(problem.action_status).toBe('approved');

    await new Promise((resolve) => setTimeout(resolve, 1100));
    await app.sweep();
    const [row] = await admin<
      { status: string; error: string | null }[]
    >`select status, error from action_audit_logs where id = ${held.id}`;
    // The answer said the sweep runs it; a file.delete is never run again by the sweep, it ends failed.
    const saysRuns = /recovery sweep runs it/.test(problem.hint ?? '');
    expect({ hint: problem.hint, status: row?.status }).toEqual({ hint: problem.hint, status: saysRuns ? 'executed' : 'failed' });
  });
});
