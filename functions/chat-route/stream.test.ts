import { afterEach, describe, expect, it, vi } from 'vitest';
import type { HttpClient } from '../../shared/net/http-client.js';
import type { ChatCompletionChunk, ChatRequest } from './contract.js';
import { createOpenAIProvider } from './providers/openai/index.js';
import { wireChunk } from './providers/sse-chunk.js';
import { type OpenedStream, type StreamResult, sseResponse } from './stream.js';

const event = (body: object) => JSON.stringify({ id: 'c', object: 'chat.completion.chunk', created: 1, model: 'm', ...body });
/** A long answer as an OpenAI server writes it: role, `count` content chunks, finish reason, usage. */
function longAnswer(count: number): string[] {
  const events = [event({ choices: [{ index: 0, delta: { role: 'assistant', content: '' }, finish_reason: null }] })];
  for (let i = 0; i < count; i++)
    events.push(event({ choices: [{ index: 0, delta: { content: ` word${i} "usage": {} "error": 1` }, finish_reason: null }] }));
  events.push(event({ choices: [{ index: 0, delta: {}, finish_reason: 'stop' }] }));
  events.push(event({ choices: [], usage: { prompt_tokens: 3, completion_tokens: count, total_tokens: 3 + count } }));
  return events;
}

/** An HttpClient whose every POST answers with these SSE events, one network read each (`spaced`: a millisecond apart). */
const httpOf = (events: string[], spaced = false): HttpClient => ({
  post: async () => ({
    status: 200,
    header: () => undefined,
    text: async () => '',
    chunks: async function* () {
      const encoder = new TextEncoder();
      for (const data of events) {
        if (spaced) await new Promise((resolve) => setTimeout(resolve, 1));
        yield encoder.encode(`data: ${data}\n\n`);
      }
      yield encoder.encode('data: [DONE]\n\n');
    },
  }),
});

async function open(events: string[], spaced = false): Promise<OpenedStream & { aborted: string[] }> {
  const provider = createOpenAIProvider({ name: 'p', type: 'openai', apiKey: 'k', http: httpOf(events, spaced) });
  const request = { model: 'm', messages: [{ role: 'user', content: 'hi' }], stream: true } as ChatRequest;
  const rest = provider.stream(request, { model: 'm', signal: new AbortController().signal })[Symbol.asyncIterator]();
  const first = await rest.next();
  const aborted: string[] = [];
  return { first: first.value as ChatCompletionChunk, rest, abort: (reason) => aborted.push(reason), aborted };
}

function respond(opened: OpenedStream, limits: { idleTimeoutMs?: number; capMs?: number } = {}) {
  let ended: StreamResult | undefined;
  const capMs = limits.capMs ?? 60_000;
  const response = sseResponse({
    opened,
    idleTimeoutMs: limits.idleTimeoutMs ?? 30_000,
    capAt: Date.now() + capMs,
    capMs,
    headers: {},
    onEnd: (result) => {
      ended = result;
    },
  });
  return { response, result: () => ended };
}

const dataOf = (sse: string) =>
  sse
    .split('\n\n')
    .filter((block) => block.startsWith('data: '))
    .map((block) => block.slice(6));

afterEach(() => vi.restoreAllMocks());

