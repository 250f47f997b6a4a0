/**
 * POST /v1/responses passed to the provider's own Responses API (`responses_api: native`, OpenAI's
 * default), driven by the official openai client on both runtimes against the loopback fake, which
 * answers with Responses fixtures in OpenAI's wire format. The gateway sends the whole conversation
 * with `store: false`, answers with the provider's Response under its own id, keeps it per key, and
 * runs the same pipeline around the call: fallback, accounting, headers.
 */
import OpenAI from 'openai';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { migratedDatabase } from './support/actions.js';
import type { TestDatabase } from './support/databases.js';
import { fakeProviderEnv, fixture, nativeReply, nativeResponse, readSse, sseEvents, startFakeLLM } from './support/fake-llm.js';
import { eventually, RUNTIMES, type RuntimeHandle, startRuntime } from './support/runtimes.js';

const agentKey = `myca_${'e6'.repeat(16)}`;
const otherKey = `myca_${'e8'.repeat(16)}`;
const recorded = JSON.parse(fixture('openai-responses.json')) as { id: string; output: Array<{ id: string }> };
type Event = { event: string | undefined; type: string; sequence_number: number; response?: { id: string }; delta?: string };
const recordedEvents = sseEvents('openai-responses-stream.sse').map((data) => JSON.parse(data) as { type: string });

