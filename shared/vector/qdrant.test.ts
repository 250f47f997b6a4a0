import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeQdrant } from '../../test/support/fake-qdrant.js';
import { createQdrantStore } from './qdrant.js';

describe('Qdrant store against a loopback Qdrant', () => {
  let qdrant: Awaited<ReturnType<typeof startFakeQdrant>>;
  beforeAll(async () => {
    qdrant = await startFakeQdrant();
  });
  afterAll(() => qdrant?.close());

  it('probes /readyz and lists collections through the official client (loaded on first use)', async () => {
    const store = createQdrantStore({ url: `${qdrant.url}/` });
    await expect(store.ping()).resolves.toBeUndefined();
    await expect(store.listCollections()).resolves.toEqual(['species', 'documents']);
  });

  it('creates a collection once, upserts points and finds the nearest over its REST API, filtered and thresholded', async () => {
    const store = createQdrantStore({ url: qdrant.url });
    await store.ensureCollection('cache_3', 3);
    await store.ensureCollection('cache_3', 3); // exists (409): fine
    await store.upsert('cache_3', [
      { id: '00000000-0000-0000-0000-000000000001', vector: [1, 0, 0], payload: { tenant: 'a', expires_at: 100 } },
      { id: '00000000-0000-0000-0000-000000000002', vector: [0.9, 0.1, 0], payload: { tenant: 'b', expires_at: 100 } },
      { id: '00000000-0000-0000-0000-000000000003', vector: [1, 0, 0], payload: { tenant: 'a', expires_at: 10 } },
    ]);
    const found = await store.search('cache_3', [1, 0, 0], {
      limit: 5,
      minScore: 0.9,
      filter: { equals: { tenant: 'a' }, greaterThan: { expires_at: 50 } },
    });
    expect(found.map((point) => [point.id, point.score])).toEqual([['00000000-0000-0000-0000-000000000001', 1]]);
    await expect(store.search('cache_3', [0, 1, 0], { limit: 1, minScore: 0.5 })).resolves.toEqual([]);
    await expect(store.search('missing', [1, 0, 0], { limit: 1 })).rejects.toThrow(/answered 404/);
  });

  it('fails the probe when nothing answers', async () => {
    await expect(createQdrantStore({ url: 'http://127.0.0.1:9' }).ping()).rejects.toThrow();
  });
});
