import type OpenAI from 'openai';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type Behaviour, fakeProviderEnv, fixture, readSse, startFakeLLM } from '../../test/support/fake-llm.js';
import { RUNTIMES, type RuntimeHandle, startRuntime } from '../../test/support/runtimes.js';

const agentKey = `myca_${'c3'.repeat(16)}`;
const auth = { authorization: `Bearer ${agentKey}`, 'content-type': 'application/json' };
const hello = [{ role: 'user', content: 'hello' }];

describe.each(RUNTIMES)('chat-route on %s', (runtime) => {
  let llm: Awaited<ReturnType<typeof startFakeLLM>>;
  let app: RuntimeHandle;
  const post = (path: string, body: unknown, headers: Record<string, string> = {}) =>
    app.fetch(path, { method: 'POST', headers: { ...auth, ...headers }, body: JSON.stringify(body) });

  beforeAll(async () => {
    llm = await startFakeLLM();
    app = await startRuntime(runtime, {
      MYCA_API_KEYS: `planner:agent:${agentKey}`,
      ...fakeProviderEnv(llm.url),
      LLM_BACKOFF_MS: '10',
      LLM_BREAKER_FAILURES: '100',
      LLM_FIRST_TOKEN_TIMEOUT_MS: '1500',
      LLM_IDLE_TIMEOUT_MS: '400',
    });
  });
  afterEach(() => llm.reset());
  afterAll(async () => {
    await app?.close();
    await llm?.close();
  });

  it('routes a task alias to its model and answers in OpenAI’s shape', async () => {
    const response = await post('/v1/chat/completions', { model: 'planning', messages: hello });
    expect(response.status).toBe(200);
    const body = (await response.json()) as OpenAI.ChatCompletion;
    expect(body.choices[0]?.message.content).toBe('Hello! How can I assist you today?');
    expect(body.usage?.total_tokens).toBe(29);
    expect(response.headers.get('x-myca-provider')).toBe('openai');
    expect(response.headers.get('x-myca-model')).toBe('gpt-4o');
    expect(response.headers.get('x-myca-attempts')).toBe('1');
    expect(llm.requests[0]).toMatchObject({ path: '/v1/chat/completions', model: 'gpt-4o' });
    // The model's configured defaults fill what the caller left out; the key is the provider's.
    expect(llm.requests[0]?.body).toMatchObject({ temperature: 0.2, max_tokens: 4096 });
    expect(llm.requests[0]?.headers.authorization).toBe('Bearer test-openai-key');
    expect(llm.requests[0]?.headers['x-correlation-id']).toBe(response.headers.get('x-correlation-id'));
  });

  it('answers with the provider’s JSON as it came, and with the trace headers', async () => {
    // Indented, with a float written as 1.0: parsing and serialising again would change both.
    const recorded = JSON.parse(fixture('openai-chat.json')) as Record<string, unknown>;
    const text = JSON.stringify({ ...recorded, model: 'gpt-4o', x_extra: 1 }, null, 2).replace('"x_extra": 1', '"x_extra": 1.0');
    llm.always('gpt-4o', { status: 200, body: text });
    const response = await post('/v1/chat/completions', { model: 'planning', messages: hello }, { 'x-correlation-id': 'c0ffee' });
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('application/json');
    expect(response.headers.get('x-myca-model')).toBe('gpt-4o');
    expect(response.headers.get('x-correlation-id')).toBe('c0ffee');
    expect(response.headers.get('traceparent')).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-0[01]$/);
    const answer = await response.text();
    // Both runtimes speak the wire format and pass the body through as it came.
    expect(answer).toBe(text);
    expect(JSON.parse(answer)).toEqual(JSON.parse(text));
  });

  it('streams the provider’s chunks as they came', async () => {
    // Spaces and a float written as 1.0 survive only if the chunk is not serialised again.
    const events = fixture('openai-chat-stream.jsonl')
      .trim()
      .split('\n')
      .map((line) => JSON.stringify({ ...JSON.parse(line), model: 'gpt-4o', x_extra: 1 }).replace('"x_extra":1', '"x_extra": 1.0'));
    llm.queue('gpt-4o', { sse: [...events, '[DONE]'] });
    const response = await post('/v1/chat/completions', { model: 'planning', messages: hello, stream: true });
    expect(response.status).toBe(200);
    const data = (await response.text())
      .split('\n')
      .filter((line) => line.startsWith('data: '))
      .map((line) => line.slice(6));
    expect(data.at(-1)).toBe('[DONE]');
    expect(data.slice(0, -1)).toEqual(events);
    expect(data.slice(0, -1).map((line) => JSON.parse(line))).toEqual(events.map((line) => JSON.parse(line)));
  });

  it('lets x-myca-task pick the alias, and accepts provider/model', async () => {
    await post('/v1/chat/completions', { model: 'anything', messages: hello }, { 'x-myca-task': 'execution' });
    expect(llm.requests.at(-1)?.model).toBe('gpt-4o-mini');
    await post('/v1/chat/completions', { model: 'openai/gpt-4.1-nano', messages: hello });
    expect(llm.requests.at(-1)?.model).toBe('gpt-4.1-nano');
  });

  it('refuses an unknown model and a bad body with a clear 400, calling nobody', async () => {
    const unknown = await post('/v1/chat/completions', { model: 'no-such-model', messages: hello });
    expect(unknown.status).toBe(400);
    expect(await unknown.json()).toMatchObject({ code: 'BAD_REQUEST', detail: expect.stringContaining('planning') });
    // Errors are stamped after the handler, as every other response.
    expect(unknown.headers.get('x-correlation-id')).toMatch(/^[0-9a-f]{32}$/);
    expect(unknown.headers.get('traceparent')).toContain(unknown.headers.get('x-correlation-id'));
    const bad = await post('/v1/chat/completions', { model: 'planning', messages: [] });
    expect(bad.status).toBe(400);
    expect(llm.requests).toHaveLength(0);
  });

  it('falls back to the next model on a 500, after retrying', async () => {
    const failing: Behaviour = { status: 500, body: JSON.parse(fixture('openai-error-500.json')) };
    llm.always('gpt-4o', failing);
    const response = await post('/v1/chat/completions', { model: 'planning', messages: hello });
    expect(response.status).toBe(200);
    expect(response.headers.get('x-myca-model')).toBe('gpt-4o-mini');
    expect(response.headers.get('x-myca-attempts')).toBe('3');
    expect(llm.requests.map((r) => r.model)).toEqual(['gpt-4o', 'gpt-4o', 'gpt-4o-mini']);
  });

  it('honours Retry-After on a 429 and then succeeds on the same model', async () => {
    llm.queue('gpt-4o', { status: 429, body: JSON.parse(fixture('openai-error-429.json')), headers: { 'retry-after': '0.3' } });
    const started = performance.now();
    const response = await post('/v1/chat/completions', { model: 'planning', messages: hello });
    expect(response.status).toBe(200);
    expect(response.headers.get('x-myca-model')).toBe('gpt-4o');
    expect(performance.now() - started).toBeGreaterThanOrEqual(280);
  });

  it('does not fall back when the provider says the request itself is bad (400)', async () => {
    llm.always('gpt-4o', { status: 400, body: JSON.parse(fixture('openai-error-400.json')) });
    const response = await post('/v1/chat/completions', { model: 'planning', messages: hello });
    expect(response.status).toBe(400);
    const body = (await response.json()) as { detail: string; attempts: unknown[] };
    expect(body.detail).toContain('temperature');
    expect(body.attempts).toHaveLength(1);
    expect(llm.requests).toHaveLength(1);
  });

  it('returns 502 with a summary of every attempt when all fail', async () => {
    llm.always('*', { status: 503, body: { error: { message: 'overloaded' } } });
    const response = await post('/v1/chat/completions', { model: 'planning', messages: hello });
    expect(response.status).toBe(502);
    const body = (await response.json()) as { code: string; attempts: Array<{ label: string; status: number; duration_ms: number }> };
    expect(body.code).toBe('BAD_GATEWAY');
    expect(body.attempts.map((a) => a.label)).toEqual([
      'planning/openai/gpt-4o',
      'planning/openai/gpt-4o',
      'execution/openai/gpt-4o-mini',
      'execution/openai/gpt-4o-mini',
      'fast/gemini/gemini-2.0-flash',
      'fast/gemini/gemini-2.0-flash',
    ]);
    expect(body.attempts.every((a) => a.status === 503 && a.duration_ms >= 0)).toBe(true);
  });

  it('never echoes a key a provider quotes in its error, in the answer or the logs', async () => {
    const canary = ['sk', 'proj', `${'K'.repeat(20)}${Date.now()}`].join('-');
    llm.always('*', { status: 401, body: { error: { message: `Incorrect API key provided: ${canary}`, type: 'invalid_request_error' } } });
    const response = await post('/v1/chat/completions', { model: 'planning', messages: hello });
    expect(response.status).toBe(502);
    const text = await response.text();
    expect(text).toContain('Incorrect API key provided');
    expect(text).not.toContain(canary);
    expect(JSON.stringify(app.logs())).not.toContain(canary);
    const spans = app.spans?.getFinishedSpans() ?? [];
    expect(JSON.stringify(spans.map((span) => [span.status, span.attributes, span.events]))).not.toContain(canary);
  });

  it('streams SSE chunks ending with usage and [DONE]', async () => {
    const response = await post('/v1/chat/completions', { model: 'execution', messages: hello, stream: true });
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toContain('text/event-stream');
    const events = await readSse(response);
    expect(events.at(-1)?.data).toBe('[DONE]');
    const chunks = events.slice(0, -1).map((e) => JSON.parse(e.data) as OpenAI.ChatCompletionChunk);
    expect(chunks.map((c) => c.choices[0]?.delta.content ?? '').join('')).toBe('Hello there');
    expect(chunks.at(-1)?.usage?.total_tokens).toBe(11);
    expect(llm.requests[0]?.body.stream_options).toEqual({ include_usage: true });
  });

  it('reads a provider’s SSE whatever its line endings, comments and multi-line data', async () => {
    const events = fixture('openai-chat-stream.jsonl').trim().split('\n');
    // Event ends as servers write them: LF, CRLF, and the two mixed forms; a comment; one event's JSON over two data lines.
    const ends = ['\n\n', '\r\n\n', '\r\n\r\n', '\n\r\n'];
    const [first, ...rest] = events as [string, ...string[]];
    const split = first.indexOf(',');
    const body = `: keep-alive\n\ndata: ${first.slice(0, split + 1)}\r\ndata: ${first.slice(split + 1)}\r\n\r\n${rest
      .map((event, i) => `data: ${event}${ends[i % ends.length]}`)
      .join('')}data: [DONE]\n\n`;
    llm.queue('gpt-4o-mini', { status: 200, body, headers: { 'content-type': 'text/event-stream' } });
    const response = await post('/v1/chat/completions', { model: 'execution', messages: hello, stream: true });
    expect(response.status).toBe(200);
    const received = await readSse(response);
    expect(received.at(-1)?.data).toBe('[DONE]');
    const chunks = received.slice(0, -1).map((e) => JSON.parse(e.data) as OpenAI.ChatCompletionChunk);
    expect(chunks).toEqual(events.map((event) => JSON.parse(event)));
  });

  it('falls back before the first byte when a stream fails to start', async () => {
    llm.always('gpt-4o', { status: 500 });
    const response = await post('/v1/chat/completions', { model: 'planning', messages: hello, stream: true });
    expect(response.headers.get('x-myca-model')).toBe('gpt-4o-mini');
    expect((await readSse(response)).at(-1)?.data).toBe('[DONE]');
  });

  it('falls back when a stream sends nothing before the first-token timeout', async () => {
    llm.always('gpt-4o', { hang: true });
    const response = await post('/v1/chat/completions', { model: 'planning', messages: hello, stream: true });
    expect(response.status).toBe(200);
    expect(response.headers.get('x-myca-model')).toBe('gpt-4o-mini');
  });

  it('never makes a cut stream look like success: error event, no [DONE], no fallback after the first byte', async () => {
    const first = fixture('openai-chat-stream.jsonl').trim().split('\n').slice(0, 2);
    llm.queue('gpt-4o-mini', { sse: first, delayMs: 50, after: 'drop' });
    const dropped = await readSse(await post('/v1/chat/completions', { model: 'execution', messages: hello, stream: true }));
    expect(dropped.at(-1)?.event).toBe('error');
    expect(JSON.parse(dropped.at(-1)?.data ?? '{}')).toMatchObject({ error: { code: 'stream_interrupted' } });
    expect(dropped.some((e) => e.data === '[DONE]')).toBe(false);

    llm.queue('gpt-4o-mini', { sse: first, delayMs: 50, after: 'hang' });
    const silent = await readSse(await post('/v1/chat/completions', { model: 'execution', messages: hello, stream: true }));
    expect(silent.at(-1)?.event).toBe('error');
    expect(silent.at(-1)?.data).toContain('sent nothing');
    expect(llm.requests.filter((r) => r.model !== 'gpt-4o-mini')).toHaveLength(0);
  });

  it('passes each chunk on as it arrives: none is held back to share a write with later ones', async () => {
    const first = fixture('openai-chat-stream.jsonl').trim().split('\n').slice(0, 2);
    llm.queue('gpt-4o-mini', { sse: first, delayMs: 50, after: 'drop' });
    // Over a real socket: the workerd harness's fetch reads whole bodies.
    const response = await fetch(`${await app.url()}/v1/chat/completions`, {
      method: 'POST',
      headers: auth,
      body: JSON.stringify({ model: 'execution', messages: hello, stream: true }),
    });
    const reader = (response.body as ReadableStream<Uint8Array>).getReader();
    const decoder = new TextDecoder();
    let seen = '';
    while (!seen.includes('"content":"Hello"')) {
      const { value, done } = await reader.read();
      if (done) break;
      seen += decoder.decode(value, { stream: true });
    }
    // The provider drops the connection 50 ms after "Hello": the error event must come in a later write.
    expect(seen).toContain('"content":"Hello"');
    expect(seen).not.toContain('event: error');
    await reader.cancel();
  });

  it('translates to and from Gemini, streaming included, counting usage once', async () => {
    const response = await post('/v1/chat/completions', {
      model: 'fast',
      messages: [
        { role: 'system', content: 'You are a mycologist.' },
        { role: 'user', content: 'What is mycelium?' },
      ],
    });
    const body = (await response.json()) as OpenAI.ChatCompletion;
    expect(body.choices[0]).toMatchObject({
      message: { role: 'assistant', content: 'Mycelium is the vegetative part of a fungus.' },
      finish_reason: 'stop',
    });
    // Thinking tokens count as completion tokens, once; cached ones are detailed, not added.
    expect(body.usage).toMatchObject({
      prompt_tokens: 12,
      completion_tokens: 15,
      total_tokens: 27,
      prompt_tokens_details: { cached_tokens: 4 },
    });
    const sent = llm.requests[0];
    expect(sent?.path).toBe('/v1beta/models/gemini-2.0-flash:generateContent');
    expect(sent?.body).toMatchObject({
      systemInstruction: { parts: [{ text: 'You are a mycologist.' }] },
      contents: [{ role: 'user', parts: [{ text: 'What is mycelium?' }] }],
    });

    const events = await readSse(await post('/v1/chat/completions', { model: 'fast', messages: hello, stream: true }));
    const chunks = events.filter((e) => e.data !== '[DONE]').map((e) => JSON.parse(e.data) as OpenAI.ChatCompletionChunk);
    expect(chunks.map((c) => c.choices[0]?.delta.content ?? '').join('')).toBe('Mycelium grows underground.');
    // Gemini repeats the running usage in every chunk; the total is the last one, not the sum.
    expect(chunks.at(-1)?.usage).toMatchObject({ prompt_tokens: 12, completion_tokens: 7, total_tokens: 19 });
    expect(chunks.filter((c) => c.usage)).toHaveLength(1);
    expect(events.at(-1)?.data).toBe('[DONE]');
  });

  it('translates tools and tool calls with Gemini both ways', async () => {
    const response = await post('/v1/chat/completions', {
      model: 'fast',
      messages: [
        { role: 'user', content: 'Find oyster mushrooms' },
        {
          role: 'assistant',
          content: null,
          tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'get_species', arguments: '{"genus":"Agaricus"}' } }],
        },
        { role: 'tool', tool_call_id: 'call_1', content: '{"count": 3}' },
      ],
      tools: [
        {
          type: 'function',
          function: {
            name: 'get_species',
            description: 'Look up species',
            parameters: { type: 'object', properties: { genus: { type: 'string' } } },
          },
        },
      ],
      tool_choice: 'required',
    });
    const body = (await response.json()) as OpenAI.ChatCompletion;
    expect(body.choices[0]?.finish_reason).toBe('tool_calls');
    const call = body.choices[0]?.message.tool_calls?.[0] as OpenAI.ChatCompletionMessageFunctionToolCall;
    expect(call.function).toEqual({ name: 'get_species', arguments: '{"genus":"Pleurotus"}' });
    expect(call.id).toMatch(/^call_/);
    const sent = llm.requests[0]?.body as Record<string, unknown>;
    expect(sent.tools).toEqual([
      {
        functionDeclarations: [
          {
            name: 'get_species',
            description: 'Look up species',
            parameters: { type: 'object', properties: { genus: { type: 'string' } } },
          },
        ],
      },
    ]);
    expect(sent.toolConfig).toEqual({ functionCallingConfig: { mode: 'ANY' } });
    expect(sent.contents).toEqual([
      { role: 'user', parts: [{ text: 'Find oyster mushrooms' }] },
      { role: 'model', parts: [{ functionCall: { name: 'get_species', args: { genus: 'Agaricus' } } }] },
      { role: 'function', parts: [{ functionResponse: { name: 'get_species', response: { count: 3 } } }] },
    ]);
  });

  it('serves embeddings through the embedding alias', async () => {
    const response = await post('/v1/embeddings', { input: 'spores' });
    expect(response.status).toBe(200);
    const body = (await response.json()) as OpenAI.CreateEmbeddingResponse;
    expect(body.data[0]?.embedding).toHaveLength(3);
    expect(llm.requests[0]).toMatchObject({ path: '/v1/embeddings', model: 'text-embedding-3-small' });
  });

  it('lists aliases with provider and availability', async () => {
    const response = await app.fetch('/v1/models', { headers: auth });
    const body = (await response.json()) as {
      data: Array<{ id: string; myca: { provider: string; available: boolean; reason?: string } }>;
    };
    expect(body.data.map((m) => m.id)).toEqual(['planning', 'execution', 'fast', 'review', 'embedding']);
    expect(body.data.every((m) => m.myca.available)).toBe(true);
  });
});

describe('chat-route with the latency strategy', () => {
  it('records each answered model’s latency in the shared store, and only then', async () => {
    const llm = await startFakeLLM();
    const env = { MYCA_API_KEYS: `planner:agent:${agentKey}`, OPENAI_API_KEY: 'test-openai-key', OPENAI_BASE_URL: `${llm.url}/v1` };
    const latency = await startRuntime('node', { ...env, LLM_ROUTING_STRATEGY: 'latency' });
    const taskType = await startRuntime('node', env);
    const key = 'myca:lat:planning/openai/gpt-4o';
    try {
      for (const app of [latency, taskType]) {
        const response = await app.fetch('/v1/chat/completions', {
          method: 'POST',
          headers: auth,
          body: JSON.stringify({ model: 'planning', messages: hello }),
        });
        expect(response.status).toBe(200);
      }
      // The average is written after the answer, off the request's path.
      await expect.poll(() => latency.services?.kv.get(key)).toMatch(/^\d+\.\d{2}$/);
      expect(await taskType.services?.kv.get(key)).toBeNull();
    } finally {
      await latency.close();
      await taskType.close();
      await llm.close();
    }
  });
});