describe.each(RUNTIMES)('POST /v1/responses to OpenAI’s own Responses API (%s)', (runtime) => {
  let llm: Awaited<ReturnType<typeof startFakeLLM>>;
  let app: RuntimeHandle;
  let client: OpenAI;
  let database: TestDatabase;

  beforeAll(async () => {
    llm = await startFakeLLM();
    database = await migratedDatabase();
    app = await startRuntime(runtime, {
      MYCA_API_KEYS: `planner:agent:${agentKey},other:agent:${otherKey}`,
      ...fakeProviderEnv(llm.url),
      AZURE_OPENAI_API_KEY: 'test-azure-key',
      AZURE_OPENAI_ENDPOINT: llm.url,
      AZURE_OPENAI_RESPONSES_API: 'native',
      DATABASE_URL: database.url,
      LLM_RETRIES: '0',
      LLM_RATE_LIMIT_RPM: '0',
    });
    client = new OpenAI({ apiKey: agentKey, baseURL: `${await app.url()}/v1`, maxRetries: 0 });
  });
  afterEach(() => llm.reset());
  afterAll(async () => {
    await app?.close();
    await llm?.close();
    await database?.drop();
  });

  it('sends the Responses form to /v1/responses with store: false and answers with the provider’s Response under the gateway’s id', async () => {
    const response = await client.responses.create({
      model: 'execution',
      instructions: 'Be brief.',
      input: 'hi',
      max_output_tokens: 50,
      metadata: { run: 'r1' },
    });
    const sent = llm.requests.at(-1);
    expect(sent?.path).toBe('/v1/responses');
    expect(sent?.body).toEqual({
      model: 'gpt-4o-mini',
      instructions: 'Be brief.',
      input: [{ role: 'user', content: 'hi' }],
      max_output_tokens: 50,
      temperature: 0.1, // the model's configured default, as chat gets it
      store: false,
    });
    expect(response.id).toMatch(/^resp_/);
    expect(response.id).not.toBe(recorded.id);
    expect(response.output_text).toBe('Hello! How can I assist you today?');
    // The provider's own items (its ids), not a translation.
    expect(response.output.map((item) => item.id)).toEqual(recorded.output.map((item) => item.id));
    expect(response.usage).toMatchObject({ input_tokens: 19, output_tokens: 10, total_tokens: 29 });
    expect(response.metadata).toEqual({ run: 'r1' });
    expect((response as { store?: boolean }).store).toBe(true);
    expect((await client.responses.retrieve(response.id)).output_text).toBe(response.output_text);
  });

  it('streams the provider’s own events in order, renumbered, under the gateway’s id; the Response is kept', async () => {
    const response = await app.fetch('/v1/responses', {
      method: 'POST',
      headers: { authorization: `Bearer ${agentKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'execution', input: 'hi', stream: true }),
    });
    expect(response.status).toBe(200);
    expect(response.headers.get('x-myca-provider')).toBe('openai');
    const events = (await readSse(response)).map(
      ({ event, data }) => ({ event, ...(JSON.parse(data) as Record<string, unknown>) }) as Event,
    );
    expect(events.map((e) => e.type)).toEqual(recordedEvents.map((e) => e.type));
    expect(events.map((e) => e.event)).toEqual(recordedEvents.map((e) => e.type));
    expect(events.map((e) => e.sequence_number)).toEqual(events.map((_, i) => i));
    const ids = new Set(events.flatMap((e) => (e.response ? [(e.response as { id: string }).id] : [])));
    expect(ids.size).toBe(1);
    const [id] = [...ids];
    expect(id).not.toBe(recorded.id);
    const text = events.flatMap((e) => (e.type === 'response.output_text.delta' ? [e.delta] : [])).join('');
    expect(text).toBe('Hello! How can I assist you today?');
    const done = events.at(-1) as unknown as { type: string; response: { store: boolean; usage: { total_tokens: number } } };
    expect(done.type).toBe('response.completed');
    expect(done.response.store).toBe(true);
    expect(done.response.usage.total_tokens).toBe(29);
    expect(llm.requests.at(-1)?.body).toMatchObject({ stream: true, store: false });
    expect((await client.responses.retrieve(id as string)).output_text).toBe(text);
  });

  it('the openai client’s own stream helper reads the native events to the final Response', async () => {
    const stream = client.responses.stream({ model: 'execution', input: 'hi' });
    let text = '';
    for await (const event of stream) if (event.type === 'response.output_text.delta') text += event.delta;
    const final = await stream.finalResponse();
    expect(text).toBe('Hello! How can I assist you today?');
    expect(final.output_text).toBe(text);
    expect(final.id).toMatch(/^resp_/);
    expect(final.id).not.toBe(recorded.id);
  });

  it('continues a stored conversation: previous_response_id and function_call_output go upstream as the whole input', async () => {
    const tools: OpenAI.Responses.Tool[] = [
      { type: 'function', name: 'get_weather', parameters: { type: 'object', properties: { city: { type: 'string' } } }, strict: false },
    ];
    const first = await client.responses.create({ model: 'execution', input: 'weather in Paris?', tools });
    const call = first.output.find((item) => item.type === 'function_call');
    if (call?.type !== 'function_call') throw new Error('no function call');
    expect(call.name).toBe('get_weather');
    await client.responses.create({
      model: 'execution',
      previous_response_id: first.id,
      input: [{ type: 'function_call_output', call_id: call.call_id, output: '{"temp":21}' }],
      tools,
    });
    const sent = llm.requests.at(-1)?.body as { input: unknown[]; tools: unknown[]; store: boolean; previous_response_id?: unknown };
    expect(sent.store).toBe(false);
    expect(sent.previous_response_id).toBeUndefined();
    expect(sent.input).toEqual([
      { role: 'user', content: 'weather in Paris?' },
      call,
      { type: 'function_call_output', call_id: call.call_id, output: '{"temp":21}' },
    ]);
    expect(sent.tools).toEqual([
      {
        type: 'function',
        name: 'get_weather',
        parameters: tools[0] && 'parameters' in tools[0] ? tools[0].parameters : null,
        strict: false,
      },
    ]);
    // Never another key's: the same 404 as an unknown id.
    const other = new OpenAI({ apiKey: otherKey, baseURL: client.baseURL, maxRetries: 0 });
    expect(
      await other.responses.create({ model: 'execution', previous_response_id: first.id, input: 'x' }).catch((e: unknown) => e),
    ).toBeInstanceOf(OpenAI.NotFoundError);
  });

  it('passes reasoning items that carry encrypted_content and include; leaves out those that cannot be resolved upstream', async () => {
    await client.responses.create({
      model: 'execution',
      store: false,
      include: ['reasoning.encrypted_content'],
      reasoning: { effort: 'low', summary: 'auto' },
      input: [
        { role: 'user', content: 'think' },
        { type: 'reasoning', id: 'rs_a1', summary: [], encrypted_content: 'gAAAA-opaque' },
        { type: 'reasoning', id: 'rs_b2', summary: [] },
        { role: 'assistant', content: 'thought' },
        { role: 'user', content: 'again' },
      ],
    });
    const sent = llm.requests.at(-1)?.body as Record<string, unknown>;
    expect(sent.include).toEqual(['reasoning.encrypted_content']);
    expect(sent.reasoning).toEqual({ effort: 'low', summary: 'auto' });
    expect(sent.input).toEqual([
      { role: 'user', content: 'think' },
      { type: 'reasoning', id: 'rs_a1', summary: [], encrypted_content: 'gAAAA-opaque' },
      { role: 'assistant', content: 'thought' },
      { role: 'user', content: 'again' },
    ]);
  });

  it('rebuilds each input item from the fields the schema knows: nothing else the caller adds goes upstream', async () => {
    const response = await app.fetch('/v1/responses', {
      method: 'POST',
      headers: { authorization: `Bearer ${agentKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({
        model: 'execution',
        store: false,
        input: [
          {
            role: 'user',
            vector_store_ids: ['vs_theirs'],
            content: [
              { type: 'input_text', text: 'look', file_id: 'file-not-yours' },
              { type: 'input_image', image_url: 'data:image/png;base64,iVBORw0KGgo=', file_id: 'file-not-yours' },
            ],
          },
          { type: 'function_call', call_id: 'c1', name: 'f', arguments: '{}', namespace: 'x' },
          { type: 'function_call_output', call_id: 'c1', output: 'ok', file_id: 'file-not-yours' },
        ],
      }),
    });
    expect(response.status).toBe(200);
    const sent = llm.requests.at(-1)?.body as { input: unknown[] };
    expect(JSON.stringify(sent)).not.toMatch(/file-not-yours|vs_theirs|namespace/);
    expect(sent.input).toEqual([
      {
        role: 'user',
        content: [
          { type: 'input_text', text: 'look' },
          { type: 'input_image', image_url: 'data:image/png;base64,iVBORw0KGgo=' },
        ],
      },
      { type: 'function_call', call_id: 'c1', name: 'f', arguments: '{}' },
      { type: 'function_call_output', call_id: 'c1', output: 'ok' },
    ]);
  });

  it('a failed Response or a stream that fails before its output falls back to the next model', async () => {
    llm.queue('gpt-4o-mini', {
      status: 200,
      body: { ...nativeResponse('gpt-4o-mini', {}), status: 'failed', error: { code: 'server_error', message: 'boom' }, output: [] },
    });
    const json = await client.responses.create({ model: 'execution', input: 'hi' }).withResponse();
    expect(json.data.status).toBe('completed');
    expect(json.response.headers.get('x-myca-model')).toBe('gpt-4o');

    llm.queue('gpt-4o-mini', { sse: sseEvents('openai-responses-stream-rate-limited.sse') });
    const response = await app.fetch('/v1/responses', {
      method: 'POST',
      headers: { authorization: `Bearer ${agentKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'execution', input: 'hi', stream: true }),
    });
    expect(response.headers.get('x-myca-model')).toBe('gpt-4o');
    const events = await readSse(response);
    expect(events.at(-1)?.event).toBe('response.completed');
    // One response.created: the failed attempt's opening events never reached the client.
    expect(events.filter((e) => e.event === 'response.created')).toHaveLength(1);
  });

  it('an incomplete Response is an answer (no fallback), and its usage is counted as chat’s is', async () => {
    llm.queue(
      'gpt-4o-mini',
      nativeReply('gpt-4o-mini', { content: 'cut', status: 'incomplete' }, { input_tokens: 7, output_tokens: 5, total_tokens: 12 }),
    );
    const response = await client.responses.create({ model: 'execution', input: 'long' });
    expect(response.status).toBe('incomplete');
    expect(response.incomplete_details).toEqual({ reason: 'max_output_tokens' });
    expect(llm.requests).toHaveLength(1);
    if (runtime === 'node')
      await eventually(async () => {
        const metrics = await (await app.fetch('/metrics')).text();
        return /llm_tokens_total\{provider="openai",model="gpt-4o-mini",type="completion",key="[^"]+"\} \d+/.test(metrics) || undefined;
      }, 3000);
  });

  it('Azure with responses_api: native posts to <endpoint>/openai/v1/responses with the deployment as the model', async () => {
    const response = await client.responses.create({ model: 'azure/chat-deploy', input: 'hi' });
    expect(response.output_text).toBe('Hello! How can I assist you today?');
    const sent = llm.requests.at(-1);
    expect(sent?.path).toBe('/openai/v1/responses');
    expect(sent?.body.model).toBe('chat-deploy');
    expect(sent?.headers['api-key']).toBe('test-azure-key');
  });

  it('a Gemini task is still bridged; built-in tools are refused before any provider is asked', async () => {
    await client.responses.create({ model: 'fast', input: 'hi' });
    expect(llm.requests.at(-1)?.path).toContain('gemini-2.0-flash');
    llm.reset();
    const refused = await client.responses
      .create({ model: 'execution', input: 'search', tools: [{ type: 'web_search' }] })
      .catch((e: unknown) => e as InstanceType<typeof OpenAI.APIError>);
    expect(refused).toBeInstanceOf(OpenAI.BadRequestError);
    expect(String((refused as InstanceType<typeof OpenAI.APIError>).message)).toMatch(/tools\[0\]: tool type "web_search"/);
    expect(llm.requests).toHaveLength(0);
  });
});
