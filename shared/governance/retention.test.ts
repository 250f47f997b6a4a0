import postgres from 'postgres';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { migratedDatabase } from '../../test/support/actions.js';
import type { TestDatabase } from '../../test/support/databases.js';
import type { Config } from '../config/index.js';
import { createDatabase, type Database } from '../db/index.js';
import type { WorkScope } from '../http/scope.js';
import { createLogger } from '../log/index.js';
import { deleteExpiredSpend, SPEND_SWEEP_BATCH, sweepSpend } from './retention.js';

describe('llm_spend retention (real Postgres)', () => {
  let database: TestDatabase;
  let sql: postgres.Sql;
  let db: Database;
  const lines: string[] = [];

  beforeAll(async () => {
    database = await migratedDatabase();
    sql = postgres(database.url, { max: 2, onnotice: () => {} });
    db = createDatabase(database.url, { max: 2 });
  });
  beforeEach(async () => {
    await sql`delete from llm_spend`;
    lines.length = 0;
  });
  afterAll(async () => {
    await db?.close();
    await sql?.end();
    await database?.drop();
  });

  /** `count` rows `days` days old (plus a minute), named `tag` in correlation_id. */
  const rowsAged = (count: number, days: number, tag: string) =>
    sql`
      insert into llm_spend (at, key_id, correlation_id, task, latency_ms, status, attempts)
      select now() - ${days} * interval '1 day' - interval '1 minute', 'vk_000000000000000000000001', ${tag}, 'planning', 1, 'ok', 1
      from generate_series(1, ${count})`;
  const left = async () =>
    Object.fromEntries(
      (await sql<Array<{ tag: string; n: number }>>`select correlation_id as tag, count(*)::int as n from llm_spend group by 1`).map(
        (row) => [row.tag, row.n],
      ),
    );

  it('deletes the rows past the retention, keeps the recent ones; 0 days keeps everything', async () => {
    await rowsAged(7, 401, 'old');
    await rowsAged(5, 399, 'recent');
    await rowsAged(3, 0, 'today');
    expect(await deleteExpiredSpend(sql, 0)).toBe(0);
    expect(await left()).toEqual({ old: 7, recent: 5, today: 3 });
    expect(await deleteExpiredSpend(sql, 400)).toBe(7);
    expect(await left()).toEqual({ recent: 5, today: 3 });
    expect(await deleteExpiredSpend(sql, 1)).toBe(5);
    expect(await left()).toEqual({ today: 3 });
  });

  it('deletes in batches, oldest first, and at most `max` rows a call; the next call goes on', async () => {
    await rowsAged(12, 500, 'oldest');
    await rowsAged(6, 450, 'older');
    await rowsAged(2, 10, 'kept');
    const statements: string[] = [];
    const counting = postgres(database.url, { max: 1, onnotice: () => {}, debug: (_c, query) => statements.push(query) });
    try {
      expect(await deleteExpiredSpend(counting, 400, { batch: 5, max: 14 })).toBe(14);
      // 5 + 5 + 4: three statements, none over the batch.
      expect(statements.filter((q) => q.includes('delete from llm_spend'))).toHaveLength(3);
      expect(await left()).toEqual({ older: 4, kept: 2 });
      expect(await deleteExpiredSpend(counting, 400, { batch: 5, max: 14 })).toBe(4);
      expect(await left()).toEqual({ kept: 2 });
    } finally {
      await counting.end();
    }
    expect(SPEND_SWEEP_BATCH).toBeLessThanOrEqual(10_000);
  });

  it('the sweep step reads LLM_SPEND_RETENTION_DAYS from the config and logs what it deleted; a failure is logged, not thrown', async () => {
    await rowsAged(4, 31, 'old');
    await rowsAged(2, 29, 'recent');
    const logger = createLogger({ level: 'info', write: (line: string) => lines.push(line) });
    const scope = (days: number, database: Database | null) =>
      ({ services: { db: database, config: { governance: { spend_retention_days: days } } as Config }, logger }) as unknown as WorkScope;
    await sweepSpend(scope(30, db));
    expect(await left()).toEqual({ recent: 2 });
    expect(lines.some((line) => line.includes('spend rows past their retention deleted') && line.includes('"deleted":4'))).toBe(true);
    await sql`alter table llm_spend rename to llm_spend_gone`;
    try {
      await expect(sweepSpend(scope(1, db))).resolves.toBeUndefined();
    } finally {
      await sql`alter table llm_spend_gone rename to llm_spend`;
    }
    expect(lines.some((line) => line.includes('deleting spend rows past their retention failed'))).toBe(true);
    await expect(sweepSpend(scope(1, null))).resolves.toBeUndefined();
  });
});
