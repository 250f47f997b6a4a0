import type { QdrantClient } from '@qdrant/js-client-rest';
import type { VectorFilter, VectorStore } from './index.js';

class QdrantError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
    this.name = 'QdrantError';
  }
}

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
  const headers = { 'content-type': 'application/json', ...(options.apiKey ? { 'api-key': options.apiKey } : {}) };
  /** One call of Qdrant's REST API (the same paths the official client calls), its `result` or a thrown error. */
  const call = async (method: string, path: string, body: unknown, signal?: AbortSignal): Promise<unknown> => {
    const response = await doFetch(`${base}${path}`, {
      method,
      headers,
      body: JSON.stringify(body),
      ...(signal ? { signal } : {}),
    });
    const text = await response.text();
    if (!response.ok)
      throw new QdrantError(response.status, `Qdrant ${method} ${path.split('?')[0]} answered ${response.status}: ${text.slice(0, 200)}`);
    return (JSON.parse(text) as { result?: unknown }).result;
  };
  const filterOf = (filter: VectorFilter | undefined) =>
    filter
      ? {
          must: [
            ...Object.entries(filter.equals ?? {}).map(([key, value]) => ({ key, match: { value } })),
            ...Object.entries(filter.greaterThan ?? {}).map(([key, gt]) => ({ key, range: { gt } })),
          ],
        }
      : undefined;
  return {
    kind: 'qdrant',
    ensureCollection: async (name, size, signal) => {
      try {
        await call('PUT', `/collections/${encodeURIComponent(name)}`, { vectors: { size, distance: 'Cosine' } }, signal);
      } catch (error) {
        // 409 (and 400 on older servers): it exists already.
        if (!(error instanceof QdrantError) || (error.status !== 409 && !/already exists/.test(error.message))) throw error;
      }
    },
    upsert: async (collection, points, signal) => {
      await call('PUT', `/collections/${encodeURIComponent(collection)}/points?wait=true`, { points }, signal);
    },
    search: async (collection, vector, { limit, minScore, filter, signal }) => {
      const result = await call(
        'POST',
        `/collections/${encodeURIComponent(collection)}/points/search`,
        {
          vector,
          limit,
          with_payload: true,
          ...(minScore !== undefined ? { score_threshold: minScore } : {}),
          ...(filter ? { filter: filterOf(filter) } : {}),
        },
        signal,
      );
      return (result as Array<{ id: string | number; score: number; payload?: Record<string, unknown> }>).map((point) => ({
        id: String(point.id),
        score: point.score,
        payload: point.payload ?? {},
      }));
    },
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
