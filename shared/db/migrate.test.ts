import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../../test/support/databases.js';
import { ROOT_DIR } from '../runtime/node-config.js';
import { createDatabase, type Database } from './index.js';
import { type Migration, migrate, readMigrations } from './migrate.js';

describe('migrations against the real Postgres', () => {
  let database: TestDatabase;
  let db: Database;
  beforeAll(async () => {
    database = await createTestDatabase();
    db = createDatabase(database.url, { max: 6 });
  });
  afterAll(async () => {
    await db?.close();
    await database?.drop();
  });

  it('applies the project migrations once, and a second run is a no-op', async () => {
    const migrations = await readMigrations(join(ROOT_DIR, 'migrations'));
    expect(migrations.length).toBeGreaterThan(0);
    const first = await migrate(db.sql, migrations);
    expect(first).toEqual(migrations.map((m) => m.version));
    expect(await migrate(db.sql, migrations)).toEqual([]);
    const recorded = await db.sql<{ version: number }[]>`select version from schema_migrations order by version`;
    expect(recorded.map((row) => row.version)).toEqual(first);
  });

  it('is safe to run concurrently: each migration is applied exactly once', async () => {
    const extra: Migration[] = [
      { version: 9001, name: 'counter', sql: 'create table concurrency_probe (n int); insert into concurrency_probe values (1);' },
    ];
    const all = [...(await readMigrations(join(ROOT_DIR, 'migrations'))), ...extra];
    const results = await Promise.all(Array.from({ length: 5 }, () => migrate(db.sql, all)));
    expect(results.flat()).toEqual([9001]);
    const [{ count }] = await db.sql<[{ count: number }]>`select count(*)::int as count from concurrency_probe`;
    expect(count).toBe(1);
  });

  it('rolls a failing batch back whole and records nothing of it', async () => {
    const broken: Migration[] = [
      { version: 9101, name: 'good', sql: 'create table rollback_probe (n int);' },
      { version: 9102, name: 'bad', sql: 'select * from table_that_does_not_exist;' },
    ];
    await expect(migrate(db.sql, broken)).rejects.toThrow(/table_that_does_not_exist/);
    const [{ exists }] = await db.sql<[{ exists: boolean }]>`select to_regclass('rollback_probe') is not null as exists`;
    expect(exists).toBe(false);
    const recorded = await db.sql`select 1 from schema_migrations where version in (9101, 9102)`;
    expect(recorded.length).toBe(0);
  });
});
