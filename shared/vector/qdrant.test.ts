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

  it('fails the probe when nothing answers', async () => {
    await expect(createQdrantStore({ url: 'http://127.0.0.1:9' }).ping()).rejects.toThrow();
  });
});