describe('a long stream', () => {
  it('passes ordinary chunks through as they came, parsing only those with a finish reason, usage or an error', async () => {
    const events = longAnswer(200);
    const parse = vi.spyOn(JSON, 'parse');
    const opened = await open(events);
    const { response, result } = respond(opened);
    const sse = await response.text();
    const parsed = parse.mock.calls.filter(([text]) => String(text).includes('chat.completion.chunk')).length;
    // The finish-reason chunk and the usage chunk; not the 201 others.
    expect(parsed).toBe(2);
    expect(dataOf(sse)).toEqual([...events, '[DONE]']);
    expect(result()).toMatchObject({ status: 'ok', chunks: 203, usage: { completion_tokens: 200 } });
  });

  it('measures the answer it streamed without parsing: each chunk past the smallest, a little above the text', async () => {
    const events = longAnswer(200);
    const opened = await open(events);
    const { response, result } = respond(opened);
    await response.text();
    // The content as it travels (JSON-escaped), and what each chunk adds around it: `"content":""`,
    // and `null` where the smallest chunk has `"stop"`.
    const content = Array.from({ length: 200 }, (_, i) => JSON.stringify(` word${i} "usage": {} "error": 1`).length - 2);
    const text = content.reduce((sum, chars) => sum + chars, 0);
    const answerChars = result()?.answerChars ?? 0;
    expect(answerChars).toBeGreaterThanOrEqual(text);
    expect(answerChars).toBeLessThan(text + 16 * events.length);
  });

  it('measures an answer that came in a single chunk (a server that streams it whole, without usage) as its text, not as nothing', async () => {
    const whole = 'spore '.repeat(500);
    const opened = await open([event({ choices: [{ index: 0, delta: { role: 'assistant', content: whole }, finish_reason: 'stop' }] })]);
    const { response, result } = respond(opened);
    await response.text();
    expect(result()).toMatchObject({ status: 'ok', chunks: 1 });
    expect(result()?.usage).toBeUndefined();
    expect(result()?.answerChars).toBeGreaterThanOrEqual(whole.length);
  });

  it('measures an answer cut after a few chunks of about one size (as Gemini streams) as its text, not as their differences', async () => {
    const piece = (i: number) => `${'spore '.repeat(100)}${i}`;
    const events = [0, 1, 2].map((i) => event({ choices: [{ index: 0, delta: { content: piece(i) }, finish_reason: null }] }));
    const opened = await open(events);
    const { response, result } = respond(opened);
    await response.text();
    // The provider's stream ends before a finish reason: a cut answer, counted at the estimate.
    expect(result()).toMatchObject({ status: 'network', chunks: 3 });
    expect(result()?.usage).toBeUndefined();
    expect(result()?.answerChars).toBeGreaterThanOrEqual(3 * piece(0).length);
  });

  it('measures an Azure OpenAI answer near its text, though each content chunk carries its content filter results', async () => {
    const safe = { filtered: false, severity: 'safe' };
    const filters = { hate: safe, self_harm: safe, sexual: safe, violence: safe };
    const azure = (choice: Record<string, unknown>) =>
      event({
        choices: [{ content_filter_results: {}, finish_reason: null, index: 0, logprobs: null, ...choice }],
        system_fingerprint: 'fp_1',
      });
    const events = [
      JSON.stringify({
        choices: [],
        created: 0,
        id: '',
        model: '',
        object: '',
        prompt_filter_results: [{ prompt_index: 0, content_filter_results: filters }],
      }),
      azure({ delta: { role: 'assistant', content: '' } }),
      ...Array.from({ length: 100 }, (_, i) => azure({ content_filter_results: filters, delta: { content: ` word${i}` } })),
    ];
    const text = Array.from({ length: 100 }, (_, i) => ` word${i}`.length).reduce((sum, chars) => sum + chars, 0);
    const opened = await open(events);
    const { response, result } = respond(opened);
    await response.text();
    // Cut before its finish reason and usage: counted at the estimate.
    expect(result()?.usage).toBeUndefined();
    expect(result()?.answerChars).toBeGreaterThanOrEqual(text);
    expect(result()?.answerChars).toBeLessThan(text + 16 * events.length);
  });

  it('arms one timer a stream for the idle timeout and the cap, not one a chunk', async () => {
    const opened = await open(longAnswer(200), true);
    const timers = vi.spyOn(globalThis, 'setTimeout');
    const { response, result } = respond(opened);
    await response.text();
    expect(result()).toMatchObject({ status: 'ok', chunks: 203 });
    // (The fake provider's own 1 ms timers left out.)
    expect(timers.mock.calls.filter(([, ms]) => Number(ms) > 1).length).toBeLessThanOrEqual(2);
  });

  it('is cut with an error event when the provider goes silent after some chunks, the idle time counted from the last one', async () => {
    const events = longAnswer(3).slice(0, 3);
    let sent = 0;
    const opened: OpenedStream & { aborted: string[] } = {
      first: JSON.parse(events[0] as string),
      rest: {
        next: () =>
          ++sent < events.length
            ? new Promise((resolve) => setTimeout(() => resolve({ done: false, value: JSON.parse(events[sent] as string) }), 40))
            : new Promise(() => {}),
      },
      abort: (reason) => opened.aborted.push(reason),
      aborted: [],
    };
    const { response, result } = respond(opened, { idleTimeoutMs: 60 });
    const sse = await response.text();
    expect(dataOf(sse)).toHaveLength(3);
    expect(sse).toMatch(/event: error\ndata: .*sent nothing for 60 ms \(idle timeout/);
    expect(sse).not.toContain('[DONE]');
    expect(opened.aborted).toEqual(['idle timeout']);
    expect(result()).toMatchObject({ status: 'timeout', chunks: 3 });
  });
});

describe('wireChunk', () => {
  it('reads an unparsed chunk when asked, and serialises it as it came', () => {
    const text = event({ choices: [{ index: 0, delta: { content: 'hi' }, finish_reason: null }] });
    const { chunk, finished } = wireChunk('p', text);
    expect(finished).toBe(false);
    expect(chunk.usage).toBeUndefined();
    expect(chunk.choices[0]?.delta.content).toBe('hi');
    expect(JSON.stringify(chunk)).toBe(text);
  });

  it('throws on an error in the body and on a chunk that is not one JSON object', () => {
    expect(() => wireChunk('p', '{"error": {"message": "overloaded", "code": 529}}')).toThrow(/overloaded/);
    expect(() => wireChunk('p', '{"id": "c", "choices": [{"delta": {"content": "cut')).toThrow(/invalid JSON/);
  });

  it('sees a finish reason and usage whatever the spacing', () => {
    expect(wireChunk('p', '{"choices": [{"index": 0, "delta": {}, "finish_reason": "length"}]}').finished).toBe(true);
    const { chunk } = wireChunk('p', '{"choices": [], "usage": {"prompt_tokens": 1, "completion_tokens": 2, "total_tokens": 3}}');
    expect(chunk.usage?.total_tokens).toBe(3);
  });
});

describe('a client that leaves a whole answer', () => {
  /** A stream whose usage chunk comes only when `release` is called (or never). */
  function afterFinish() {
    let release: () => void = () => {};
    const usageMayCome = new Promise<void>((resolve) => (release = resolve));
    const chunks = longAnswer(3);
    const [first, ...rest] = chunks.map((text) => wireChunk('p', text).chunk);
    const usage = rest.pop() as ChatCompletionChunk;
    const aborted: string[] = [];
    const iterator = (async function* () {
      yield* rest;
      await usageMayCome;
      yield usage;
    })();
    const opened: OpenedStream = { first: first as ChatCompletionChunk, rest: iterator, abort: (reason) => aborted.push(reason) };
    return { opened, release, aborted };
  }
  const leaveAtFinish = async (response: Response) => {
    const reader = (response.body as ReadableStream<Uint8Array>).getReader();
    const decoder = new TextDecoder();
    let text = '';
    while (!text.includes('"finish_reason":"stop"')) text += decoder.decode((await reader.read()).value, { stream: true });
    await reader.cancel();
  };

  it('is counted at the usage the provider sends after it, read on unseen', async () => {
    const { opened, release, aborted } = afterFinish();
    let ended: StreamResult | undefined;
    const response = sseResponse({
      opened,
      idleTimeoutMs: 30_000,
      capAt: Date.now() + 60_000,
      capMs: 60_000,
      headers: {},
      onEnd: (r) => (ended = r),
    });
    await leaveAtFinish(response);
    expect(ended).toBeUndefined();
    release();
    await vi.waitFor(() => expect(ended).toBeDefined());
    expect(ended).toMatchObject({ status: 'client_closed', usage: { completion_tokens: 3 } });
    expect(aborted).toEqual([]);
  });

  it('is cut after drainMs when the usage does not come, and counted without it', async () => {
    const { opened, aborted } = afterFinish();
    let ended: StreamResult | undefined;
    const response = sseResponse({
      opened,
      idleTimeoutMs: 30_000,
      capAt: Date.now() + 60_000,
      capMs: 60_000,
      headers: {},
      drainMs: 50,
      onEnd: (r) => (ended = r),
    });
    await leaveAtFinish(response);
    await vi.waitFor(() => expect(ended).toBeDefined());
    expect(ended?.usage).toBeUndefined();
    expect(ended).toMatchObject({ status: 'client_closed' });
    expect(aborted).toEqual(['client disconnected']);
  });
});
