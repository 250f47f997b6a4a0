import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migratedDatabase } from '../../test/support/actions.js';
import type { TestDatabase } from '../../test/support/databases.js';
import { createDiskArchiveStore } from './archive-disk.js';
import { archiveDue, createArchiveSchedule } from './schedule.js';

const audit = (retention_days: number, archive_interval_s = 3600) => ({
  audit: { retention_days, segment_max_events: 100, archive_interval_s },
});
const silent = { info: () => {}, warn: () => {}, error: () => {} };

describe('the archive schedule (Node sweep, Workers Cron Trigger)', () => {
  let database: TestDatabase;
  let sql: postgres.Sql;
  let folder: string;
  beforeAll(async () => {
    database = await migratedDatabase();
    sql = postgres(database.url, { max: 2, onnotice: () => {} });
    folder = await mkdtemp(join(tmpdir(), 'audit-schedule-'));
  });
  afterAll(async () => {
    await sql?.end();
    await database?.drop();
    await rm(folder, { recursive: true, force: true });
  });

  it('runs at most once per interval, and not at all while retention is 0', async () => {
    const store = createDiskArchiveStore(folder);
    expect(await createArchiveSchedule({ sql, store, config: audit(0), logger: silent }).tick()).toBeUndefined();
    const schedule = createArchiveSchedule({ sql, store, config: audit(30, 600), logger: silent });
    expect(await schedule.tick(1_000_000)).toMatchObject({ segments: 0 });
    expect(await schedule.tick(1_000_000 + 599_000)).toBeUndefined();
    expect(await schedule.tick(1_000_000 + 600_000)).toMatchObject({ segments: 0 });
  });

  it('a failed run is logged, not thrown, and the next interval tries again', async () => {
    const warnings: string[] = [];
    const broken = createDiskArchiveStore(folder);
    const schedule = createArchiveSchedule({
      sql,
      store: { ...broken, list: async () => Promise.reject(new Error('store down')) },
      config: audit(30, 60),
      logger: { ...silent, warn: (message: string) => warnings.push(message) },
    });
    expect(await schedule.tick(0)).toBeUndefined();
    expect(warnings).toEqual(['audit archive run failed; the next one resumes']);
  });

  it('on Workers, the per-minute trigger archives on the minutes the interval names', () => {
    const minute = 60_000;
    expect(archiveDue(audit(0, 60), 5 * minute)).toBe(false);
    expect(archiveDue(audit(30, 60), 7 * minute)).toBe(true);
    expect([0, 1, 59, 60, 61, 120].map((m) => archiveDue(audit(30, 3600), m * minute))).toEqual([true, false, false, true, false, true]);
  });
});
