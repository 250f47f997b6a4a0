/**
 * `npm run audit:archive`: moves audit events older than AUDIT_RETENTION_DAYS into checkpointed
 * segments under AUDIT_ARCHIVE_DIR (docs/ACTION_AUDIT.md, "Retention and archive"), until none is
 * left. `npm run audit:verify-archive` (this file with --verify) re-verifies the archived segments
 * and the events in Postgres end to end; it exits 1 when a link does not hold.
 *
 * Options: --days N overrides AUDIT_RETENTION_DAYS for this run.
 */
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { archiveAuditEvents } from '../shared/audit/archive.js';
import { archiveDir, createDiskArchiveStore } from '../shared/audit/archive-disk.js';
import { archiveVerifyResultText, verifyArchive } from '../shared/audit/archive-verify.js';
import { retentionPolicy } from '../shared/audit/schedule.js';
import { ConfigError, effectiveLogLevel } from '../shared/config/index.js';
import { createDatabase } from '../shared/db/index.js';
import { migrate, readMigrations } from '../shared/db/migrate.js';
import { createLogger } from '../shared/log/index.js';
import { startEmbeddedPostgres } from '../shared/runtime/embedded-postgres.js';
import { loadNodeConfig, ROOT_DIR } from '../shared/runtime/node-config.js';

const { values } = parseArgs({ options: { verify: { type: 'boolean' }, days: { type: 'string' } } });

try {
  const config = loadNodeConfig(process.env);
  const logger = createLogger({ level: effectiveLogLevel(config) });
  const embedded = config.database.url ? undefined : await startEmbeddedPostgres({ dataDir: config.data_dir, port: 0 });
  const db = createDatabase(config.database.url ?? (embedded?.url as string), { max: 2 });
  const store = createDiskArchiveStore(archiveDir(config));
  try {
    await migrate(db.sql, await readMigrations(join(ROOT_DIR, 'migrations')), { ...logger, info: logger.debug });
    if (values.verify) {
      const result = await verifyArchive(db.sql, store);
      process.stdout.write(`${archiveVerifyResultText(result)}\n`);
      process.exitCode = result.ok ? 0 : 1;
    } else {
      const policy = retentionPolicy(config);
      if (values.days !== undefined) {
        policy.eventsDays = Number(values.days);
        if (!Number.isInteger(policy.eventsDays) || policy.eventsDays < 1)
          throw new ConfigError('--days', [{ key: '--days', env: [], message: 'expected a whole number of days, at least 1' }]);
      }
      if (policy.eventsDays <= 0) {
        process.stdout.write('AUDIT_RETENTION_DAYS is 0 (keep everything): nothing to archive. Set it, or pass --days N.\n');
      } else {
        const result = await archiveAuditEvents({ sql: db.sql, store, policy: { ...policy, maxSegments: 1_000_000 }, logger });
        process.stdout.write(
          `archived ${result.events} events and ${result.actions} action rows in ${result.segments} segments to ${archiveDir(config)}` +
            `${result.reused ? `; reused ${result.reused} segment left by an interrupted run` : ''}` +
            `${result.removed ? `; removed ${result.removed} segment files no checkpoint names` : ''}` +
            `${result.stopped ? `; stopped: ${result.stopped}` : ''}\n`,
        );
        if (result.stopped?.startsWith('the chain')) process.exitCode = 1;
      }
    }
  } finally {
    await db.close();
    await embedded?.stop();
  }
} catch (error) {
  process.stderr.write(`${error instanceof ConfigError ? error.message : `audit archive failed: ${String(error)}`}\n`);
  process.exit(error instanceof ConfigError ? 2 : 1);
}
