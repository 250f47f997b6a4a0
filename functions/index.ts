/**
 * The workerd entry point (wrangler's `main`): reads its platform (bindings) and hands it to
 * buildServices, then serves the same app as the Node entry beside it (node.ts). Config is parsed once per isolate; the database client is made per request,
 * because workerd forbids reusing a socket across requests.
 */
import agentsYaml from '../config/agents.yaml';
import appYaml from '../config/app.yaml';
import authYaml from '../config/auth.yaml';
import mindexContract from '../config/contracts/mindex.openapi.yaml';
import natureosContract from '../config/contracts/natureos.openapi.yaml';
import websiteContract from '../config/contracts/website.openapi.yaml';
import modelsYaml from '../config/models.yaml';
import policyYaml from '../config/policy.yaml';
import { archiveAuditEvents } from '../shared/audit/archive.js';
import { createR2ArchiveStore, isR2ArchiveBucket } from '../shared/audit/archive-store.js';
import { archiveDue, retentionPolicy } from '../shared/audit/schedule.js';
import { buildServices } from '../shared/build-services.js';
import { ConfigError, effectiveLogLevel, loadConfig } from '../shared/config/index.js';
import { createDatabase } from '../shared/db/index.js';
import { createHttpFiles } from '../shared/files/http.js';
import { createR2Files, type R2BucketLike } from '../shared/files/r2.js';
import { createLogger } from '../shared/log/index.js';
import type { Services } from '../shared/services.js';
import { noopMetrics } from '../shared/telemetry/metrics.js';
import { createWorkerTelemetry, type WorkerTelemetry } from '../shared/telemetry/worker-telemetry.js';
import { VERSION } from '../shared/version.js';
import { type App, createApp, sweep } from './app.js';

type Bindings = Record<string, unknown>;

interface Isolate {
  /** Built once per isolate; Services per request only differ in their database client. */
  app: App;
  services: Services;
  telemetry: WorkerTelemetry;
}

let isolate: Promise<Isolate> | undefined;

function stringBindings(env: Bindings): Record<string, string> {
  return Object.fromEntries(Object.entries(env).filter((entry): entry is [string, string] => typeof entry[1] === 'string'));
}

async function setUp(env: Bindings): Promise<Isolate> {
  // Deployed: Postgres through the Hyperdrive binding (its connection string is the database URL).
  const hyperdrive = env.HYPERDRIVE as { connectionString?: string } | undefined;
  const config = loadConfig({
    env: { ...stringBindings(env), ...(hyperdrive?.connectionString ? { DATABASE_URL: hyperdrive.connectionString } : {}) },
    files: { 'app.yaml': appYaml, 'auth.yaml': authYaml, 'models.yaml': modelsYaml, 'policy.yaml': policyYaml, 'agents.yaml': agentsYaml },
  });
  const logger = createLogger({ level: effectiveLogLevel(config), base: { service: config.telemetry.service_name, runtime: 'workerd' } });
  if (config.env === 'production' && config.apiKeys.length === 0) {
    throw new ConfigError('auth', [{ key: 'auth.api_keys', env: ['MYCA_API_KEYS'], message: 'production needs API keys' }]);
  }
  const telemetry = createWorkerTelemetry({
    serviceName: config.telemetry.service_name,
    version: VERSION,
    otlpEndpoint: config.telemetry.otlp_endpoint,
  });
  const services = await buildServices(config, {
    runtime: 'workerd',
    logger,
    fetch,
    // workerd forbids reusing a socket across requests: withRequestDatabase gives each its own.
    db: null,
    metrics: noopMetrics,
    tracerProvider: telemetry.tracerProvider,
    renderMetrics: null,
    // npm run dev hands the worker the Node host's files folder, so both runtimes share it.
    files:
      typeof env.MYCA_DEV_FILES_URL === 'string' && typeof env.MYCA_DEV_FILES_TOKEN === 'string'
        ? createHttpFiles({ url: env.MYCA_DEV_FILES_URL, token: env.MYCA_DEV_FILES_TOKEN })
        : isBucket(env.FILES)
          ? createR2Files(env.FILES)
          : null,
    apiKeys: config.apiKeys,
    contract: (name) => ({ mindex: mindexContract, natureos: natureosContract, website: websiteContract })[name],
  });
  return { telemetry, services, app: createApp(services, () => withRequestDatabase(services)) };
}

const isBucket = (value: unknown): value is R2BucketLike =>
  typeof value === 'object' &&
  value !== null &&
  typeof (value as R2BucketLike).get === 'function' &&
  typeof (value as R2BucketLike).put === 'function';

/** workerd forbids reusing a socket across requests: each request gets its own (lazy) client. */
function withRequestDatabase(services: Services): Services {
  const url = services.config.database.url;
  return url
    ? { ...services, db: createDatabase(url, { max: 1, fetchTypes: false, idleTimeoutSeconds: 0, connectTimeoutSeconds: 5 }) }
    : services;
}

/** The isolate's app and services, built on first use; or why they cannot be (logged, retried next time). */
async function isolateFor(env: Bindings): Promise<Isolate | string> {
  isolate ??= setUp(env);
  try {
    return await isolate;
  } catch (error) {
    isolate = undefined;
    const detail = error instanceof ConfigError ? error.message : String(error);
    console.error(detail);
    return detail;
  }
}

export default {
  async fetch(request: Request, env: Bindings, ctx: ExecutionContext): Promise<Response> {
    const base = await isolateFor(env);
    if (typeof base === 'string') {
      return Response.json(
        {
          type: 'https://myca.dev/problems/unavailable',
          title: 'Service unavailable',
          status: 503,
          code: 'UNAVAILABLE',
          detail: 'invalid configuration',
          hint: base,
        },
        { status: 503, headers: { 'content-type': 'application/problem+json' } },
      );
    }
    const response = await base.app.fetch(request, env, ctx);
    ctx.waitUntil(base.telemetry.flush());
    return response;
  },

  /**
   * The Cron Trigger (wrangler.toml): expires overdue approvals and resumes runs that can move on;
   * every AUDIT_ARCHIVE_INTERVAL_S, archives audit events past AUDIT_RETENTION_DAYS to the
   * AUDIT_ARCHIVE R2 bucket (docs/ACTION_AUDIT.md, "Retention and archive").
   */
  async scheduled(controller: ScheduledController, env: Bindings, ctx: ExecutionContext): Promise<void> {
    const base = await isolateFor(env);
    if (typeof base === 'string') return;
    const services = withRequestDatabase(base.services);
    if (!services.db) return;
    const db = services.db;
    const archive =
      archiveDue(services.config, controller.scheduledTime) && isR2ArchiveBucket(env.AUDIT_ARCHIVE)
        ? () =>
            archiveAuditEvents({
              sql: db.sql,
              store: createR2ArchiveStore(env.AUDIT_ARCHIVE as never),
              policy: retentionPolicy(services.config),
              logger: services.logger,
            })
        : async () => undefined;
    ctx.waitUntil(
      sweep({ services, logger: services.logger })
        .catch((error: unknown) => services.logger.error('sweep failed', { error: error as Error }))
        .then(archive)
        .catch((error: unknown) => services.logger.error('audit archive failed', { error: error as Error }))
        .finally(() => Promise.all([db.close(), base.telemetry.flush()])),
    );
  },
} satisfies ExportedHandler<Bindings>;
