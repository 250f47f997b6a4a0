/**
 * Stored responses on the embedded default (`npm start` without DATABASE_URL: PGlite under the data
 * folder): migration 0009 applies there, and a response is kept, continued and deleted.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fakeProviderEnv, startFakeLLM } from './support/fake-llm.js';
import { type Started, start, stop } from './support/server-process.js';

const key = `myca_${'c3'.repeat(16)}`;

describe('stored responses on the embedded database (PGlite)', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'myca-responses-'));
  let llm: Awaited<ReturnType<typeof startFakeLLM>>;
  let server: Started;
  beforeAll(async () => {
    llm = await startFakeLLM();
    server = await start({
      MYCA_DATA_DIR: dataDir,
      MYCA_API_KEYS: `owner:agent:${key}`,
      ...fakeProviderEnv(llm.url),
      LLM_RATE_LIMIT_RPM: '0',
    });
  }, 90_000);
  afterAll(async () => {
    if (server) await stop(server);
    await llm?.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('keeps, continues, resolves an item_reference, and deletes', async () => {
    const client = new OpenAI({ apiKey: key, baseURL: `${server.url}/v1`, maxRetries: 0 });
    const first = await client.responses.create({ model: 'execution', input: 'name a mushroom' });
    expect((await client.responses.retrieve(first.id)).output_text).toBe(first.output_text);
    const message = first.output.find((item) => item.type === 'message');
    await client.responses.create({
      model: 'execution',
      input: [
        { type: 'item_reference', id: message?.id as string },
        { role: 'user', content: 'another' },
      ],
      previous_response_id: first.id,
    });
    // OpenAI's own Responses API upstream: the kept conversation, then the referenced item, as items.
    expect(llm.requests.at(-1)?.path).toBe('/v1/responses');
    // Each item rebuilt from the fields the schema knows.
    const item = {
      type: 'message',
      id: message?.id,
      role: 'assistant',
      status: 'completed',
      content: [{ type: 'output_text', text: first.output_text, annotations: [] }],
    };
    expect(llm.requests.at(-1)?.body.input).toEqual([
      { role: 'user', content: 'name a mushroom' },
      item,
      item,
      { role: 'user', content: 'another' },
    ]);
    await client.responses.delete(first.id);
    expect(await client.responses.retrieve(first.id).catch((e: unknown) => e)).toBeInstanceOf(OpenAI.NotFoundError);
  });
});
