/**
 * The Node server: starts what embedded mode needs, migrates, builds Services and serves the same
 * app as workerd with @hono/node-server.
 */
import { join } from 'node:path';
import { serve } from '@hono/node-server';
import type { Sql } from 'postgres';
import { archiveDir, createDiskArchiveStore } from '../audit/archive-disk.js';
import { createArchiveSchedule } from '../audit/schedule.js';
import type { Config } from '../config/index.js';
import { createDatabase } from '../db/index.js';
import { grantRuntimeRole, migrate, readMigrations } from '../db/migrate.js';
import { spendWriter } from '../governance/spend.js';
import type { Logger } from '../log/index.js';
import type { Services } from '../services.js';
import { activeCorrelationId } from '../telemetry/correlation.js';
import type { Metrics } from '../telemetry/metrics.js';
import { createNodeTelemetry } from '../telemetry/node-telemetry.js';
import { VERSION } from '../version.js';
import { resolveApiKeys } from './bootstrap-keys.js';
import { type EmbeddedPostgres, startEmbeddedPostgres } from './embedded-postgres.js';
import { createFileKeyValueStore } from './file-kv.js';
import { ROOT_DIR } from './node-config.js';
import { createNodeDatabase, createNodeServices } from './node-services.js';
import { startupSummary } from './startup-summary.js';

export interface RunningServer {
  url: string;
  stop(): Promise<void>;
}

/**
 * Migrates before serving: as the tables' owner when MIGRATE_DATABASE_URL is set (one short-lived
 * connection), then grants DATABASE_RUNTIME_ROLE what the app needs; else with the app's own pool
 * (a runtime role without CREATE finds the schema current and changes nothing).
 */
async function migrateAtStart(config: Config, sql: Sql, logger: Logger): Promise<number[]> {
  const migrations = await readMigrations(join(ROOT_DIR, 'migrations'));
  if (!config.database.url || !config.database.migrate_url) return migrate(sql, migrations, logger);
  const owner = createDatabase(config.database.migrate_url, { max: 1 });
  try {
    const applied = await migrate(owner.sql, migrations, logger);
    if (config.database.runtime_role) await grantRuntimeRole(owner.sql, config.database.runtime_role, logger);
    return applied;
  } finally {
    await owner.close();
  }
}

/** What the Node entry (functions/node.ts) hands the server: the app, and the periodic sweep. */
export interface NodeApp {
  createApp(services: Services): { fetch: Parameters<typeof serve>[0]['fetch'] };
  sweep(services: Services): Promise<unknown>;
}

