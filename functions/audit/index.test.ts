import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiKeys, headers, keys, migratedDatabase } from '../../test/support/actions.js';
import type { TestDatabase } from '../../test/support/databases.js';
import { RUNTIMES, type RuntimeHandle, startRuntime } from '../../test/support/runtimes.js';

describe.each(RUNTIMES)('GET /v1/audit/verify on %s', (runtime) => {
  let database: TestDatabase;
  let app: RuntimeHandle;
  let sql: postgres.Sql;
  let counter = 0;
  beforeAll(async () => {
    database = await migratedDatabase();
    sql = postgres(database.url, { max: 1, onnotice: () => {} });
    app = await startRuntime(runtime, { DATABASE_URL: database.url, MYCA_API_KEYS: apiKeys, APPROVAL_REQUIRED: 'true' });
  });
  afterAll(async () => {
    await app?.close();
    await sql?.end();
    await database?.drop();
  });
  const verify = async () => {
    const response = await app.fetch('/v1/audit/verify', { headers: headers(keys.admin) });
    return { status: response.status, body: (await response.json()) as { ok: boolean; broken?: { seq: number; reason: string } } };
  };
  const submit = async (body: Record<string, unknown>) =>
    (await (
      await app.fetch('/v1/actions', {
        method: 'POST',
        headers: headers(keys.agent, `audit-${runtime}-${counter++}`),
        body: JSON.stringify(body),
      })
    ).json()) as { id: string; status: string };
  /** What only a superuser can do: statements with the triggers off. */
  const tamper = (statement: (tx: postgres.TransactionSql) => Promise<unknown>) =>
    sql.begin(async (tx) => {
      await tx`set local session_replication_role = replica`;
      await statement(tx);
    });
  /** Verify until it reports a break (the anchor is written just after the commit on Node). */
  const broken = async () => {
    const deadline = Date.now() + 5000;
    for (;;) {
      const result = await verify();
      if (result.status === 409 || Date.now() > deadline) return result;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  };

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

  it('refuses changes to action rows that are not transitions, and catches a transition made without its event', async () => {
    const executed = await submit({ type: 'db.query', input: { query: 'audit_counts_by_status' } });
    const held = await submit({ type: 'file.write', input: { path: 'notes/a.txt', content: 'a' } });
    expect([executed.status, held.status]).toEqual(['executed', 'pending']);
    await expect(sql`update action_audit_logs set outputs = '{}' where id = ${executed.id}`).rejects.toThrow(/not a transition/);
    await expect(sql`update action_audit_logs set inputs = '{}', status = 'rejected' where id = ${held.id}`).rejects.toThrow(
      /outcome columns/,
    );
    await expect(sql`update action_audit_logs set status = 'executed' where id = ${held.id}`).rejects.toThrow(/not a transition/);
    await expect(sql`delete from action_audit_logs where id = ${executed.id}`).rejects.toThrow(/never removed/);
    await expect(sql`truncate action_audit_logs cascade`).rejects.toThrow(/never removed/);
    expect((await verify()).status).toBe(200);

    // A defined transition, but without its event: the row disagrees with its chain.
    await sql`update action_audit_logs set status = 'rejected', rejection_reason = 'forged' where id = ${held.id}`;
    expect((await verify()).body).toMatchObject({ ok: false, broken: { reason: expect.stringContaining('last event is "decided"') } });
    await tamper((tx) => tx`update action_audit_logs set status = 'pending', rejection_reason = null where id = ${held.id}`);
    expect((await verify()).status).toBe(200);

    // With the triggers off (a superuser), a rewritten type is still caught by the chain.
    await tamper((tx) => tx`update action_audit_logs set action_type = 'file.read' where id = ${held.id}`);
    expect((await verify()).body).toMatchObject({ ok: false, broken: { reason: expect.stringContaining('"requested" event') } });
    await tamper((tx) => tx`update action_audit_logs set action_type = 'file.write' where id = ${held.id}`);
    expect((await verify()).status).toBe(200);
  });

  it.each(['an executed read', 'a rejected write'])(
    'catches the newest events deleted, by the head anchored outside the database (the last write: %s)',
    async (last) => {
      await submit({ type: 'db.query', input: { query: 'audit_counts_by_status' } });
      let id: string;
      if (last === 'an executed read') id = (await submit({ type: 'db.query', input: { query: 'audit_counts_by_status' } })).id;
      else {
        id = (await submit({ type: 'file.write', input: { path: 'notes/b.txt', content: 'b' } })).id;
        const rejected = await app.fetch(`/v1/actions/${id}/reject`, {
          method: 'POST',
          headers: headers(keys.approver),
          body: JSON.stringify({ reason: 'no' }),
        });
        expect(rejected.status).toBe(200);
      }
      const events = await sql`select * from action_audit_events where action_id = ${id} order by seq`;
      const [row] = await sql`select * from action_audit_logs where id = ${id}`;
      expect(events.length).toBeGreaterThan(0);
      await tamper((tx) => tx`delete from action_audit_events where action_id = ${id}`);
      await tamper((tx) => tx`delete from action_audit_logs where id = ${id}`);
      // What is left still links from genesis to its new end: only the anchor shows that the end is gone.
      const result = await broken();
      expect(result.status).toBe(409);
      expect(result.body.broken?.reason).toContain('anchored head');
      await tamper(async (tx) => {
        for (const event of events) await tx`insert into action_audit_events ${tx(event as Record<string, unknown>)}`;
      });
      // The events are back but not their action's row: that is caught too.
      expect((await verify()).body).toMatchObject({ ok: false, broken: { reason: expect.stringContaining('no row') } });
      await tamper((tx) => tx`insert into action_audit_logs ${tx(row as Record<string, unknown>)}`);
      expect((await verify()).status).toBe(200);
    },
  );
});
