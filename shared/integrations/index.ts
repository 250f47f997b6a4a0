import type { TracerProvider } from '@opentelemetry/api';
import type { Config } from '../config/index.js';
import { loadContract } from './contract.js';
import { createMindexClient, type MindexClient } from './mindex.js';
import { createNatureOsClient, type NatureOsClient } from './natureos.js';
import { createWebsiteClient, type WebsiteClient } from './website.js';

export { IntegrationError } from './client.js';
export type { MindexClient, NatureOsClient, WebsiteClient };

export type IntegrationName = 'mindex' | 'natureos' | 'website';

/** The pinned contract file's text of one service (Node reads config/contracts/; workerd bundles them). */
export type ContractSource = (name: IntegrationName) => string;

/** The typed clients of Mycosoft's systems; null where no base URL is configured. */
export interface Integrations {
  mindex: MindexClient | null;
  natureos: NatureOsClient | null;
  website: WebsiteClient | null;
}

/** Builds the clients once per process or isolate, runtime-neutral (the fetch is the runtime's); only configured services' contracts are read. */
export function createIntegrations(
  config: Config,
  parts: { contract: ContractSource; fetch: typeof fetch; tracerProvider: TracerProvider },
): Integrations {
  const { integrations } = config;
  const common = {
    fetch: parts.fetch,
    tracer: parts.tracerProvider.getTracer('myca-integrations'),
    timeoutMs: integrations.timeout_ms,
    retries: integrations.retries,
  };
  return {
    mindex: integrations.mindex.base_url
      ? createMindexClient({
          ...common,
          baseUrl: integrations.mindex.base_url,
          apiKey: integrations.mindex.api_key,
          contract: loadContract('mindex', parts.contract('mindex')),
        })
      : null,
    natureos: integrations.natureos.base_url
      ? createNatureOsClient({
          ...common,
          baseUrl: integrations.natureos.base_url,
          apiKey: integrations.natureos.api_key,
          contract: loadContract('natureos', parts.contract('natureos')),
        })
      : null,
    website: integrations.website.base_url
      ? createWebsiteClient({
          ...common,
          baseUrl: integrations.website.base_url,
          contract: loadContract('website', parts.contract('website')),
        })
      : null,
  };
}
