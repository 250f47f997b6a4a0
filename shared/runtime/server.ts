/**
 * The Node server: starts what embedded mode needs, migrates, builds Services and serves the same
 * app as workerd with @hono/node-server.
 */
import { join } from 'node:path';
import { serve } from '@hono/node-server';
import type { Sql } from 'postgres';
import { resumeDueRuns } from '../../functions/agent-run/loop.js';
import { createApp } from '../../functions/app.js';
import type { Config } from '../config/index.js';
import { createDatabase } from '../db/index.js';
import { grantRuntimeRole, migrate, readMigrations } from '../db/migrate.js';
import type { Logger } from '../log/index.js';
import { createNodeTelemetry } from '../telemetry/node-telemetry.js';
import { VERSION } from '../version.js';
import { resolveApiKeys } from './bootstrap-keys.js';
import { type EmbeddedPostgres, startEmbeddedPostgres } from './embedded-postgres.js';
import { ROOT_DIR } from './node-config.js';
import { createNodeDatabase, createNodeServices } from './node-services.js';

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

export async function startServer(config: Config, logger: Logger): Promise<RunningServer> {
  const telemetry = createNodeTelemetry({
    serviceName: config.telemetry.service_name,
    version: VERSION,
    otlpEndpoint: config.telemetry.otlp_endpoint,
  });
  let embedded: EmbeddedPostgres | undefined;
  if (!config.database.url) {
    const started = Date.now();
    embedded = await startEmbeddedPostgres({ dataDir: config.data_dir, port: config.database.embedded_port });
    logger.info('embedded mode: Postgres is PGlite (set DATABASE_URL to use a server)', {
      data_dir: embedded.dataDir,
      listening: embedded.url,
      startup_ms: Date.now() - started,
    });
  }
  const db = createNodeDatabase(config, config.database.url ?? (embedded as EmbeddedPostgres).url, Boolean(embedded));
  const applied = await migrateAtStart(config, db.sql, logger);
  logger.info('schema is current', { applied });
  const apiKeys = await resolveApiKeys(config, db.sql, logger);
  const services = await createNodeServices({ config, logger, telemetry, db, apiKeys });
  if (services.kv.kind === 'memory') logger.info('embedded mode: key-value store is in memory (set UPSTASH_REDIS_REST_URL to use Redis)');
  if (!services.vector) logger.info('no vector store (set QDRANT_URL to use Qdrant)');

  const app = createApp(services);
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
  logger.info('MYCA Edge is listening', { url, runtime: 'node', version: VERSION, mode: embedded ? 'embedded' : 'external' });

  // Held actions expire even when nobody looks, and agent runs that can move on (their actions were
  // decided, or the instance advancing them stopped) are resumed, actions whose worker is gone are
  // recovered: a sweep every ACTION_SWEEP_INTERVAL_S (30 s), and once now.
  let sweeping = false;
  const runSweep = () => {
    if (sweeping) return;
    sweeping = true;
    void resumeDueRuns({ services, logger })
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
      clearInterval(sweep);
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await db.close();
      await embedded?.stop();
      await telemetry.shutdown();
    },
  };
}
