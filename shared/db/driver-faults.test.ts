import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../../test/support/databases.js';
import { createDatabase, type Database } from './index.js';

/**
 * postgres.js 3.4.9 as patched in patches/ (upstream #1186, #1215, #1216, #1223 are open): a backend that
 * dies (failover, admin kill, idle-session timeouts) must take only its own work with it. One connection
 * (max 1), so the replacement connection is the same pool slot, as after a failover under load.
 */
describe('the Postgres driver after a backend dies', () => {
  let database: TestDatabase;
  let db: Database;
  let admin: postgres.Sql;
  beforeAll(async () => {
    database = await createTestDatabase();
    db = createDatabase(database.url, { max: 1 });
    admin = postgres(database.url, { max: 1, onnotice: () => {} });
    await admin`create table probe (n int primary key)`;
  });
  afterAll(async () => {
    await db?.close();
    await admin?.end();
    await database?.drop();
  });

  it('answers the next query on the replacement connection, not with the dead backend’s error', async () => {
    await expect(db.sql`select pg_terminate_backend(pg_backend_pid())`).rejects.toThrow();
    await expect(db.sql`select 1 as n`).resolves.toEqual([{ n: 1 }]);
    // And the one after it, in a transaction.
    await expect(db.sql.begin((tx) => [tx`select 2 as n`])).resolves.toEqual([[{ n: 2 }]]);
  });

  it('settles every statement of a transaction whose connection died, also those waiting behind a full pipeline', async () => {
    let statements: Array<Promise<unknown>> = [];
    const transaction = db.sql.begin((tx) => {
      // The driver pipelines up to 100 statements on a connection; the rest wait in the transaction's own queue.
      statements = [tx`select pg_terminate_backend(pg_backend_pid())`, ...Array.from({ length: 150 }, (_, i) => tx`select ${i}::int as n`)];
      return statements;
    });
    await expect(transaction).rejects.toThrow();
    const settled = await Promise.race([
      Promise.allSettled(statements),
      new Promise<'pending'>((resolve) => setTimeout(() => resolve('pending'), 3000)),
    ]);
    expect(settled === 'pending' ? 'some never settled' : settled.map((result) => result.status)).toEqual(statements.map(() => 'rejected'));
    await expect(db.sql`select 3 as n`).resolves.toEqual([{ n: 3 }]);
  });

  it('runs nothing of a transaction whose connection died inside the transaction that took its place', async () => {
    await admin`delete from probe`;
    let release = () => {};
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    let callbackDone: Promise<unknown> = Promise.resolve();
    const first = db.sql.begin((tx) => {
      callbackDone = (async () => {
        const [row] = await tx<[{ pid: number }]>`select pg_backend_pid() as pid`;
        await admin`select pg_terminate_backend(${row.pid})`;
        await gate; // meanwhile the slot serves the next transaction
        await tx`insert into probe values (1)`;
      })();
      return callbackDone;
    });
    await expect(first).rejects.toThrow();
    await db.sql.begin(async (tx) => {
      await tx`insert into probe values (2)`;
      release();
      await callbackDone.catch(() => undefined);
      await tx`insert into probe values (3)`;
    });
    await expect(callbackDone).rejects.toThrow(/CONNECTION_CLOSED/);
    const rows = await admin<{ n: number }[]>`select n from probe order by n`;
    expect(rows.map((row) => row.n)).toEqual([2, 3]);
  });
});

/**
 * postgres.js 3.4.9 (upstream #1119, #1181; fixes #1120/#1190 unmerged) kept its row counter when a query failed
 * after streaming rows, so the next query on that connection resolved with holes: `[null, null, {answer: 44}]`.
 */
describe('the Postgres driver after a query fails mid-stream', () => {
  let database: TestDatabase;
  let db: Database;
  beforeAll(async () => {
    database = await createTestDatabase();
    db = createDatabase(database.url, { max: 1 });
  });
  afterAll(async () => {
    await db?.close();
    await database?.drop();
  });

  // Rows 1 and 2 reach the client before the cast fails on row 3.
  const failsOnRow3 = () => db.sql`select (case when n = 3 then 'x' else n::text end)::int as n from generate_series(1, 5) n`;

  it('hands the next query on the same connection exactly its own rows', async () => {
    await expect(failsOnRow3()).rejects.toThrow(/invalid input syntax/);
    expect(Array.from(await db.sql`select 44 as answer`)).toEqual([{ answer: 44 }]);
    expect(Array.from(await db.sql`select n from generate_series(1, 2) n`)).toEqual([{ n: 1 }, { n: 2 }]);
  });

  it('leaves the connection clean for a query pipelined behind the failing one, in a transaction too', async () => {
    const [failed, next] = await Promise.allSettled([failsOnRow3(), db.sql`select 7 as seven`]);
    expect(failed.status).toBe('rejected');
    expect(next.status === 'fulfilled' ? Array.from(next.value) : next.reason).toEqual([{ seven: 7 }]);
    const inside = await db.sql.begin(async (tx) => {
      await expect(
        tx.savepoint((sp) => sp`select (case when n = 2 then 'x' else n::text end)::int as n from generate_series(1, 3) n`),
      ).rejects.toThrow();
      return Array.from(await tx`select 8 as eight`);
    });
    expect(inside).toEqual([{ eight: 8 }]);
  });

  it('hands a simple (multi-statement) query and a raw query their own rows after the failure', async () => {
    await expect(failsOnRow3()).rejects.toThrow();
    const results = await db.sql.unsafe('select 1 as a; select 2 as b');
    expect(results.map((result: Iterable<unknown>) => Array.from(result))).toEqual([[{ a: 1 }], [{ b: 2 }]]);
    await expect(failsOnRow3()).rejects.toThrow();
    expect(Array.from(await db.sql`select 5 as five`.values())).toEqual([[5]]);
  });
});
