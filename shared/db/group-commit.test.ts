import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../../test/support/databases.js';
import { groupCommit } from './group-commit.js';
import { createDatabase, type Database } from './index.js';

describe('group commit against the real Postgres', () => {
  let database: TestDatabase;
  let db: Database;
  beforeAll(async () => {
    database = await createTestDatabase();
    db = createDatabase(database.url, { max: 6 });
    await db.sql`create table probe (n int primary key, tx text not null)`;
  });
  afterAll(async () => {
    await db?.close();
    await database?.drop();
  });

  const insert = (n: number) =>
    groupCommit(db.sql).run(
      (sql) => sql<{ n: number; tx: string }[]>`insert into probe values (${n}, txid_current()::text) returning n, tx`,
    );

  it('runs a statement alone when nothing else is waiting', async () => {
    const first = await insert(1);
    const second = await insert(2);
    expect(first).toEqual([{ n: 1, tx: expect.any(String) }]);
    expect(second[0]?.tx).not.toBe(first[0]?.tx);
  });

  it('commits statements that arrive together in shared transactions, each caller getting its own rows', async () => {
    const numbers = Array.from({ length: 60 }, (_, i) => 100 + i);
    const results = await Promise.all(numbers.map(insert));
    expect(results.map((rows) => rows[0]?.n)).toEqual(numbers);
    const transactions = new Set(results.map((rows) => rows[0]?.tx));
    // Two go out at once (two batches on their way), the other 58 wait and share far fewer commits.
    expect(transactions.size).toBeLessThanOrEqual(4);
    const [{ count }] = await db.sql<[{ count: number }]>`select count(*)::int as count from probe where n >= 100`;
    expect(count).toBe(60);
  });

  it('fails only the statement the server refused; the others of its batch are committed', async () => {
    // 300 is inserted twice: whichever comes second breaks the primary key.
    const numbers = [200, 201, 300, 202, 300, 203, 204];
    const settled = await Promise.allSettled(numbers.map(insert));
    const failed = settled.filter((result) => result.status === 'rejected');
    expect(failed).toHaveLength(1);
    expect(String((failed[0] as PromiseRejectedResult).reason)).toMatch(/duplicate key/);
    const rows = await db.sql<{ n: number }[]>`select n from probe where n between 200 and 300 order by n`;
    expect(rows.map((row) => row.n)).toEqual([200, 201, 202, 203, 204, 300]);
  });

  it('fails the whole batch without a retry when its connection is cut (the commit is unknown)', async () => {
    // Two slow statements take both places on the way, so what comes next waits and goes as one batch.
    const slow = [0, 1].map(() => groupCommit(db.sql).run((sql) => sql`select pg_sleep(0.3)`));
    const numbers = Array.from({ length: 20 }, (_, i) => 400 + i);
    const batch = [
      ...numbers.slice(0, 10).map(insert),
      groupCommit(db.sql).run((sql) => sql`select pg_terminate_backend(pg_backend_pid())`),
      ...numbers.slice(10).map(insert),
    ];
    // Listen to the batch before waiting for the slow ones: on a loaded machine the batch can fail
    // while the second slow statement is still sleeping (an unobserved rejection fails the run).
    const settling = Promise.allSettled(batch);
    await Promise.all(slow);
    const settled = await settling;
    expect(settled.map((result) => result.status)).toEqual(batch.map(() => 'rejected'));
    const [{ count }] = await db.sql<[{ count: number }]>`select count(*)::int as count from probe where n >= 400`;
    expect(count).toBe(0);
    // And the writer works on afterwards, on a new connection.
    await expect(insert(500)).resolves.toEqual([{ n: 500, tx: expect.any(String) }]);
  });

  it('gives up on a stalled batch after stallMs and keeps writing on other connections', async () => {
    const impatient = createDatabase(database.url, { max: 4 });
    try {
      const commit = groupCommit(impatient.sql, { stallMs: 200, inFlight: 1 });
      const stalled = commit.run((sql) => sql`select pg_sleep(3)`);
      const queued = commit.run((sql) => sql`select 1 as n`);
      const started = Date.now();
      await expect(stalled).rejects.toThrow(/did not finish within 200 ms/);
      // The place is free again: the next statement does not wait for the sleeping one.
      await expect(queued).resolves.toEqual([{ n: 1 }]);
      expect(Date.now() - started).toBeLessThan(2500);
    } finally {
      await impatient.sql.end({ timeout: 0 });
    }
  });

  it('runs inside a caller’s transaction instead of batching when handed one', async () => {
    const tx = await db.sql.begin(async (sql) => {
      const [own] = await sql<[{ tx: string }]>`select txid_current()::text as tx`;
      const [row] = await groupCommit(sql).run(
        (inner) => inner<{ n: number; tx: string }[]>`insert into probe values (600, txid_current()::text) returning n, tx`,
      );
      return { own: own.tx, row };
    });
    expect(tx.row?.tx).toBe(tx.own);
  });
});
