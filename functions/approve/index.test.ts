import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiKeys, expireNow, headers, keys, migratedDatabase } from '../../test/support/actions.js';
import type { TestDatabase } from '../../test/support/databases.js';
import { RUNTIMES, type RuntimeHandle, startRuntime } from '../../test/support/runtimes.js';

let counter = 0;
const idem = () => `approve-${Date.now()}-${counter++}`;

describe.each(RUNTIMES)('approve on %s (security)', (runtime) => {
  let database: TestDatabase;
  let app: RuntimeHandle;
  let sql: postgres.Sql;
  const submit = (body: unknown, key = keys.agent) =>
    app.fetch('/v1/actions', { method: 'POST', headers: headers(key, idem()), body: JSON.stringify(body) });
  const decide = (key: string, id: string, verb: 'approve' | 'reject', body: unknown) =>
    app.fetch(`/v1/actions/${id}/${verb}`, { method: 'POST', headers: headers(key), body: JSON.stringify(body) });
  /** A held db.query (a read made to wait by an agent override is not shipped; use the write query path). */
  const hold = async () => {
    const response = await submit({
      type: 'http.request',
      input: { method: 'POST', url: 'http://127.0.0.1:9/none' },
    });
    expect(response.status).toBe(202);
    return (await response.json()) as { id: string; digest: string };
  };

  beforeAll(async () => {
    database = await migratedDatabase();
    sql = postgres(database.url, { max: 2, onnotice: () => {} });
    app = await startRuntime(runtime, {
      DATABASE_URL: database.url,
      MYCA_API_KEYS: `${apiKeys},planner-approver:approver:myca_${'c9'.repeat(16)}`,
      ACTION_HTTP_ALLOW_HOSTS: '127.0.0.1',
      ACTION_HTTP_ALLOW_PRIVATE: 'true',
    });
  });
  afterAll(async () => {
    await app?.close();
    await sql?.end();
    await database?.drop();
  });

  it('an agent key can never approve or reject', async () => {
    const held = await hold();
    expect((await decide(keys.agent2, held.id, 'approve', { digest: held.digest })).status).toBe(403);
    expect((await decide(keys.agent2, held.id, 'reject', { reason: 'no' })).status).toBe(403);
    const [row] = await sql`select status from action_audit_logs where id = ${held.id}`;
    expect(row?.status).toBe('pending');
  });

  it('an approver cannot decide what its own principal requested', async () => {
    // An approver key submitting is refused outright; an admin key may submit (as the agent named like it) but not approve its own.
    const ownResponse = await submit({ type: 'http.request', input: { method: 'PUT', url: 'http://127.0.0.1:9/x' } }, keys.admin);
    const own = (await ownResponse.json()) as { id: string; digest: string };
    expect(ownResponse.status).toBe(202);
    const self = await decide(keys.admin, own.id, 'approve', { digest: own.digest });
    expect(self.status).toBe(403);
    expect(await self.json()).toMatchObject({ detail: expect.stringContaining('own principal') });
  });

  it('of 200 concurrent approvals exactly one executes; a replayed approval is 409', async () => {
    const held = await hold();
    // Node: all 200 at once through its pool. workerd opens a database connection per request, and
    // 200 at once would exhaust this machine's Postgres (100 connections) for every other test file
    // running beside this one, so there they go in waves of 40 (each wave fully concurrent).
    const wave = runtime === 'node' ? 200 : 40;
    const statuses: number[] = [];
    for (let start = 0; start < 200; start += wave) {
      const results = await Promise.all(
        Array.from({ length: wave }, (_, i) =>
          decide((start + i) % 2 ? keys.approver : keys.approver2, held.id, 'approve', { digest: held.digest }),
        ),
      );
      statuses.push(...results.map((r) => r.status));
    }
    // The winner executes (its call to a closed port fails: 502); every other approval is refused.
    const losers = runtime === 'node' ? [409] : [409, 503];
    expect(statuses.filter((s) => !losers.includes(s))).toHaveLength(1);
    const events =
      await sql`select event from action_audit_events where action_id = ${held.id} and event in ('approved', 'executing', 'executed', 'failed')`;
    expect(events.filter((e) => e.event === 'approved')).toHaveLength(1);
    expect(events.filter((e) => e.event === 'executing')).toHaveLength(1);
    expect((await decide(keys.approver, held.id, 'approve', { digest: held.digest })).status).toBe(409);
  });

  it('approve and reject racing: exactly one decision holds', async () => {
    const held = await hold();
    const [approve, reject] = await Promise.all([
      decide(keys.approver, held.id, 'approve', { digest: held.digest }),
      decide(keys.approver2, held.id, 'reject', { reason: 'race' }),
    ]);
    expect([approve.status, reject.status].filter((s) => s === 409)).toHaveLength(1);
    const decisions = await sql`select event from action_audit_events where action_id = ${held.id} and event in ('approved', 'rejected')`;
    expect(decisions).toHaveLength(1);
  });

  it('an expired action cannot be approved and ends as expired, not rejected', async () => {
    const held = await hold();
    await expireNow(sql, held.id);
    const late = await decide(keys.approver, held.id, 'approve', { digest: held.digest });
    expect(late.status).toBe(409);
    expect(await late.json()).toMatchObject({ action_status: 'expired' });
    const [row] = await sql`select status from action_audit_logs where id = ${held.id}`;
    expect(row?.status).toBe('expired');
    const events = await sql`select event from action_audit_events where action_id = ${held.id} order by seq`;
    expect(events.map((e) => e.event)).toContain('expired');
  });

  it('a read never shows a held action as pending past its deadline, and writes nothing; the sweep records the expiry', async () => {
    const held = await hold();
    await expireNow(sql, held.id);
    const one = await app.fetch(`/v1/actions/${held.id}`, { headers: headers(keys.approver) });
    expect(one.status).toBe(200);
    expect(await one.json()).toMatchObject({ id: held.id, status: 'expired', decided_at: null });
    const listed = async (status: string) => {
      const response = await app.fetch(`/v1/actions?status=${status}&limit=200`, { headers: headers(keys.approver) });
      return ((await response.json()) as { data: Array<{ id: string; status: string }> }).data.filter((row) => row.id === held.id);
    };
    expect(await listed('pending')).toEqual([]);
    expect(await listed('expired')).toEqual([expect.objectContaining({ status: 'expired' })]);
    // The reads wrote nothing: the row is still pending, without an expired event.
    const [before] = await sql`select status from action_audit_logs where id = ${held.id}`;
    expect(before?.status).toBe('pending');
    expect((await sql`select 1 from action_audit_events where action_id = ${held.id} and event = 'expired'`).length).toBe(0);
    // The sweep (Node timer / Cron Trigger) records it.
    await app.sweep();
    const [after] = await sql`select status, decided_at from action_audit_logs where id = ${held.id}`;
    expect(after?.status).toBe('expired');
    expect(after?.decided_at).not.toBeNull();
    expect((await sql`select 1 from action_audit_events where action_id = ${held.id} and event = 'expired'`).length).toBe(1);
  });

  it('links the approval’s trace to the request that asked for it', async (ctx) => {
    ctx.skip(runtime !== 'node', "Node only: spans are read in-process there (workerd's leave over OTLP)");
    const response = await submit({
      type: 'http.request',
      input: { method: 'POST', url: 'http://127.0.0.1:9/none' },
    });
    const held = (await response.json()) as { id: string; digest: string };
    const requestTrace = response.headers.get('traceparent') ?? '';
    await decide(keys.approver, held.id, 'approve', { digest: held.digest });
    const span = app.spans?.getFinishedSpans().find((s) => s.name === 'action.approve' && s.attributes['myca.action.id'] === held.id);
    expect(span?.links[0]?.context.traceId).toBe(requestTrace.split('-')[1]);
    expect(span?.spanContext().traceId).not.toBe(requestTrace.split('-')[1]);
  });

  it('a wrong digest changes nothing', async () => {
    const held = await hold();
    const wrong = await decide(keys.approver, held.id, 'approve', { digest: '0'.repeat(64) });
    expect(wrong.status).toBe(409);
    const [row] = await sql`select status from action_audit_logs where id = ${held.id}`;
    expect(row?.status).toBe('pending');
  });

  it('the audit chain verifies, and catches an edit, a deletion and a reorder behind the app’s back', async () => {
    const verify = () => app.fetch('/v1/audit/verify', { headers: headers(keys.admin) });
    expect((await verify()).status).toBe(200);
    expect((await app.fetch('/v1/audit/verify', { headers: headers(keys.approver) })).status).toBe(403);

    // The trigger refuses changes to the chain, even from the owner...
    await expect(sql`update action_audit_events set actor = 'mallory' where seq = 2`).rejects.toThrow(/append-only/);
    await expect(sql`truncate action_audit_events`).rejects.toThrow(/append-only/);
    // ...so the tampering below goes around it, as only a superuser could.
    const tamper = async (statement: string) => {
      await sql.begin(async (tx) => {
        await tx.unsafe('set local session_replication_role = replica');
        await tx.unsafe(statement);
      });
    };
    const check = async () => (await (await verify()).json()) as { ok: boolean; broken?: { seq: number; reason: string } };
    const [second] = await sql`select * from action_audit_events where seq = 2`;
    const [third] = await sql`select * from action_audit_events where seq = 3`;
    if (!second || !third) throw new Error('the chain needs at least three events here');

    await tamper(`update action_audit_events set actor = 'mallory' where seq = 2`);
    expect(await check()).toMatchObject({ ok: false, broken: { seq: 2, reason: expect.stringContaining('edited') } });
    await tamper(`update action_audit_events set actor = '${second.actor}' where seq = 2`);
    expect((await check()).ok).toBe(true);

    await tamper('delete from action_audit_events where seq = 2');
    expect(await check()).toMatchObject({ ok: false, broken: { seq: 3, reason: expect.stringContaining('deleted') } });
    await sql.begin(async (tx) => {
      await tx.unsafe('set local session_replication_role = replica');
      await tx`insert into action_audit_events ${tx(second as Record<string, unknown>)}`;
    });
    expect((await check()).ok).toBe(true);

    // Reorder: rows 2 and 3 swap places (everything but their sequence numbers).
    const swap = async (a: typeof second, b: typeof second) =>
      tamper(
        `update action_audit_events set action_id = '${b.action_id}', event = '${b.event}', actor = '${b.actor}', correlation_id = '${b.correlation_id}', data = '${JSON.stringify(b.data)}', created_at = '${b.created_at.toISOString()}', prev_hash = '${b.prev_hash}', hash = 'tmp-${a.seq}' where seq = ${a.seq}`,
      );
    await swap(second, third);
    await swap(third, second);
    await tamper(`update action_audit_events set hash = '${third.hash}' where seq = 2`);
    await tamper(`update action_audit_events set hash = '${second.hash}' where seq = 3`);
    expect(await check()).toMatchObject({ ok: false, broken: { seq: 2 } });
  });
});
