/**
 * The Node server: starts what embedded mode needs, migrates, builds Services and serves the same
 * app as workerd with @hono/node-server.
 */
import { join } from 'node:path';
import { serve } from '@hono/node-server';
import { resumeDueRuns } from '../../functions/agent-run/loop.js';
import { createApp } from '../../functions/app.js';
import type { Config } from '../config/index.js';
import { migrate, readMigrations } from '../db/migrate.js';
import type { Logger } from '../log/index.js';
import { createNodeTelemetry } from '../telemetry/node-telemetry.js';
import { VERSION } from '../version.js';
import { resolveApiKeys } from './bootstrap-keys.js';
import { type EmbeddedPostgres, startEmbeddedPostgres } from './embedded-postgres.js';
import { ROOT_DIR } from './node-config.js';
import { createNodeDatabase, createNodeServices } from './node-services.js';
import { startupSummary } from './startup-summary.js';

export interface RunningServer {
  url: string;
  stop(): Promise<void>;
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
    logger.debug('embedded mode: Postgres is PGlite (set DATABASE_URL to use a server)', {
      data_dir: embedded.dataDir,
      listening: embedded.url,
      startup_ms: Date.now() - started,
    });
  }
  const db = createNodeDatabase(config, config.database.url ?? (embedded as EmbeddedPostgres).url, Boolean(embedded));
  // One line per migration is for `npm run migrate`; a start says it at debug (the summary is the line).
  const applied = await migrate(db.sql, await readMigrations(join(ROOT_DIR, 'migrations')), { ...logger, info: logger.debug });
  logger.debug('schema is current', { applied });
  const apiKeys = await resolveApiKeys(config, db.sql, logger);
  const services = await createNodeServices({ config, logger, telemetry, db, apiKeys });

  const app = createApp(services);
  const server = await new Promise<ReturnType<typeof serve>>((resolve, reject) => {
    const created = serve({ fetch: app.fetch, hostname: config.server.host, port: config.server.port }, () => resolve(created));
    created.once('error', reject);
  });
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : config.server.port;
  const url = `http://${config.server.host.includes(':') ? `[${config.server.host}]` : config.server.host}:${port}`;
  const summary = startupSummary({
    config,
    url,
    runtime: 'node',
    version: VERSION,
    database: embedded ? `embedded PGlite in ${embedded.dataDir} (set DATABASE_URL for a server)` : 'Postgres (DATABASE_URL)',
    kv: services.kv.kind === 'memory' ? 'in memory (set UPSTASH_REDIS_REST_URL for Redis)' : 'Upstash REST',
    vector: services.vector ? 'Qdrant' : 'none (set QDRANT_URL)',
    keys:
      config.apiKeys.length > 0
        ? `configured: ${apiKeys.length} (MYCA_API_KEYS / auth.yaml)`
        : `development keys: ${apiKeys.map((key) => key.id).join(', ')}`,
  });
  logger.info('MYCA Edge is listening', { ...summary.fields, mode: embedded ? 'embedded' : 'external' });
  if (summary.warning) logger.warn(summary.warning.message, summary.warning.fields);

  // Held actions expire even when nobody looks, and agent runs that can move on (their actions were
  // decided, or the instance advancing them stopped) are resumed: a sweep every 30 s, and once now.
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
  const sweep = setInterval(runSweep, 30_000);
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
