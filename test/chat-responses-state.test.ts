/**
 * Stored responses on both runtimes against a real Postgres: `store` (on by default), GET and DELETE
 * through the openai client, `previous_response_id` and `item_reference` continuing a conversation,
 * one key never reaching another's responses, the size bound and expiry.
 */
import OpenAI from 'openai';
import postgres from 'postgres';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { migratedDatabase } from './support/actions.js';
import type { TestDatabase } from './support/databases.js';
import { fakeProviderEnv, startFakeLLM } from './support/fake-llm.js';
import { RUNTIMES, type RuntimeHandle, startRuntime } from './support/runtimes.js';

const ownerKey = `myca_${'c1'.repeat(16)}`;
const otherKey = `myca_${'c2'.repeat(16)}`;
const ANSWER = 'Hello! How can I assist you today?';
/** `store` is in every Response, not in the client's type of it. */
const stored = (response: unknown) => (response as { store?: boolean }).store;

describe.each(RUNTIMES)('stored responses (%s)', (runtime) => {
  let llm: Awaited<ReturnType<typeof startFakeLLM>>;
  let database: TestDatabase;
  let admin: postgres.Sql;
  let app: RuntimeHandle;
  let owner: OpenAI;
  let other: OpenAI;

  beforeAll(async () => {
    llm = await startFakeLLM();
    database = await migratedDatabase();
    admin = postgres(database.url, { max: 1, onnotice: () => {} });
    app = await startRuntime(runtime, {
      DATABASE_URL: database.url,
      MYCA_API_KEYS: `owner:agent:${ownerKey},other:agent:${otherKey}`,
      ...fakeProviderEnv(llm.url),
      // The bridge on an OpenAI-wire provider (native pass-through: chat-responses-native.test.ts).
      OPENAI_RESPONSES_API: 'bridge',
      LLM_RETRIES: '0',
      LLM_RATE_LIMIT_RPM: '0',
      RESPONSES_MAX_STORED_BYTES: '8192',
    });
    const baseURL = `${await app.url()}/v1`;
    owner = new OpenAI({ apiKey: ownerKey, baseURL, maxRetries: 0 });
    other = new OpenAI({ apiKey: otherKey, baseURL, maxRetries: 0 });
  });
  afterEach(() => llm.reset());
  afterAll(async () => {
    await app?.close();
    await llm?.close();
    await admin?.end();
    await database?.drop();
  });

  it('keeps a response by default (store unset): GET gives it back, store says true', async () => {
    const created = await owner.responses.create({ model: 'execution', input: 'hi' });
    expect(stored(created)).toBe(true);
    const got = await owner.responses.retrieve(created.id);
    expect(got.id).toBe(created.id);
    expect(got.output_text).toBe(ANSWER);
    expect(got.usage?.total_tokens).toBe(created.usage?.total_tokens);
    const [row] = await admin<
      { principal_id: string; bytes: number }[]
    >`select principal_id, bytes from llm_responses where id = ${created.id}`;
    expect(row?.principal_id).toBe('owner');
    expect(row?.bytes).toBeGreaterThan(0);
  });

  it('never shows one key’s response to another: the same 404 as an unknown id, for GET, DELETE and previous_response_id', async () => {
    const created = await owner.responses.create({ model: 'execution', input: 'secret plans' });
    const unknown = 'resp_00000000000000000000000000000000';
    for (const id of [created.id, unknown]) {
      const read = await other.responses.retrieve(id).catch((e: unknown) => e);
      expect(read).toBeInstanceOf(OpenAI.NotFoundError);
      const removed = await other.responses.delete(id).catch((e: unknown) => e);
      expect(removed).toBeInstanceOf(OpenAI.NotFoundError);
    }
    const continued = await other.responses
      .create({ model: 'execution', input: 'go on', previous_response_id: created.id })
      .catch((e: unknown) => e);
    expect(continued).toBeInstanceOf(OpenAI.NotFoundError);
    expect(String((continued as Error).message)).toMatch(/previous_response_id/);
    // Nothing of the owner's conversation reached the provider for the other key.
    expect(llm.requests.filter((r) => JSON.stringify(r.body).includes('go on'))).toHaveLength(0);
    // Still the owner's, untouched.
    expect((await owner.responses.retrieve(created.id)).id).toBe(created.id);
  });

  it('previous_response_id prepends the stored conversation (its input and output items) to the new input', async () => {
    const first = await owner.responses.create({ model: 'execution', instructions: 'Be brief.', input: 'name a mushroom' });
    const second = await owner.responses.create({ model: 'execution', input: 'and another', previous_response_id: first.id });
    expect(second.previous_response_id).toBe(first.id);
    expect(llm.requests.at(-1)?.body.messages).toEqual([
      { role: 'user', content: 'name a mushroom' },
      { role: 'assistant', content: ANSWER },
      { role: 'user', content: 'and another' },
    ]);
    // A chain: the third turn sees all of it.
    await owner.responses.create({ model: 'execution', input: 'a third', previous_response_id: second.id });
    expect(llm.requests.at(-1)?.body.messages).toHaveLength(5);
  });

  it('resolves item_reference items to the key’s stored output items (what the Vercel AI SDK sends)', async () => {
    const first = await owner.responses.create({ model: 'execution', input: 'hello' });
    const message = first.output.find((item) => item.type === 'message');
    await owner.responses.create({
      model: 'execution',
      input: [
        { role: 'user', content: 'hello' },
        { type: 'item_reference', id: message?.id as string },
        { role: 'user', content: 'more' },
      ],
    });
    expect(llm.requests.at(-1)?.body.messages).toEqual([
      { role: 'user', content: 'hello' },
      { role: 'assistant', content: ANSWER },
      { role: 'user', content: 'more' },
    ]);
    const foreign = await other.responses
      .create({ model: 'execution', input: [{ type: 'item_reference', id: message?.id as string }] })
      .catch((e: unknown) => e);
    expect(foreign).toBeInstanceOf(OpenAI.NotFoundError);
  });

  it('keeps a streamed response once it completed (the final event says so); DELETE removes it', async () => {
    const stream = await owner.responses.create({ model: 'execution', input: 'stream it', stream: true });
    let final: OpenAI.Responses.Response | undefined;
    for await (const event of stream) if (event.type === 'response.completed') final = event.response;
    expect(stored(final)).toBe(true);
    const got = await owner.responses.retrieve(final?.id as string);
    expect(got.output_text).toBe('Hello there');
    await owner.responses.delete(got.id);
    expect(await owner.responses.retrieve(got.id).catch((e: unknown) => e)).toBeInstanceOf(OpenAI.NotFoundError);
  });

  it('store: false keeps nothing; a response over RESPONSES_MAX_STORED_BYTES is answered but not kept', async () => {
    const unstored = await owner.responses.create({ model: 'execution', input: 'forget me', store: false });
    expect(stored(unstored)).toBe(false);
    expect(await owner.responses.retrieve(unstored.id).catch((e: unknown) => e)).toBeInstanceOf(OpenAI.NotFoundError);
    const large = await owner.responses.create({ model: 'execution', input: 'x'.repeat(10_000) });
    expect(large.status).toBe('completed');
    expect(stored(large)).toBe(false);
    expect(await owner.responses.retrieve(large.id).catch((e: unknown) => e)).toBeInstanceOf(OpenAI.NotFoundError);
  });

  it('an expired response is never read, and a later write deletes it', async () => {
    const created = await owner.responses.create({ model: 'execution', input: 'short-lived' });
    await admin`update llm_responses set expires_at = now() - interval '1 second' where id = ${created.id}`;
    expect(await owner.responses.retrieve(created.id).catch((e: unknown) => e)).toBeInstanceOf(OpenAI.NotFoundError);
    await owner.responses.create({ model: 'execution', input: 'next' });
    expect(await admin`select 1 from llm_responses where id = ${created.id}`).toHaveLength(0);
  });

  it('refuses a malformed id at the edge (400), before any lookup', async () => {
    const response = await app.fetch('/v1/responses/resp_x%27%3Bdrop', { headers: { authorization: `Bearer ${ownerKey}` } });
    expect(response.status).toBe(400);
    expect(((await response.json()) as { detail: string }).detail).toMatch(/not a response id/);
  });
});

