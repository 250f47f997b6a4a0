import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Sql } from 'postgres';
import type { Logger } from '../log/index.js';
import { LOCKS } from './locks.js';

/** Arbitrary but fixed: every MYCA Edge instance takes the same lock, so only one migrates at a time. */

export interface Migration {
  version: number;
  name: string;
  sql: string;
}

/** Reads `NNNN_name.sql` files in order; a gap or duplicate number is an error, not a silent skip. */
export async function readMigrations(directory: string): Promise<Migration[]> {
  const files = (await readdir(directory)).filter((file) => file.endsWith('.sql')).sort();
  const migrations: Migration[] = [];
  for (const file of files) {
    const match = /^(\d{4})_([a-z0-9_]+)\.sql$/.exec(file);
    if (!match) throw new Error(`migrations/${file}: name it NNNN_snake_case.sql`);
    const version = Number(match[1]);
    if (migrations.some((m) => m.version === version)) throw new Error(`migrations/${file}: version ${version} is used twice`);
    migrations.push({ version, name: match[2] ?? file, sql: await readFile(join(directory, file), 'utf8') });
  }
  return migrations;
}

/**
 * Applies the migrations not yet recorded in `schema_migrations`, in one transaction under a
 * transaction-scoped advisory lock so that instances starting together do not race. Forward-only.
 * Returns the versions it applied (empty when the schema was current).
 */
export async function migrate(sql: Sql, migrations: ReadonlyArray<Migration>, logger?: Logger): Promise<number[]> {
  const applied: number[] = [];
  await sql.begin(async (lockTx) => {
    // Postgres DDL is transactional: all pending migrations run in this one transaction (each in a
    // savepoint), so a failure leaves the schema as it was, and the lock is released at the end.
    await lockTx`select pg_advisory_xact_lock(${LOCKS.migrations})`;
    // Created only when missing: a runtime role without CREATE finds a current schema and does nothing.
    const [known] = await lockTx<{ found: boolean }[]>`select to_regclass('schema_migrations') is not null as found`;
    if (!known?.found)
      await lockTx`
        create table schema_migrations (
          version integer primary key,
          name text not null,
          applied_at timestamptz not null default now()
        )`;
    const done = new Set((await lockTx<{ version: number }[]>`select version from schema_migrations`).map((row) => row.version));
    for (const migration of migrations) {
      if (done.has(migration.version)) continue;
      const started = Date.now();
      await lockTx.savepoint(async (tx) => {
        await tx.unsafe(migration.sql);
        await tx`insert into schema_migrations (version, name) values (${migration.version}, ${migration.name})`;
      });
      applied.push(migration.version);
      logger?.info('migration applied', { version: migration.version, name: migration.name, duration_ms: Date.now() - started });
    }
  });
  return applied;
}

/** The audit tables: the runtime role may read and append them, never delete, truncate or (events) rewrite. */
const AUDIT_GRANTS: ReadonlyArray<[table: string, privileges: string]> = [
  ['action_audit_logs', 'select, insert, update'], // updates pass the transitions-only trigger
  ['action_audit_events', 'select, insert'],
  ['audit_checkpoints', 'select'], // written only by the archive, which runs as the owner
  ['schema_migrations', 'select'],
];

/**
 * Gives the role the app runs as (DATABASE_RUNTIME_ROLE) exactly what it needs, run by the tables'
 * owner after migrating (idempotent): data privileges on every table and sequence of the schema,
 * but on the audit tables only those of AUDIT_GRANTS. Not being their owner, the role cannot alter
 * the tables, so it cannot switch their triggers off (ALTER TABLE … DISABLE TRIGGER), nor replace
 * the trigger functions.
 */
export async function grantRuntimeRole(sql: Sql, role: string, logger?: Logger): Promise<void> {
  if (!/^[a-z_][a-z0-9_$]{0,62}$/.test(role)) throw new Error(`DATABASE_RUNTIME_ROLE: "${role}" is not a lower-case Postgres role name`);
  await sql.begin(async (tx) => {
    const [found] = await tx<{ exists: boolean; self: boolean }[]>`
      select exists (select 1 from pg_roles where rolname = ${role}) as exists, ${role} = current_user as self`;
    if (!found?.exists) throw new Error(`DATABASE_RUNTIME_ROLE: there is no role "${role}" (create it first, see docs/DEPLOY.md)`);
    if (found.self)
      throw new Error(`DATABASE_RUNTIME_ROLE is "${role}", the role migrating: migrate as the tables' owner (MIGRATE_DATABASE_URL)`);
    const schema = (await tx<{ schema: string }[]>`select current_schema() as schema`)[0]?.schema ?? 'public';
    await tx`grant usage on schema ${tx(schema)} to ${tx(role)}`;
    await tx`revoke create on schema ${tx(schema)} from ${tx(role)}`;
    await tx`grant select, insert, update, delete on all tables in schema ${tx(schema)} to ${tx(role)}`;
    await tx`revoke truncate, references, trigger on all tables in schema ${tx(schema)} from ${tx(role)}`;
    await tx`grant usage, select on all sequences in schema ${tx(schema)} to ${tx(role)}`;
    for (const [table, privileges] of AUDIT_GRANTS) {
      await tx`revoke all on ${tx(table)} from ${tx(role)}`;
      // Constant privileges and table names; the role is an identifier checked above.
      await tx.unsafe(`grant ${privileges} on ${table} to "${role}"`);
    }
  });
  logger?.info('runtime role granted', { role, audit_tables: AUDIT_GRANTS.map(([table, privileges]) => `${table}: ${privileges}`) });
}
