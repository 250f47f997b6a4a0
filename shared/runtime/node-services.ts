import { join, resolve } from 'node:path';
import type { Config } from '../config/index.js';
import { createDatabase, type Database } from '../db/index.js';
import { createApiKeyStore, jwtVerifierFor } from '../http/auth.js';
import { createIntegrations } from '../integrations/index.js';
import type { KeyValueStore } from '../kv/index.js';
import { createMemoryStore } from '../kv/memory.js';
import { createUpstashStore } from '../kv/upstash.js';
import type { Logger } from '../log/index.js';
import type { HttpClient } from '../net/http-client.js';
import { type Services, systemClock } from '../services.js';
import { createCorrelatedFetch } from '../telemetry/correlation.js';
import { METRIC_FAMILIES } from '../telemetry/metrics.js';
import type { NodeTelemetry } from '../telemetry/node-telemetry.js';
import { createQdrantStore } from '../vector/qdrant.js';
import { VERSION } from '../version.js';
import { createGuardedFetch } from './guarded-fetch.js';
import { readContract } from './node-config.js';
import { createNodeFiles } from './node-files.js';
import { createUndiciHttp } from './undici-http.js';

export interface NodeServiceParts {
  config: Config;
  logger: Logger;
  telemetry: NodeTelemetry;
  /** The database to use (the configured server, or the embedded one). */
  db: Database | null;
  apiKeys: Config['apiKeys'];
  kv?: KeyValueStore;
  fetch?: typeof fetch;
  /** The raw HTTP client for LLM providers (an undici keep-alive pool by default). */
  llmHttp?: HttpClient;
}

/** Builds the Node server's Services from its parts; the app never sees how they were made. */
export async function createNodeServices(parts: NodeServiceParts): Promise<Services> {
  const { config } = parts;
  const outbound = createCorrelatedFetch(parts.fetch ?? fetch);
  const kv =
    parts.kv ??
    (config.kv.upstash_url && config.kv.upstash_token
      ? createUpstashStore({ url: config.kv.upstash_url, token: config.kv.upstash_token })
      : createMemoryStore());
  if (parts.db) observePending(parts.telemetry, parts.db, parts.logger);
  return {
    config,
    runtime: 'node',
    version: VERSION,
    startedAt: systemClock.now(),
    db: parts.db,
    kv,
    vector: config.vector.qdrant_url
      ? createQdrantStore({ url: config.vector.qdrant_url, apiKey: config.vector.qdrant_api_key, fetch: outbound })
      : null,
    logger: parts.logger,
    metrics: parts.telemetry.metrics,
    tracerProvider: parts.telemetry.tracerProvider,
    clock: systemClock,
    fetch: outbound,
    llmHttp: parts.llmHttp ?? createUndiciHttp(),
    files: createNodeFiles(resolve(config.actions.files_root ?? join(config.data_dir, 'files'))),
    actionFetch: createCorrelatedFetch(
      createGuardedFetch({ allowPrivate: config.policy.http.allow_private, timeoutMs: config.policy.http.timeout_ms }),
    ),
    auth: await createApiKeyStore(parts.apiKeys),
    jwt: jwtVerifierFor(config.auth.jwt),
    renderMetrics: parts.telemetry.renderMetrics,
    integrations: createIntegrations(config, {
      contract: readContract,
      fetch: outbound,
      tracerProvider: parts.telemetry.tracerProvider,
    }),
  };
}

/** `actions_pending`, counted at scrape time (one indexed count; a failed count reports nothing). */
function observePending(telemetry: NodeTelemetry, db: Database, logger: Logger): void {
  const family = METRIC_FAMILIES.actionsPending;
  telemetry.meterProvider
    .getMeter('myca-edge')
    .createObservableGauge(family.name, { description: family.help })
    .addCallback(async (result) => {
      try {
        const [row] = await db.sql<
          { n: number }[]
        >`select count(*)::int as n from action_audit_logs where status = 'pending' and expires_at > now()`;
        result.observe(row?.n ?? 0);
      } catch (error) {
        logger.debug('counting pending actions failed', { error: error as Error });
      }
    });
}

/** The Node pool for a configured server, or a small one for the embedded database. */
export function createNodeDatabase(config: Config, url: string, embedded: boolean): Database {
  return createDatabase(url, { kind: embedded ? 'embedded' : 'postgres', max: embedded ? 4 : config.database.pool_max, fetchTypes: false });
}
