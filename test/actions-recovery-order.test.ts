import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { transition } from '../functions/actions/store.js';
import { apiKeys, headers, insertExecuting, keys, migratedDatabase } from './support/actions.js';
import type { TestDatabase } from './support/databases.js';
import { RUNTIMES, type RuntimeHandle, startRuntime } from './support/runtimes.js';

/**
 * Two held writes of one file, approved in the other order than they were asked for: the younger
 * one's worker writes the file and stops before recording it; then the older one is approved and
 * runs. The file holds the older one's bytes, the last decision. Recovery must not put the
 * younger one's bytes back over it: what "superseded" means is which write ran last, not which
 * was asked for last.
 */
describe.each(RUNTIMES)('the recovery sweep and writes approved out of order (%s)', (runtime) => {
  let database: TestDatabase;
  let app: RuntimeHandle;
  let admin: postgres.Sql;

  beforeAll(async () => {
    database = await migratedDatabase();
    admin = postgres(database.url, { max: 2, onnotice: () => {} });
    app = await startRuntime(runtime, {
      DATABASE_URL: database.url,
      MYCA_API_KEYS: apiKeys,
      MYCA_FILES_ROOT: mkdtempSync(join(tmpdir(), 'myca-recovery-order-')),
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

  it('does not run an interrupted write again over an older write that was approved and ran after it', async () => {
    const path = 'notes/plan.md';
    // The older request, held for an approver.
    const older = await app.fetch('/v1/actions', {
      method: 'POST',
      headers: headers(keys.corporate, `older-${runtime}`),
      body: JSON.stringify({ type: 'file.write', input: { path, content: 'older, approved last' } }),
    });
    expect(older.status).toBe(202);
    const held = (await older.json()) as { id: string; digest: string };

    // The younger one: approved first, its worker wrote the file and stopped (row left executing).
    const younger = await insertExecuting(admin, {
      key: `younger-${runtime}`,
      type: 'file.write',
      input: { path, content: 'younger, approved first' },
      agent: 'corporate',
    });
    expect(younger.status).toBe('executing');
    await app.files.write(path, 'younger, approved first');

    // Then the older one is approved and runs: the file holds the last decision.
    const approved = await app.fetch(`/v1/actions/${held.id}/approve`, {
      method: 'POST',
      headers: headers(keys.approver),
      body: JSON.stringify({ digest: held.digest }),
    });
    expect(approved.status).toBe(200);
    expect(await app.files.read(path)).toBe('older, approved last');

    await new Promise((resolve) => setTimeout(resolve, 1100));
    await app.sweep();
    const [row] = await admin<{ status: string; error: string | null }[]>`
      select status, error from action_audit_logs where id = ${younger.id}`;
    expect(['executed', 'failed']).toContain(row?.status);
    expect(await app.files.read(path), `the sweep ended the younger write ${row?.status}`).toBe('older, approved last');
  });

  it('does not run an interrupted write again over an older write approved after it that was interrupted too (one sweep takes both)', async () => {
    // One worker stops with both writes in flight: the younger one started first, the older one was
    // approved and started after it. Each wrote the file; the file holds the older one's bytes, the
    // last to run. The sweep takes both at once, oldest first.
    const path = 'notes/both.md';
    const older = await app.fetch('/v1/actions', {
      method: 'POST',
      headers: headers(keys.corporate, `both-older-${runtime}`),
      body: JSON.stringify({ type: 'file.write', input: { path, content: 'older, started last' } }),
    });
    expect(older.status).toBe(202);
    const held = (await older.json()) as { id: string };

    const younger = await insertExecuting(admin, {
      key: `both-younger-${runtime}`,
      type: 'file.write',
      input: { path, content: 'younger, started first' },
      agent: 'corporate',
    });
    expect(younger.status).toBe('executing');
    await app.files.write(path, 'younger, started first');

    // The older one is approved and starts after it; its worker writes the file and stops too.
    await new Promise((resolve) => setTimeout(resolve, 50));
    const event = { actor: 'approver', correlationId: `both-older-${runtime}`, data: {} };
    expect(await transition(admin, held.id, ['pending'], 'approved', { ...event, event: 'approved' }, { leaseS: 1 })).toBeDefined();
    expect(await transition(admin, held.id, ['approved'], 'executing', { ...event, event: 'executing' }, { leaseS: 1 })).toBeDefined();
    await app.files.write(path, 'older, started last');

    await new Promise((resolve) => setTimeout(resolve, 1100));
    await app.sweep();
    const rows = await admin<{ id: string; status: string }[]>`
      select id, status from action_audit_logs where id in (${held.id}, ${younger.id})`;
    expect(rows).toHaveLength(2);
    expect(await app.files.read(path), `the sweep ended them ${rows.map((row) => row.status).join(', ')}`).toBe('older, started last');
  });
});
