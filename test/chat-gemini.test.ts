/**
 * Every OpenAI parameter sent to a Gemini model is translated or refused, never dropped: checked on
 * the wire the Gemini API receives, on both runtimes, with schemas as agent frameworks send them.
 */
import type OpenAI from 'openai';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { fakeProviderEnv, fixture, readSse, startFakeLLM } from './support/fake-llm.js';
import { RUNTIMES, type RuntimeHandle, startRuntime } from './support/runtimes.js';

const agentKey = `myca_${'c3'.repeat(16)}`;
const auth = { authorization: `Bearer ${agentKey}`, 'content-type': 'application/json' };
const hello = [{ role: 'user', content: 'Find oyster mushrooms and the weather' }];
const vercelTool = JSON.parse(fixture('tool-schema-vercel-ai-sdk.json')) as { function: { parameters: Record<string, unknown> } };
const langchainTool = JSON.parse(fixture('tool-schema-langchain.json')) as { function: { parameters: Record<string, unknown> } };

describe.each(RUNTIMES)('Gemini translation on %s', (runtime) => {
  let llm: Awaited<ReturnType<typeof startFakeLLM>>;
  let app: RuntimeHandle;
  const post = (path: string, body: unknown) => app.fetch(path, { method: 'POST', headers: auth, body: JSON.stringify(body) });
  const sent = () => llm.requests.find((r) => r.path.startsWith('/v1beta/'))?.body as Record<string, unknown>;

  beforeAll(async () => {
    llm = await startFakeLLM();
    app = await startRuntime(runtime, {
      MYCA_API_KEYS: `planner:agent:${agentKey}`,
      ...fakeProviderEnv(llm.url),
      LLM_RATE_LIMIT_RPM: '0',
      LLM_RETRIES: '0',
    });
  });
  afterEach(() => llm.reset());
  afterAll(async () => {
    await app?.close();
    await llm?.close();
  });

  it('sends json_schema as responseSchema (+ responseMimeType), seed and penalties', async () => {
    const response = await post('/v1/chat/completions', {
      model: 'fast',
      messages: hello,
      seed: 42,
      presence_penalty: 0.5,
      frequency_penalty: 0.25,
      response_format: {
        type: 'json_schema',
        json_schema: {
          name: 'answer',
          strict: true,
          schema: { $schema: 'http://json-schema.org/draft-07/schema#', ...vercelTool.function.parameters },
        },
      },
    });
    expect(response.status).toBe(200);
    const config = sent().generationConfig as Record<string, unknown>;
    expect(config).toMatchObject({ responseMimeType: 'application/json', seed: 42, presencePenalty: 0.5, frequencyPenalty: 0.25 });
    expect(config.responseSchema).toMatchObject({ type: 'object', required: ['genus', 'limit', 'habitat', 'edible', 'tags'] });
    expect(JSON.stringify(config.responseSchema)).not.toMatch(/\$schema|additionalProperties|uniqueItems|exclusiveMaximum/);
  });

  it('reduces tool schemas from the Vercel AI SDK and LangChain to what Gemini accepts', async () => {
    const response = await post('/v1/chat/completions', { model: 'fast', messages: hello, tools: [vercelTool, langchainTool] });
    expect(response.status).toBe(200);
    type Declaration = { parameters: Record<string, unknown> };
    const tools = sent().tools as Array<{ functionDeclarations: Declaration[] }>;
    const [vercel, langchain] = tools[0]?.functionDeclarations ?? [];
    if (!vercel || !langchain) throw new Error('two function declarations expected');
    expect(JSON.stringify([vercel, langchain])).not.toMatch(/\$schema|\$defs|\$ref|additionalProperties|uniqueItems/);
    expect(vercel.parameters.properties).toMatchObject({
      edible: { type: 'boolean', nullable: true },
      limit: { type: 'integer', minimum: 1, maximum: 50 },
      tags: { type: 'array', items: { type: 'string' } },
    });
    // The $ref is inlined; pydantic's optional (anyOf with null) is a nullable enum.
    expect(langchain.parameters.properties).toEqual({
      location: {
        type: 'object',
        title: 'Location',
        required: ['city'],
        properties: {
          city: { type: 'string', title: 'City', description: 'City name' },
          country: { type: 'string', title: 'Country', default: 'US' },
        },
      },
      unit: { type: 'string', enum: ['c', 'f'], nullable: true, default: null, title: 'Unit' },
    });
  });

  it('refuses a recursive $ref with a 400 naming the parameter', async () => {
    const tree = {
      type: 'function',
      function: {
        name: 'walk',
        parameters: { $defs: { Node: { type: 'object', properties: { child: { $ref: '#/$defs/Node' } } } }, $ref: '#/$defs/Node' },
      },
    };
    const response = await post('/v1/chat/completions', { model: 'fast', messages: hello, tools: [tree] });
    expect(response.status).toBe(400);
    expect(((await response.json()) as { detail: string }).detail).toContain('tools[0].function.parameters');
    expect(llm.requests).toHaveLength(0);
  });

  it('streams parallel tool calls with distinct indexes and finishes with tool_calls after a separate STOP chunk', async () => {
    llm.queue('gemini-2.0-flash', { sse: fixture('gemini-stream-parallel-calls.jsonl').trim().split('\n') });
    const events = await readSse(
      await post('/v1/chat/completions', { model: 'fast', messages: hello, tools: [vercelTool, langchainTool], stream: true }),
    );
    expect(events.at(-1)?.data).toBe('[DONE]');
    const chunks = events.slice(0, -1).map((e) => JSON.parse(e.data) as OpenAI.ChatCompletionChunk);
    const calls = chunks.flatMap((c) => c.choices[0]?.delta.tool_calls ?? []);
    expect(calls.map((call) => [call.index, call.function?.name])).toEqual([
      [0, 'get_species'],
      [1, 'get_weather'],
    ]);
    expect(new Set(calls.map((call) => call.id)).size).toBe(2);
    expect(chunks.map((c) => c.choices[0]?.finish_reason).filter(Boolean)).toEqual(['tool_calls']);
  });

  it('answers embeddings in base64 when asked (the OpenAI SDK’s default), decodable as float32', async () => {
    const response = await post('/v1/embeddings', {
      model: 'gemini/text-embedding-004',
      input: ['spores', 'hyphae'],
      encoding_format: 'base64',
    });
    expect(response.status).toBe(200);
    expect(llm.requests[0]?.path).toBe('/v1beta/models/text-embedding-004:batchEmbedContents');
    // The embeddings call carries the request's correlation headers, as every other provider call does.
    expect(llm.requests[0]?.headers['x-correlation-id']).toBe(response.headers.get('x-correlation-id'));
    expect(llm.requests[0]?.headers.traceparent).toContain(response.headers.get('x-correlation-id'));
    const body = (await response.json()) as { data: Array<{ embedding: string }> };
    const recorded = (JSON.parse(fixture('gemini-embeddings.json')) as { embeddings: Array<{ values: number[] }> }).embeddings;
    const decoded = body.data.map((item) =>
      Array.from(new Float32Array(Uint8Array.from(atob(item.embedding), (c) => c.charCodeAt(0)).buffer)),
    );
    expect(decoded).toEqual(recorded.map((e) => Array.from(new Float32Array(e.values))));
  });

  it('refuses logprobs for a Gemini model with a 400 naming the parameter and the model, and never falls back to Gemini with it', async () => {
    const refused = await post('/v1/chat/completions', { model: 'fast', messages: hello, logprobs: true });
    expect(refused.status).toBe(400);
    const detail = ((await refused.json()) as { detail: string }).detail;
    expect(detail).toContain('logprobs');
    expect(detail).toContain('gemini-2.0-flash');
    expect(llm.requests).toHaveLength(0);

    llm.always('gpt-4o', { status: 503 });
    llm.always('gpt-4o-mini', { status: 503 });
    const response = await post('/v1/chat/completions', { model: 'planning', messages: hello, logprobs: true });
    expect(response.status).toBe(502);
    expect(llm.requests.some((r) => r.path.startsWith('/v1beta/'))).toBe(false);
  });
});
