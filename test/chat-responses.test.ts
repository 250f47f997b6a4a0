/**
 * POST /v1/responses, bridged through the chat pipeline, driven by the official openai client on
 * both runtimes, with an OpenAI task (`execution`) and a Gemini task (`fast`) against the loopback fake.
 */
import OpenAI from 'openai';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { completionReply, fakeProviderEnv, fixture, startFakeLLM } from './support/fake-llm.js';
import { eventually, RUNTIMES, type RuntimeHandle, startRuntime } from './support/runtimes.js';

const agentKey = `myca_${'e5'.repeat(16)}`;
const openAIEvents = fixture('openai-chat-stream.jsonl').trim().split('\n');

describe.each(RUNTIMES)('POST /v1/responses through the openai client (%s)', (runtime) => {
  let llm: Awaited<ReturnType<typeof startFakeLLM>>;
  let app: RuntimeHandle;
  let client: OpenAI;

  beforeAll(async () => {
    llm = await startFakeLLM();
    app = await startRuntime(runtime, {
      MYCA_API_KEYS: `planner:agent:${agentKey}`,
      ...fakeProviderEnv(llm.url),
      // The bridge on an OpenAI-wire provider (native pass-through: chat-responses-native.test.ts).
      OPENAI_RESPONSES_API: 'bridge',
      LLM_RETRIES: '0',
      LLM_RATE_LIMIT_RPM: '0',
      LLM_IDLE_TIMEOUT_MS: '20000',
    });
    client = new OpenAI({ apiKey: agentKey, baseURL: `${await app.url()}/v1`, maxRetries: 0 });
  });
  afterEach(() => llm.reset());
  afterAll(async () => {
    await app?.close();
    await llm?.close();
  });

  it('answers a plain request as a completed Response (OpenAI task), instructions as a system message', async () => {
    const response = await client.responses.create({ model: 'execution', instructions: 'Be brief.', input: 'hi', max_output_tokens: 50 });
    expect(response.object).toBe('response');
    expect(response.id).toMatch(/^resp_/);
    expect(response.status).toBe('completed');
    expect(response.output_text).toBe('Hello! How can I assist you today?');
    expect(response.usage).toMatchObject({ input_tokens: 19, output_tokens: 10, total_tokens: 29 });
    const sent = llm.requests.at(-1)?.body;
    expect(sent?.messages).toEqual([
      { role: 'system', content: 'Be brief.' },
      { role: 'user', content: 'hi' },
    ]);
    expect(sent?.max_tokens ?? sent?.max_completion_tokens).toBe(50);
  });

  it('answers a Gemini task, and says incomplete when the answer was cut by the token limit', async () => {
    const response = await client.responses.create({
      model: 'fast',
      input: [{ role: 'user', content: [{ type: 'input_text', text: 'hi' }] }],
    });
    expect(response.status).toBe('completed');
    expect(response.output_text.length).toBeGreaterThan(0);
    expect(llm.requests.at(-1)?.path).toContain('gemini-2.0-flash');

    llm.queue('gpt-4o-mini', {
      status: 200,
      body: {
        ...completionReply('gpt-4o-mini', { content: 'cut' }).body,
        choices: [{ index: 0, message: { role: 'assistant', content: 'cut' }, finish_reason: 'length' }],
      },
    });
    const cut = await client.responses.create({ model: 'execution', input: 'long' });
    expect(cut.status).toBe('incomplete');
    expect(cut.incomplete_details).toEqual({ reason: 'max_output_tokens' });
  });

  it('streams the Responses event sequence, ending in response.completed with usage (OpenAI and Gemini)', async () => {
    for (const model of ['execution', 'fast']) {
      const stream = await client.responses.create({ model, input: 'hi', stream: true });
      const types: string[] = [];
      let text = '';
      let last: OpenAI.Responses.ResponseStreamEvent | undefined;
      for await (const event of stream) {
        types.push(event.type);
        if (event.type === 'response.output_text.delta') text += event.delta;
        last = event;
      }
      expect(types.slice(0, 4)).toEqual([
        'response.created',
        'response.in_progress',
        'response.output_item.added',
        'response.content_part.added',
      ]);
      expect(types.slice(-4)).toEqual([
        'response.output_text.done',
        'response.content_part.done',
        'response.output_item.done',
        'response.completed',
      ]);
      expect(text.length).toBeGreaterThan(0);
      if (last?.type !== 'response.completed') throw new Error(`ended with ${last?.type}`);
      expect(last.response.output_text ?? (last.response.output[0] as { content: Array<{ text: string }> }).content[0]?.text).toBe(text);
      expect(last.response.usage?.total_tokens).toBeGreaterThan(0);
      if (model === 'execution') expect(text).toBe('Hello there');
    }
  });

  it('a stream cut upstream ends in response.failed, never response.completed', async () => {
    llm.queue('gpt-4o-mini', { sse: openAIEvents.slice(0, 2), delayMs: 30, after: 'drop' });
    const stream = await client.responses.create({ model: 'execution', input: 'hi', stream: true });
    const types: string[] = [];
    for await (const event of stream) types.push(event.type);
    expect(types.at(-1)).toBe('response.failed');
    expect(types).not.toContain('response.completed');
  });

  it('a client that goes away mid-stream cuts the upstream (as a chat stream does)', async () => {
    llm.queue('gpt-4o-mini', { sse: openAIEvents.slice(0, 2), delayMs: 30, after: 'hang' });
    const controller = new AbortController();
    const response = await fetch(`${await app.url()}/v1/responses`, {
      method: 'POST',
      headers: { authorization: `Bearer ${agentKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'execution', input: 'hi', stream: true }),
      signal: controller.signal,
    });
    const reader = (response.body as ReadableStream<Uint8Array>).getReader();
    const first = new TextDecoder().decode((await reader.read()).value);
    expect(first).toContain('event: response.created');
    controller.abort();
    await reader.cancel().catch(() => {});
    // Well before the (20 s) idle timeout: the disconnect, not the timer, closed the upstream.
    await eventually(() => llm.requests.at(-1)?.abandoned || undefined, 10_000);
  });

  it('honours x-myca-task like chat does (routes to the Gemini task)', async () => {
    const response = await client.responses.create({ model: 'execution', input: 'hi' }, { headers: { 'x-myca-task': 'fast' } });
    expect(response.status).toBe('completed');
    expect(llm.requests.at(-1)?.path).toContain('gemini-2.0-flash');
  });

  it('round-trips a function tool: function_call out, function_call_output back in', async () => {
    const tools: OpenAI.Responses.Tool[] = [
      {
        type: 'function',
        name: 'get_species',
        description: 'look up a species',
        parameters: { type: 'object', properties: { genus: { type: 'string' } } },
        strict: false,
      },
    ];
    llm.queue(
      'gpt-4o-mini',
      completionReply('gpt-4o-mini', {
        tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'get_species', arguments: '{"genus":"Pleurotus"}' } }],
      }),
    );
    const first = await client.responses.create({ model: 'execution', input: 'which oyster?', tools });
    const call = first.output.find((item) => item.type === 'function_call');
    expect(call).toMatchObject({
      type: 'function_call',
      call_id: 'call_1',
      name: 'get_species',
      arguments: '{"genus":"Pleurotus"}',
      status: 'completed',
    });
    expect(llm.requests.at(-1)?.body.tools).toEqual([
      {
        type: 'function',
        function: {
          name: 'get_species',
          description: 'look up a species',
          parameters: tools[0] && 'parameters' in tools[0] ? tools[0].parameters : undefined,
          strict: false,
        },
      },
    ]);

    const second = await client.responses.create({
      model: 'execution',
      tools,
      input: [
        { role: 'user', content: 'which oyster?' },
        ...first.output,
        { type: 'function_call_output', call_id: 'call_1', output: '{"species":"ostreatus"}' },
      ] as OpenAI.Responses.ResponseInput,
    });
    expect(second.output_text).toBe('Hello! How can I assist you today?');
    expect(llm.requests.at(-1)?.body.messages).toEqual([
      { role: 'user', content: 'which oyster?' },
      {
        role: 'assistant',
        content: null,
        tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'get_species', arguments: '{"genus":"Pleurotus"}' } }],
      },
      { role: 'tool', tool_call_id: 'call_1', content: '{"species":"ostreatus"}' },
    ]);
  });

  it('streams function calls (Gemini task): one function_call item each, arguments deltas, then completed', async () => {
    llm.queue('gemini-2.0-flash', { sse: fixture('gemini-stream-parallel-calls.jsonl').trim().split('\n') });
    const tools: OpenAI.Responses.Tool[] = ['get_species', 'get_weather'].map((name) => ({
      type: 'function',
      name,
      parameters: { type: 'object' },
      strict: false,
    }));
    const stream = await client.responses.create({ model: 'fast', input: 'species and weather?', tools, stream: true });
    const done: Array<{ name: string; arguments: string }> = [];
    let argumentDeltas = 0;
    let last = '';
    for await (const event of stream) {
      last = event.type;
      if (event.type === 'response.function_call_arguments.delta') argumentDeltas++;
      if (event.type === 'response.output_item.done' && event.item.type === 'function_call') done.push(event.item);
    }
    expect(last).toBe('response.completed');
    expect(argumentDeltas).toBeGreaterThanOrEqual(2);
    expect(done.map((call) => [call.name, JSON.parse(call.arguments)])).toEqual([
      ['get_species', { genus: 'Pleurotus' }],
      ['get_weather', { location: { city: 'Portland', country: 'US' }, unit: 'c' }],
    ]);
  });

  it('takes an inline image as large as chat takes (the chat body limit, not HTTP_MAX_BODY_BYTES)', async () => {
    const image = `data:image/png;base64,${'A'.repeat(2 * 1024 * 1024)}`; // 2 MiB: above the 1 MiB default
    const answer = await client.responses.create({
      model: 'execution',
      input: [{ role: 'user', content: [{ type: 'input_image', image_url: image, detail: 'low' }] }],
    });
    expect(answer.status).toBe('completed');
  });

  it('sends input_image as an image_url part and developer messages as system', async () => {
    await client.responses.create({
      model: 'execution',
      input: [
        { role: 'developer', content: 'Name the genus.' },
        {
          role: 'user',
          content: [
            { type: 'input_text', text: 'what is this?' },
            { type: 'input_image', image_url: 'https://example.org/m.png', detail: 'low' },
          ],
        },
      ],
    });
    expect(llm.requests.at(-1)?.body.messages).toEqual([
      { role: 'system', content: 'Name the genus.' },
      {
        role: 'user',
        content: [
          { type: 'text', text: 'what is this?' },
          { type: 'image_url', image_url: { url: 'https://example.org/m.png', detail: 'low' } },
        ],
      },
    ]);
  });

  it('maps text.format json_schema to response_format', async () => {
    const schema = { type: 'object', properties: { genus: { type: 'string' } }, required: ['genus'], additionalProperties: false };
    await client.responses.create({
      model: 'execution',
      input: 'genus?',
      text: { format: { type: 'json_schema', name: 'genus', schema, strict: true } },
    });
    expect(llm.requests.at(-1)?.body.response_format).toEqual({
      type: 'json_schema',
      json_schema: { name: 'genus', schema, strict: true },
    });
  });

  it('refuses previous_response_id, store: true, other tool types and unknown fields with a 400 naming them; nothing reaches the provider', async () => {
    const cases: Array<[Record<string, unknown>, RegExp]> = [
      [{ previous_response_id: 'resp_0123456789abcdef' }, /previous_response_id.*does not keep responses/],
      [{ previous_response_id: 'resp_1;drop' }, /previous_response_id.*resp_/],
      [{ input: [{ type: 'item_reference', id: 'msg_0123456789abcdef' }] }, /input\[0\].*item_reference.*never kept/],
      [{ store: true }, /store.*does not keep responses/],
      [{ tools: [{ type: 'web_search_preview' }] }, /tools\[0\].*web_search_preview.*not supported/],
      [{ frequency_bonus: 1 }, /frequency_bonus/],
    ];
    for (const [extra, message] of cases) {
      const error = await client.responses.create({ model: 'execution', input: 'hi', ...extra } as never).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(OpenAI.BadRequestError);
      expect((error as InstanceType<typeof OpenAI.BadRequestError>).status).toBe(400);
      expect(JSON.stringify((error as { error: unknown }).error) + String((error as Error).message)).toMatch(message);
    }
    expect(llm.requests).toHaveLength(0);
  });
});
