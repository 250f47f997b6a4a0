import { join, resolve } from 'node:path';
import { buildServices } from '../build-services.js';
import type { Config } from '../config/index.js';
import { createDatabase, type Database } from '../db/index.js';
import type { KeyValueStore } from '../kv/index.js';
import type { Logger } from '../log/index.js';
import type { HttpClient } from '../net/http-client.js';
import type { Services } from '../services.js';
import { METRIC_FAMILIES } from '../telemetry/metrics.js';
import type { NodeTelemetry } from '../telemetry/node-telemetry.js';
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

/** The Node platform (metrics, the confined files folder, undici, the guarded fetch) handed to buildServices. */
export async function createNodeServices(parts: NodeServiceParts): Promise<Services> {
  const { config } = parts;
  if (parts.db) observePending(parts.telemetry, parts.db, parts.logger);
  return buildServices(config, {
    runtime: 'node',
    logger: parts.logger,
    fetch: parts.fetch ?? fetch,
    db: parts.db,
    metrics: parts.telemetry.metrics,
    tracerProvider: parts.telemetry.tracerProvider,
    renderMetrics: parts.telemetry.renderMetrics,
    files: createNodeFiles(resolve(config.actions.files_root ?? join(config.data_dir, 'files'))),
    actionFetch: createGuardedFetch({ allowPrivate: config.policy.http.allow_private, timeoutMs: config.policy.http.timeout_ms }),
    llmHttp: parts.llmHttp ?? createUndiciHttp(),
    apiKeys: parts.apiKeys,
    ...(parts.kv ? { kv: parts.kv } : {}),
    contract: readContract,
  });
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