describe('RESPONSES_RETENTION_DAYS=0 with a database (node)', () => {
  it('keeps nothing: store defaults to false, store: true and previous_response_id are a 400, GET is a 404', async () => {
    const llm = await startFakeLLM();
    const database = await migratedDatabase();
    const app = await startRuntime('node', {
      DATABASE_URL: database.url,
      MYCA_API_KEYS: `owner:agent:${ownerKey}`,
      ...fakeProviderEnv(llm.url),
      // The bridge on an OpenAI-wire provider (native pass-through: chat-responses-native.test.ts).
      OPENAI_RESPONSES_API: 'bridge',
      LLM_RATE_LIMIT_RPM: '0',
      RESPONSES_RETENTION_DAYS: '0',
    });
    try {
      const client = new OpenAI({ apiKey: ownerKey, baseURL: `${await app.url()}/v1`, maxRetries: 0 });
      const created = await client.responses.create({ model: 'execution', input: 'hi' });
      expect(stored(created)).toBe(false);
      for (const extra of [{ store: true }, { previous_response_id: created.id }]) {
        const refused = await client.responses.create({ model: 'execution', input: 'hi', ...extra }).catch((e: unknown) => e);
        expect(refused).toBeInstanceOf(OpenAI.BadRequestError);
        expect(String((refused as Error).message)).toMatch(/RESPONSES_RETENTION_DAYS=0/);
      }
      expect(await client.responses.retrieve(created.id).catch((e: unknown) => e)).toBeInstanceOf(OpenAI.NotFoundError);
      const postgresClient = postgres(database.url, { max: 1, onnotice: () => {} });
      expect(await postgresClient`select 1 from llm_responses`).toHaveLength(0);
      await postgresClient.end();
    } finally {
      await app.close();
      await llm.close();
      await database.drop();
    }
  });
});