export async function startServer(config: Config, logger: Logger, entry: NodeApp): Promise<RunningServer> {
  const telemetry = createNodeTelemetry({
    serviceName: config.telemetry.service_name,
    version: VERSION,
    otlpEndpoint: config.telemetry.otlp_endpoint,
  });
  let embedded: EmbeddedPostgres | undefined;
  if (!config.database.url) {
    const started = Date.now();
    embedded = await startEmbeddedPostgres({ dataDir: config.data_dir, port: config.database.embedded_port });
    logger.debug('embedded mode: Postgres is PGlite (set DATABASE_URL to use a server)', {
      data_dir: embedded.dataDir,
      listening: embedded.url,
      startup_ms: Date.now() - started,
    });
  }
  const db = createNodeDatabase(config, config.database.url ?? (embedded as EmbeddedPostgres).url, Boolean(embedded));
  // One line per migration is for `npm run migrate`; a start says it at debug (the summary is the line).
  const applied = await migrateAtStart(config, db.sql, { ...logger, info: logger.debug });
  logger.debug('schema is current', { applied });
  const apiKeys = await resolveApiKeys(config, db.sql, logger);
  // Embedded mode without Redis keeps the key-value store in the data folder, so the audit chain's
  // anchored head (and lockouts, breaker state) outlive a restart.
  const fileKv = embedded && !config.kv.upstash_url ? createFileKeyValueStore(join(embedded.dataDir, 'kv.json'), logger) : undefined;
  const services = await createNodeServices({ config, logger, telemetry, db, apiKeys, ...(fileKv ? { kv: fileKv } : {}) });

  const releaseGuard = guardUnhandledRejections(logger, services.metrics);
  const app = entry.createApp(services);
  const server = await new Promise<ReturnType<typeof serve>>((resolve, reject) => {
    const created = serve(
      {
        fetch: app.fetch,
        hostname: config.server.host,
        port: config.server.port,
        // Slow clients are not held for Node's default 300 s: the head and the whole request have
        // deadlines (checked every second rather than every 30 s).
        serverOptions: {
          headersTimeout: config.server.headers_timeout_ms,
          requestTimeout: config.server.request_timeout_ms,
          connectionsCheckingInterval: Math.min(1000, config.server.headers_timeout_ms),
        },
      },
      () => resolve(created),
    );
    created.once('error', reject);
  });
  // Beyond this many open connections Node closes new ones at once (SERVER_MAX_CONNECTIONS).
  server.maxConnections = config.server.max_connections;
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : config.server.port;
  const url = `http://${config.server.host.includes(':') ? `[${config.server.host}]` : config.server.host}:${port}`;
  const summary = startupSummary({
    config,
    url,
    runtime: 'node',
    version: VERSION,
    database: embedded ? `embedded PGlite in ${embedded.dataDir} (set DATABASE_URL for a server)` : 'Postgres (DATABASE_URL)',
    kv:
      services.kv.kind !== 'memory'
        ? 'Upstash REST'
        : fileKv
          ? `in memory, kept in ${join(embedded?.dataDir ?? '', 'kv.json')} (set UPSTASH_REDIS_REST_URL for Redis)`
          : 'in memory (set UPSTASH_REDIS_REST_URL for Redis)',
    vector: services.vector ? 'Qdrant' : 'none (set QDRANT_URL)',
    keys:
      config.apiKeys.length > 0
        ? `configured: ${apiKeys.length} (MYCA_API_KEYS / auth.yaml)`
        : `development keys: ${apiKeys.map((key) => key.id).join(', ')}`,
  });
  logger.info('MYCA Edge is listening', { ...summary.fields, mode: embedded ? 'embedded' : 'external' });
  if (summary.warning) logger.warn(summary.warning.message, summary.warning.fields);

  // Held actions expire even when nobody looks, and agent runs that can move on (their actions were
  // decided, or the instance advancing them stopped) are resumed, actions whose worker is gone are
  // recovered: a sweep every ACTION_SWEEP_INTERVAL_S (30 s), and once now.
  let sweeping = false;
  // Audit retention (AUDIT_RETENTION_DAYS): at most once per AUDIT_ARCHIVE_INTERVAL_S, from the sweep.
  // A runtime role (DATABASE_RUNTIME_ROLE) may not delete audit events nor write checkpoints: then the
  // owner archives (`npm run audit:archive` with the owner's DATABASE_URL), not the server.
  const archive = config.database.runtime_role
    ? undefined
    : createArchiveSchedule({ sql: db.sql, store: createDiskArchiveStore(archiveDir(config)), config, logger });
  if (!archive && config.audit.retention_days > 0)
    logger.info('audit archive: not run by the server under a runtime role; run npm run audit:archive as the owner');
  const runSweep = () => {
    void archive?.tick();
    if (sweeping) return;
    sweeping = true;
    void entry
      .sweep(services)
      .catch((error: unknown) => logger.warn('sweep failed', { error: error as Error }))
      .finally(() => {
        sweeping = false;
      });
  };
  const sweep = setInterval(runSweep, config.actions.sweep_interval_s * 1000);
  sweep.unref();
  runSweep();

  return {
    url,
    stop: async () => {
      releaseGuard();
      clearInterval(sweep);
      await new Promise<void>((resolve) => server.close(() => resolve()));
      // Spend rows still buffered are written before the pool closes (one try; what fails is lost and logged).
      await spendWriter(services).flush();
      await db.close();
      await embedded?.stop();
      fileKv?.close();
      await telemetry.shutdown();
    },
  };
}

/**
 * A promise rejection nothing handled ends a Node process by default: one bad request (a provider
 * SDK's stray promise) would take every other request down with it. Such a rejection is a bug, so it
 * is logged at error level, with the correlation id when the rejection happened inside a request,
 * and counted (`process_unhandled_rejections_total`, alert on any increase); the process keeps
 * serving. Returns the function that removes the handler.
 */
export function guardUnhandledRejections(logger: Logger, metrics: Metrics): () => void {
  const onRejection = (reason: unknown) => {
    metrics.unhandledRejections.add(1, { runtime: 'node' });
    const correlationId = activeCorrelationId();
    logger.error('unhandled promise rejection; the process keeps serving', {
      error: reason instanceof Error ? reason : new Error(String(reason)),
      ...(correlationId ? { correlation_id: correlationId } : {}),
    });
  };
  process.on('unhandledRejection', onRejection);
  // The series exists at 0 from the start, so an alert on its increase sees the first one.
  metrics.unhandledRejections.add(0, { runtime: 'node' });
  return () => {
    process.off('unhandledRejection', onRejection);
  };
}
