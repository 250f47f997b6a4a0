import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { randomHex } from '../shared/telemetry/correlation.js';
import { apiKeys, headers, keys } from './support/actions.js';
import { type Started, start, stop } from './support/server-process.js';

/**
 * The setup docs/DEPLOY.md describes: an owner role migrates (MIGRATE_DATABASE_URL) and owns the
 * tables, the app runs as a runtime role (DATABASE_URL) with only the grants the migration gives it.
 * The runtime role must not be able to switch the audit triggers off, nor delete or rewrite audit
 * rows, while the app works as before.
 */
describe('owner and runtime roles (MIGRATE_DATABASE_URL, DATABASE_RUNTIME_ROLE)', () => {
  const suffix = randomHex(4);
  const owner = `myca_owner_${suffix}`;
  const runtime = `myca_app_${suffix}`;
  const name = `myca_roles_${suffix}`;
  const adminUrl = inject('postgresUrl');
  const urlAs = (user: string) => {
    const url = new URL(adminUrl);
    url.username = user;
    url.password = '';
    url.pathname = `/${name}`;
    return url.toString();
  };
  let admin: postgres.Sql;
  let app: postgres.Sql;
  let server: Started;
  let counter = 0;
  const submit = (body: unknown) =>
    fetch(`${server.url}/v1/actions`, { method: 'POST', headers: headers(keys.agent, `roles-${counter++}`), body: JSON.stringify(body) });

  beforeAll(async () => {
    admin = postgres(adminUrl, { max: 1, onnotice: () => {} });
    await admin.unsafe(`create role ${owner} login`);
    await admin.unsafe(`create role ${runtime} login`);
    await admin.unsafe(`create database ${name} owner ${owner}`);
    app = postgres(urlAs(runtime), { max: 1, onnotice: () => {} });
    server = await start(
      {
        DATABASE_URL: urlAs(runtime),
        MIGRATE_DATABASE_URL: urlAs(owner),
        DATABASE_RUNTIME_ROLE: runtime,
        MYCA_API_KEYS: apiKeys,
        MYCA_ENV: 'test',
        ACTION_HTTP_ALLOW_HOSTS: 'api.example.org',
      },
      { direct: true },
    );
  }, 90_000);
  afterAll(async () => {
    if (server && server.child.exitCode === null) await stop(server);
    await app?.end();
    await admin?.unsafe(`drop database if exists ${name} with (force)`);
    await admin?.unsafe(`drop role if exists ${runtime}`);
    await admin?.unsafe(`drop role if exists ${owner}`);
    await admin?.end();
  });

  it('migrates as the owner: the tables are the owner’s, not the runtime role’s', async () => {
    const tables = await app<{ tablename: string; tableowner: string }[]>`
      select tablename, tableowner from pg_tables where schemaname = 'public' order by tablename`;
    expect(tables.map((t) => t.tablename)).toContain('action_audit_logs');
    for (const table of tables) expect(table.tableowner, table.tablename).toBe(owner);
  });

  it('the app works as the runtime role: actions execute, are held and decided, the chain verifies', async () => {
    const executed = await submit({ type: 'db.query', input: { query: 'actions_of_type', params: { action_type: 'db.query' } } });
    expect(executed.status, await executed.clone().text()).toBe(200);
    expect(await executed.json()).toMatchObject({ status: 'executed' });
    const held = await submit({ type: 'http.request', input: { method: 'POST', url: 'http://api.example.org/x' } });
    const pending = (await held.json()) as { id: string; status: string };
    expect(pending.status).toBe('pending');
    const rejected = await fetch(`${server.url}/v1/actions/${pending.id}/reject`, {
      method: 'POST',
      headers: headers(keys.approver),
      body: JSON.stringify({ reason: 'not now' }),
    });
    expect(rejected.status, await rejected.clone().text()).toBe(200);
    const verify = await fetch(`${server.url}/v1/audit/verify`, { headers: headers(keys.admin) });
    expect(verify.status).toBe(200);
    expect(await verify.json()).toMatchObject({ ok: true });
  });

  it('the runtime role cannot disable the audit triggers, nor delete, truncate or rewrite audit rows', async () => {
    const [before] = await app<{ logs: number; events: number }[]>`
      select (select count(*)::int from action_audit_logs) as logs, (select count(*)::int from action_audit_events) as events`;
    expect(before?.logs).toBeGreaterThan(0);
    const refused = async (statement: string) => {
      const error = await app.unsafe(statement).then(
        () => null,
        (e: { code?: string }) => e,
      );
      expect(error?.code, statement).toBe('42501'); // insufficient_privilege
    };
    for (const table of ['action_audit_logs', 'action_audit_events']) {
      await refused(`alter table ${table} disable trigger user`);
      await refused(`alter table ${table} disable trigger all`);
      await refused(`delete from ${table}`);
      await refused(`truncate ${table}`);
      await refused(`drop table ${table}`);
    }
    // Checkpoints are the archive's (run as the owner): a forged one could cover deleted events.
    await refused(`delete from audit_checkpoints`);
    await refused(`update audit_checkpoints set events = events`);
    await refused(`insert into audit_checkpoints default values`);
    await refused(`drop trigger action_audit_logs_transitions_only on action_audit_logs`);
    await refused(`update action_audit_events set hash = repeat('0', 64)`);
    await refused(
      `create or replace function action_audit_logs_transitions_only() returns trigger language plpgsql as $$ begin return new; end; $$`,
    );
    const [after] = await app<{ logs: number; events: number }[]>`
      select (select count(*)::int from action_audit_logs) as logs, (select count(*)::int from action_audit_events) as events`;
    expect(after).toEqual(before);
  });

  it('a server given only the runtime role (no MIGRATE_DATABASE_URL) starts on the current schema and serves', async () => {
    const second = await start(
      { DATABASE_URL: urlAs(runtime), DATABASE_RUNTIME_ROLE: runtime, MYCA_API_KEYS: apiKeys, MYCA_ENV: 'test', LOG_LEVEL: 'debug' },
      { direct: true },
    );
    try {
      const whoami = await fetch(`${second.url}/v1/actions?limit=1`, { headers: headers(keys.admin) });
      expect(whoami.status).toBe(200);
      expect(second.output()).toContain('"applied":[]');
    } finally {
      await stop(second);
    }
  }, 90_000);
});
