import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Sql } from 'postgres';
import type { Logger } from '../log/index.js';

/** Arbitrary but fixed: every MYCA Edge instance takes the same lock, so only one migrates at a time. */
const MIGRATION_LOCK_ID = 727_361_001;

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
    await lockTx`select pg_advisory_xact_lock(${MIGRATION_LOCK_ID})`;
    await lockTx`
      create table if not exists schema_migrations (
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
