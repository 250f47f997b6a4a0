import type { Sql } from 'postgres';
import type { WorkScope } from '../http/scope.js';

/** Rows one DELETE removes at most: a sweep never holds one statement (and its locks and WAL) over millions of rows. */
export const SPEND_SWEEP_BATCH = 5000;
/** Rows one sweep removes at most; a backlog (retention just enabled or shortened) drains over the next sweeps. */
export const SPEND_SWEEP_MAX = 50_000;

/**
 * Deletes llm_spend rows older than `retentionDays` (by `at`, the database's clock), oldest first
 * through the `llm_spend_at` index, {@link SPEND_SWEEP_BATCH} a statement and at most
 * {@link SPEND_SWEEP_MAX} a call. 0 days keeps every row. Returns how many went.
 */
export async function deleteExpiredSpend(sql: Sql, retentionDays: number, limits: { batch?: number; max?: number } = {}): Promise<number> {
  if (retentionDays <= 0) return 0;
  const batch = limits.batch ?? SPEND_SWEEP_BATCH;
  const max = limits.max ?? SPEND_SWEEP_MAX;
  let deleted = 0;
  while (deleted < max) {
    const rows = await sql`
      delete from llm_spend where id in (
        select id from llm_spend
        where at < now() - ${retentionDays} * interval '1 day'
        order by at
        limit ${Math.min(batch, max - deleted)}
      ) returning id`;
    deleted += rows.length;
    if (rows.length < batch) break;
  }
  return deleted;
}

/**
 * The spend rows' part of the periodic sweep (functions/app.ts): rows past LLM_SPEND_RETENTION_DAYS
 * are deleted. Never throws: a failure is logged and the next sweep tries again.
 */
export async function sweepSpend(scope: WorkScope): Promise<void> {
  const { services, logger } = scope;
  if (!services.db) return;
  try {
    const deleted = await deleteExpiredSpend(services.db.sql, services.config.governance.spend_retention_days);
    if (deleted > 0) logger.info('spend rows past their retention deleted', { deleted });
  } catch (error) {
    logger.warn('deleting spend rows past their retention failed', { error: error as Error });
  }
}
