import type { QdrantClient } from '@qdrant/js-client-rest';
import type { VectorStore } from './index.js';

export interface QdrantOptions {
  url: string;
  apiKey?: string | undefined;
  fetch?: typeof fetch;
}

/**
 * Qdrant through its official REST client. The readiness probe is a bare `GET /readyz` through the
 * injected fetch: it is the endpoint Qdrant documents for probes and costs one small request.
 */
export function createQdrantStore(options: QdrantOptions): VectorStore {
  const base = options.url.replace(/\/+$/, '');
  const doFetch = options.fetch ?? fetch;
  let client: Promise<QdrantClient> | undefined;
  // Loaded and built on first use: the client and its HTTP agent cost ~10 MB of memory that a
  // probe-only process does not need.
  const getClient = () => {
    client ??= import('@qdrant/js-client-rest').then(
      ({ QdrantClient }) =>
        new QdrantClient({
          url: base,
          checkCompatibility: false,
          timeout: 10_000,
          ...(options.apiKey ? { apiKey: options.apiKey } : {}),
        }),
    );
    return client;
  };
  return {
    kind: 'qdrant',
    ping: async (signal) => {
      const response = await doFetch(`${base}/readyz`, {
        headers: options.apiKey ? { 'api-key': options.apiKey } : {},
        ...(signal ? { signal } : {}),
      });
      await response.body?.cancel();
      if (!response.ok) throw new Error(`Qdrant /readyz answered ${response.status}`);
    },
    listCollections: async () => (await (await getClient()).getCollections()).collections.map((collection) => collection.name),
  };
}
