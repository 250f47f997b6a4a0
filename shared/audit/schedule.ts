import type { Sql } from 'postgres';
import type { Config } from '../config/index.js';
import type { Logger } from '../log/index.js';
import { type ArchiveResult, archiveAuditEvents } from './archive.js';
import type { ArchiveStore } from './archive-store.js';

/** The retention policy of the configuration (AUDIT_RETENTION_DAYS, AUDIT_SEGMENT_MAX_EVENTS). */
export const retentionPolicy = (config: Pick<Config, 'audit'>) => ({
  eventsDays: config.audit.retention_days,
  segmentMaxEvents: config.audit.segment_max_events,
});

/**
 * The archive job as the Node server's sweep runs it: at most once per AUDIT_ARCHIVE_INTERVAL_S,
 * never two at once, a no-op while AUDIT_RETENTION_DAYS is 0. Never rejects (a failure is logged
 * and the next interval tries again: a crashed run leaves nothing the next one cannot finish).
 */
export function createArchiveSchedule(options: {
  sql: Sql;
  store: ArchiveStore;
  config: Pick<Config, 'audit'>;
  logger: Pick<Logger, 'info' | 'warn' | 'error'>;
}): { tick(now?: number): Promise<ArchiveResult | undefined> } {
  let last = Number.NEGATIVE_INFINITY;
  let running = false;
  return {
    tick: async (now = Date.now()) => {
      if (options.config.audit.retention_days <= 0 || running) return undefined;
      if (now - last < options.config.audit.archive_interval_s * 1000) return undefined;
      running = true;
      last = now;
      try {
        return await archiveAuditEvents({ ...options, policy: retentionPolicy(options.config) });
      } catch (error) {
        options.logger.warn('audit archive run failed; the next one resumes', { error: error as Error });
        return undefined;
      } finally {
        running = false;
      }
    },
  };
}

/**
 * Workers: the Cron Trigger fires every minute; the archive runs on the minutes that are a
 * multiple of AUDIT_ARCHIVE_INTERVAL_S (rounded to whole minutes).
 */
export function archiveDue(config: Pick<Config, 'audit'>, scheduledTime: number): boolean {
  if (config.audit.retention_days <= 0) return false;
  const everyMinutes = Math.max(1, Math.round(config.audit.archive_interval_s / 60));
  return Math.floor(scheduledTime / 60_000) % everyMinutes === 0;
}
