import type { TracerProvider } from '@opentelemetry/api';
import type { Config } from './config/index.js';
import type { Database } from './db/index.js';
import type { FilesPort } from './files/port.js';
import { createApiKeyStore, jwtVerifierFor } from './http/auth.js';
import { type ContractSource, createIntegrations } from './integrations/index.js';
import type { KeyValueStore } from './kv/index.js';
import { createMemoryStore } from './kv/memory.js';
import { createUpstashStore } from './kv/upstash.js';
import type { Logger } from './log/index.js';
import { createFetchHttp } from './net/fetch-http.js';
import type { HttpClient } from './net/http-client.js';
import { type Services, systemClock } from './services.js';
import { createCorrelatedFetch } from './telemetry/correlation.js';
import type { Metrics } from './telemetry/metrics.js';
import { createQdrantStore } from './vector/qdrant.js';
import { VERSION } from './version.js';

/**
 * What an entry point reads from its platform (workerd bindings, or the Node process): the things
 * only it can make. Every choice made from config (which KV, which vector store, the clients of the
 * integrations, correlation on outbound calls) is buildServices' alone.
 */
export interface Platform {
  runtime: Services['runtime'];
  logger: Logger;
  /** The platform's fetch; outbound calls add the current request's correlation headers to it. */
  fetch: typeof fetch;
  db: Database | null;
  metrics: Metrics;
  tracerProvider: TracerProvider;
  renderMetrics: (() => Promise<string>) | null;
  /** The file actions' files (Node: a folder; workerd: R2 or the dev bridge; null without either). */
  files: FilesPort | null;
  /** The fetch http.request connects with (Node: one that checks every address at connect time); default `fetch`. */
  actionFetch?: typeof fetch;
  /** The raw HTTP client for LLM providers (Node: an undici keep-alive pool); default: over `fetch`. */
  llmHttp?: HttpClient;
  /** The API keys to accept (Node resolves development keys first). */
  apiKeys: Config['apiKeys'];
  /** A KV store made elsewhere (tests); by default Upstash when configured, else memory. */
  kv?: KeyValueStore;
  /** The pinned contract files of the integrations (Node reads config/contracts/; workerd bundles them). */
  contract: ContractSource;
}

/** The one place Services are assembled, for both runtimes. */
export async function buildServices(config: Config, platform: Platform): Promise<Services> {
  const outbound = createCorrelatedFetch(platform.fetch);
  const kv =
    platform.kv ??
    (config.kv.upstash_url && config.kv.upstash_token
      ? createUpstashStore({
          url: config.kv.upstash_url,
          token: config.kv.upstash_token,
          ...(platform.runtime === 'node' ? { batch: true, ...(platform.llmHttp ? { http: platform.llmHttp } : {}) } : {}),
        })
      : createMemoryStore());
  return {
    config,
    runtime: platform.runtime,
    version: VERSION,
    startedAt: systemClock.now(),
    db: platform.db,
    kv,
    vector: config.vector.qdrant_url
      ? createQdrantStore({ url: config.vector.qdrant_url, apiKey: config.vector.qdrant_api_key, fetch: outbound })
      : null,
    logger: platform.logger,
    metrics: platform.metrics,
    tracerProvider: platform.tracerProvider,
    clock: systemClock,
    fetch: outbound,
    llmHttp: platform.llmHttp ?? createFetchHttp(platform.fetch),
    files: platform.files,
    actionFetch: platform.actionFetch ? createCorrelatedFetch(platform.actionFetch) : outbound,
    auth: await createApiKeyStore(platform.apiKeys),
    jwt: jwtVerifierFor(config.auth.jwt),
    renderMetrics: platform.renderMetrics,
    integrations: createIntegrations(config, {
      contract: platform.contract,
      fetch: outbound,
      tracerProvider: platform.tracerProvider,
    }),
  };
}
