/**
 * An Anthropic task (`review`, Claude through the Messages API) driven by the official openai client
 * on both runtimes: the checks OpenAI and Gemini tasks pass (answers, streams, tools both ways, usage,
 * errors, Retry-After, fallback), checked on the wire Anthropic receives, against the loopback fake
 * replaying Anthropic's recorded wire format.
 */
import OpenAI from 'openai';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { anthropicEvents, fakeProviderEnv, fixture, startFakeLLM } from './support/fake-llm.js';
import { RUNTIMES, type RuntimeHandle, startRuntime } from './support/runtimes.js';

const agentKey = `myca_${'a7'.repeat(16)}`;
const CLAUDE = 'claude-sonnet-4-5';
const species = {
  type: 'function' as const,
  function: {
    name: 'get_species',
    description: 'Look up species',
    parameters: { type: 'object', properties: { genus: { type: 'string' } } },
  },
};
const recorded = (name: string) => JSON.parse(fixture(`anthropic/${name}`)) as Record<string, unknown>;

describe.each(RUNTIMES)('an Anthropic task through the openai client (%s)', (runtime) => {
  let llm: Awaited<ReturnType<typeof startFakeLLM>>;
  let app: RuntimeHandle;
  let client: OpenAI;
  const sent = () => llm.requests.find((r) => r.path === '/v1/messages');

  beforeAll(async () => {
    llm = await startFakeLLM();
    app = await startRuntime(runtime, {
      MYCA_API_KEYS: `planner:agent:${agentKey}`,
      ...fakeProviderEnv(llm.url),
      LLM_RETRIES: '1',
      LLM_BACKOFF_MS: '10',
      LLM_BREAKER_FAILURES: '1000',
      LLM_RATE_LIMIT_RPM: '0',
    });
    client = new OpenAI({ apiKey: agentKey, baseURL: `${await app.url()}/v1`, maxRetries: 0 });
  });
  afterEach(() => llm.reset());
  afterAll(async () => {
    await app?.close();
    await llm?.close();
  });

  it('answers in OpenAI’s shape, counting cached prompt tokens, with the system prompt and max_tokens Anthropic needs', async () => {
    const { data, response } = await client.chat.completions
      .create({
        model: 'review',
        messages: [
          { role: 'system', content: 'You are a mycologist.' },
          { role: 'user', content: 'What is mycelium?' },
        ],
      })
      .withResponse();
    expect(data.choices[0]?.message).toMatchObject({ role: 'assistant', content: 'Mycelium is the vegetative part of a fungus.' });
    expect(data.choices[0]?.finish_reason).toBe('stop');
    expect(data.usage).toMatchObject({
      prompt_tokens: 29,
      completion_tokens: 12,
      total_tokens: 41,
      prompt_tokens_details: { cached_tokens: 8 },
    });
    expect(response.headers.get('x-myca-provider')).toBe('anthropic');
    expect(response.headers.get('x-myca-model')).toBe(CLAUDE);
    const call = sent();
    expect(call?.headers['x-api-key']).toBe('test-anthropic-key');
    expect(call?.headers['anthropic-version']).toBe('2023-06-01');
    expect(call?.headers.authorization).toBeUndefined();
    expect(call?.body).toEqual({
      model: CLAUDE,
      max_tokens: 4096,
      system: 'You are a mycologist.',
      messages: [{ role: 'user', content: [{ type: 'text', text: 'What is mycelium?' }] }],
    });
    if (app.spans) {
      // The attempt's span names the system as OpenTelemetry's GenAI conventions do (Node keeps spans in memory).
      await app.flush();
      const span = app.spans.getFinishedSpans().find((s) => s.name === `chat ${CLAUDE}`);
      expect(span?.attributes).toMatchObject({
        'gen_ai.system': 'anthropic',
        'gen_ai.usage.input_tokens': 29,
        'gen_ai.usage.output_tokens': 12,
      });
    }
  });

  it('streams through the SDK: text deltas, one finish reason, usage last, then [DONE]', async () => {
    const stream = await client.chat.completions.create({
      model: 'review',
      messages: [{ role: 'user', content: 'hi' }],
      stream: true,
      stream_options: { include_usage: true },
    });
    const chunks: OpenAI.ChatCompletionChunk[] = [];
    for await (const chunk of stream) chunks.push(chunk);
    expect(chunks.map((c) => c.choices[0]?.delta.content ?? '').join('')).toBe('Mycelium grows underground.');
    expect(chunks.map((c) => c.choices[0]?.finish_reason).filter(Boolean)).toEqual(['stop']);
    expect(chunks.at(-1)?.usage).toEqual({ prompt_tokens: 12, completion_tokens: 7, total_tokens: 19 });
    expect(sent()?.body.stream).toBe(true);
  });

  it('translates tools, tool_choice, tool calls and tool results both ways', async () => {
    const completion = await client.chat.completions.create({
      model: 'review',
      messages: [
        { role: 'user', content: 'Find oyster mushrooms' },
        {
          role: 'assistant',
          content: null,
          tool_calls: [{ id: 'toolu_prev', type: 'function', function: { name: 'get_species', arguments: '{"genus":"Agaricus"}' } }],
        },
        { role: 'tool', tool_call_id: 'toolu_prev', content: '{"count": 3}' },
      ],
      tools: [species],
      tool_choice: 'required',
      parallel_tool_calls: false,
    });
    expect(completion.choices[0]?.finish_reason).toBe('tool_calls');
    expect(completion.choices[0]?.message.tool_calls).toEqual([
      { id: 'toolu_01A09q90qw90lq917835lq9', type: 'function', function: { name: 'get_species', arguments: '{"genus":"Pleurotus"}' } },
    ]);
    const body = sent()?.body;
    expect(body?.tools).toEqual([
      { name: 'get_species', description: 'Look up species', input_schema: { type: 'object', properties: { genus: { type: 'string' } } } },
    ]);
    expect(body?.tool_choice).toEqual({ type: 'any', disable_parallel_tool_use: true });
    expect(body?.messages).toEqual([
      { role: 'user', content: [{ type: 'text', text: 'Find oyster mushrooms' }] },
      { role: 'assistant', content: [{ type: 'tool_use', id: 'toolu_prev', name: 'get_species', input: { genus: 'Agaricus' } }] },
      { role: 'user', content: [{ type: 'tool_result', tool_use_id: 'toolu_prev', content: '{"count": 3}' }] },
    ]);
  });

  it('streams parallel tool calls (input_json_delta) that the SDK assembles into two calls', async () => {
    const stream = client.chat.completions.stream({ model: 'review', messages: [{ role: 'user', content: 'hi' }], tools: [species] });
    const final = await stream.finalChatCompletion();
    const calls = (final.choices[0]?.message.tool_calls ?? []) as OpenAI.ChatCompletionMessageFunctionToolCall[];
    expect(calls.map((c) => [c.id, c.function.name, JSON.parse(c.function.arguments)])).toEqual([
      ['toolu_01T1x1fJ34qAmk2tNTrN7Up6', 'get_species', { genus: 'Pleurotus' }],
      ['toolu_01VQXZWbNuaF2Ydr9KLm6Wts', 'get_weather', { location: { city: 'Portland' }, unit: 'c' }],
    ]);
    expect(final.choices[0]?.message.content).toBe('Let me check both.');
    expect(final.choices[0]?.finish_reason).toBe('tool_calls');
  });

  it('sends images as base64 and url sources', async () => {
    const png = 'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==';
    await client.chat.completions.create({
      model: 'review',
      messages: [
        {
          role: 'user',
          content: [
            { type: 'text', text: 'Which species?' },
            { type: 'image_url', image_url: { url: `data:image/png;base64,${png}` } },
            { type: 'image_url', image_url: { url: 'https://example.org/oyster.jpg' } },
          ],
        },
      ],
    });
    expect((sent()?.body.messages as Array<{ content: unknown[] }> | undefined)?.[0]?.content).toEqual([
      { type: 'text', text: 'Which species?' },
      { type: 'image', source: { type: 'base64', media_type: 'image/png', data: png } },
      { type: 'image', source: { type: 'url', url: 'https://example.org/oyster.jpg' } },
    ]);
  });

  it('answers response_format json_schema through a forced tool (streaming: stream.test.ts)', async () => {
    const schema = { type: 'object', properties: { genus: { type: 'string' } }, required: ['genus'] };
    const answer = {
      ...recorded('message-tool-use.json'),
      content: [{ type: 'tool_use', id: 'toolu_j', name: 'species', input: { genus: 'Pleurotus' } }],
    };
    llm.queue(CLAUDE, { status: 200, body: answer });
    const completion = await client.chat.completions.create({
      model: 'review',
      messages: [{ role: 'user', content: 'Name a genus' }],
      response_format: { type: 'json_schema', json_schema: { name: 'species', schema, strict: true } },
    });
    expect(JSON.parse(completion.choices[0]?.message.content ?? '')).toEqual({ genus: 'Pleurotus' });
    expect(completion.choices[0]?.finish_reason).toBe('stop');
    expect(sent()?.body.tool_choice).toEqual({ type: 'tool', name: 'species' });
    expect(sent()?.body.tools).toEqual([{ name: 'species', description: 'Answer with JSON matching this schema.', input_schema: schema }]);
  });

  it('honours Retry-After on a rate_limit_error 429, then answers from the same model', async () => {
    llm.queue(CLAUDE, { status: 429, body: recorded('error-429-rate-limit.json'), headers: { 'retry-after': '0.3' } });
    const started = performance.now();
    const { response } = await client.chat.completions
      .create({ model: 'review', messages: [{ role: 'user', content: 'hi' }] })
      .withResponse();
    expect(response.headers.get('x-myca-model')).toBe(CLAUDE);
    expect(response.headers.get('x-myca-attempts')).toBe('2');
    expect(performance.now() - started).toBeGreaterThanOrEqual(280);
  });

  it('retries an overloaded_error 529, then falls back to the next model of the chain', async () => {
    llm.always(CLAUDE, { status: 529, body: recorded('error-529-overloaded.json') });
    const { response } = await client.chat.completions
      .create({ model: 'review', messages: [{ role: 'user', content: 'hi' }] })
      .withResponse();
    expect(response.headers.get('x-myca-model')).toBe('gpt-4o');
    expect(llm.requests.map((r) => r.model)).toEqual([CLAUDE, CLAUDE, 'gpt-4o']);
  });

  it('stops on invalid_request_error (400) with Anthropic’s reason, trying nothing else', async () => {
    llm.always(CLAUDE, { status: 400, body: recorded('error-400-invalid-request.json') });
    const error = await client.chat.completions.create({ model: 'review', messages: [{ role: 'user', content: 'hi' }] }).catch((e) => e);
    expect(error).toBeInstanceOf(OpenAI.BadRequestError);
    expect(String((error as InstanceType<typeof OpenAI.BadRequestError>).message)).toContain('invalid_request_error');
    expect(llm.requests.map((r) => r.model)).toEqual([CLAUDE]);
  });

  it('falls back before the first byte when an error event opens the stream; a cut one ends with an error event', async () => {
    llm.queue(
      CLAUDE,
      { sse: [JSON.stringify(recorded('error-529-overloaded.json'))] },
      { sse: [JSON.stringify(recorded('error-529-overloaded.json'))] },
    );
    const { response } = await client.chat.completions
      .create({ model: 'review', messages: [{ role: 'user', content: 'hi' }], stream: true })
      .withResponse();
    expect(response.headers.get('x-myca-model')).toBe('gpt-4o');

    llm.reset();
    llm.queue(CLAUDE, { sse: anthropicEvents('stream-error-overloaded.sse') });
    const stream = await client.chat.completions.create({ model: 'review', messages: [{ role: 'user', content: 'hi' }], stream: true });
    const read = async () => {
      for await (const _chunk of stream) {
        // consume
      }
    };
    await expect(read()).rejects.toThrow(/overloaded_error/);
  });

  it('refuses embeddings and parameters Anthropic lacks with a 400 naming them, calling nobody', async () => {
    // A configured Claude is a chat model (refused by the plan); any other name reaches the adapter.
    const embeddings = await client.embeddings.create({ model: 'anthropic/voyage-3', input: 'spores' }).catch((e) => e);
    expect(embeddings).toBeInstanceOf(OpenAI.BadRequestError);
    expect(String(embeddings.message)).toMatch(/no embeddings API/);
    const logprobs = await client.chat.completions
      .create({ model: 'review', messages: [{ role: 'user', content: 'hi' }], logprobs: true })
      .catch((e) => e);
    expect(logprobs).toBeInstanceOf(OpenAI.BadRequestError);
    expect(String(logprobs.message)).toContain('logprobs');
    expect(llm.requests).toHaveLength(0);
  });

  it('answers /v1/responses (bridged to chat): text with usage, and streamed function calls', async () => {
    const answer = await client.responses.create({ model: 'review', instructions: 'Be brief.', input: 'What is mycelium?' });
    expect(answer.status).toBe('completed');
    expect(answer.output_text).toBe('Mycelium is the vegetative part of a fungus.');
    expect(answer.usage).toMatchObject({ input_tokens: 29, output_tokens: 12, total_tokens: 41 });
    expect(sent()?.body.system).toBe('Be brief.');

    llm.reset();
    const tools: OpenAI.Responses.Tool[] = ['get_species', 'get_weather'].map((name) => ({
      type: 'function',
      name,
      parameters: { type: 'object' },
      strict: false,
    }));
    const stream = await client.responses.create({ model: 'review', input: 'species and weather?', tools, stream: true });
    const done: Array<{ name: string; call_id: string; arguments: string }> = [];
    let last = '';
    for await (const event of stream) {
      last = event.type;
      if (event.type === 'response.output_item.done' && event.item.type === 'function_call') done.push(event.item);
    }
    expect(last).toBe('response.completed');
    expect(done.map((call) => [call.call_id, call.name, JSON.parse(call.arguments)])).toEqual([
      ['toolu_01T1x1fJ34qAmk2tNTrN7Up6', 'get_species', { genus: 'Pleurotus' }],
      ['toolu_01VQXZWbNuaF2Ydr9KLm6Wts', 'get_weather', { location: { city: 'Portland' }, unit: 'c' }],
    ]);
  });

  it('accepts anthropic/<model> with the default max_tokens, and refuses a name Anthropic cannot have', async () => {
    await client.chat.completions.create({ model: 'anthropic/claude-3-5-haiku-latest', messages: [{ role: 'user', content: 'hi' }] });
    expect(sent()?.body).toMatchObject({ model: 'claude-3-5-haiku-latest', max_tokens: 4096 });
    const bad = await client.chat.completions
      .create({ model: 'anthropic/claude?x=1', messages: [{ role: 'user', content: 'hi' }] })
      .catch((e) => e);
    expect(bad).toBeInstanceOf(OpenAI.BadRequestError);
  });
});
