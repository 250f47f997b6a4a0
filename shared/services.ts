import type { TracerProvider } from '@opentelemetry/api';
import type { Config } from './config/index.js';
import type { Database } from './db/index.js';
import type { FilesPort } from './files/port.js';
import type { ApiKeyStore, JwtVerifier } from './identity.js';
import type { Integrations } from './integrations/index.js';
import type { KeyValueStore } from './kv/index.js';
import type { Logger } from './log/index.js';
import type { HttpClient } from './net/http-client.js';
import type { Metrics } from './telemetry/metrics.js';
import type { VectorStore } from './vector/index.js';

export interface Clock {
  now(): number;
}

export const systemClock: Clock = { now: () => Date.now() };

/**
 * Every dependency a handler may use, built by an entry point (the only code that knows the
 * runtime) and handed to the app. Handlers reach it as `c.get('services')`.
 */
export interface Services {
  config: Config;
  runtime: 'node' | 'workerd';
  version: string;
  /** Epoch ms when this process / isolate started. */
  startedAt: number;
  /** Null only when no database is configured (workerd without DATABASE_URL). */
  db: Database | null;
  kv: KeyValueStore;
  /** Null when QDRANT_URL is not set. */
  vector: VectorStore | null;
  logger: Logger;
  metrics: Metrics;
  /** Where spans go; the app's server spans and every span a handler starts use it. */
  tracerProvider: TracerProvider;
  clock: Clock;
  /** Outbound fetch; adds the correlation headers of the current request. */
  fetch: typeof fetch;
  /** The file actions' confined file system (Node); null where there is none (workerd). */
  files: FilesPort | null;
  /** The fetch of http.request: refuses private addresses at connect time where it can (Node). */
  actionFetch: typeof fetch;
  /** The raw HTTP client for LLM providers (Node: an undici keep-alive pool; workerd: fetch). */
  llmHttp: HttpClient;
  auth: ApiKeyStore;
  /** Approver JWT verification, when MYCA_JWT_JWKS_URL is set. */
  jwt: JwtVerifier | null;
  /** Typed clients of MINDEX, NatureOS and the website (null each where not configured). */
  integrations: Integrations;
  /** Renders the Prometheus text (Node only; null where metrics live elsewhere). */
  renderMetrics: (() => Promise<string>) | null;
}
