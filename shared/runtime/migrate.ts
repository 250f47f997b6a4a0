/**
 * `npm run migrate`: applies pending migrations to MIGRATE_DATABASE_URL (the tables' owner), else
 * DATABASE_URL, else the embedded database; then grants DATABASE_RUNTIME_ROLE what the app needs.
 */
import { join } from 'node:path';
import { ConfigError, effectiveLogLevel } from '../config/index.js';
import { createDatabase } from '../db/index.js';
import { grantRuntimeRole, migrate, readMigrations } from '../db/migrate.js';
import { createLogger } from '../log/index.js';
import { startEmbeddedPostgres } from './embedded-postgres.js';
import { loadNodeConfig, ROOT_DIR } from './node-config.js';

try {
  const config = loadNodeConfig(process.env);
  const logger = createLogger({ level: effectiveLogLevel(config) });
  const target = config.database.migrate_url ?? config.database.url;
  const embedded = target ? undefined : await startEmbeddedPostgres({ dataDir: config.data_dir, port: 0 });
  const db = createDatabase(target ?? (embedded?.url as string), { max: 1 });
  try {
    const applied = await migrate(db.sql, await readMigrations(join(ROOT_DIR, 'migrations')), logger);
    logger.info(applied.length > 0 ? 'migrations applied' : 'schema already current', {
      applied,
      target: embedded ? 'embedded' : config.database.migrate_url ? 'MIGRATE_DATABASE_URL' : 'DATABASE_URL',
    });
    if (config.database.runtime_role && !embedded) await grantRuntimeRole(db.sql, config.database.runtime_role, logger);
  } finally {
    await db.close();
    await embedded?.stop();
  }
} catch (error) {
  process.stderr.write(`${error instanceof ConfigError ? error.message : `migration failed: ${String(error)}`}\n`);
  process.exit(error instanceof ConfigError ? 2 : 1);
}
