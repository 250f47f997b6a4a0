import { afterEach, describe, expect, it, vi } from 'vitest';
import type { ChatCompletionChunk, ResponsesRequest } from './contract.js';
import { wireChunk } from './providers/sse-chunk.js';
import { NativeEventChunk, ProviderError } from './providers/types.js';
import { responsesFramer, responsesStream } from './responses-stream.js';
import { type OpenedStream, type StreamResult, sseResponse } from './stream.js';

const request = { model: 'execution', input: 'hi', stream: true } as ResponsesRequest;
const meta = { id: 'resp_test', previousResponseId: null, store: true };
const chunkText = (body: object) => JSON.stringify({ id: 'c', object: 'chat.completion.chunk', created: 1, model: 'm', ...body });

/** A chat answer as the OpenAI adapter yields it: text, a tool call in two pieces, the finish reason, the usage. */
const chatAnswer = () =>
  [
    chunkText({ choices: [{ index: 0, delta: { role: 'assistant', content: '' }, finish_reason: null }] }),
    chunkText({ choices: [{ index: 0, delta: { content: 'Hello "there"' }, finish_reason: null }] }),
    chunkText({ choices: [{ index: 0, delta: { content: ' \u00e9t\u00e9 🍄' }, finish_reason: null }] }),
    chunkText({
      choices: [{ index: 0, delta: { tool_calls: [{ index: 0, id: 'call_1', function: { name: 'f', arguments: '{"a"' } }] } }],
    }),
    chunkText({ choices: [{ index: 0, delta: { tool_calls: [{ index: 0, function: { arguments: ':1}' } }] } }] }),
    chunkText({ choices: [{ index: 0, delta: {}, finish_reason: 'tool_calls' }] }),
    chunkText({ choices: [], usage: { prompt_tokens: 3, completion_tokens: 7, total_tokens: 10 } }),
  ].map((text) => wireChunk('p', text).chunk);

/** A native answer: the provider's own events (numbered its way), as the native adapter yields them. */
function nativeAnswer(): ChatCompletionChunk[] {
  const shell = (status: string, output: unknown[]) => ({ id: 'resp_up', object: 'response', status, model: 'gpt-up', output });
  const at = { item_id: 'msg_up', output_index: 0, content_index: 0 };
  const item = { id: 'msg_up', type: 'message', status: 'completed', role: 'assistant', content: [{ type: 'output_text', text: 'ab' }] };
  const events: Array<Record<string, unknown>> = [
    { type: 'response.created', response: shell('in_progress', []) },
    { type: 'response.in_progress', response: shell('in_progress', []) },
    { type: 'response.output_item.added', output_index: 0, item: { ...item, status: 'in_progress', content: [] } },
    { type: 'response.output_text.delta', ...at, delta: 'a' },
    { type: 'response.output_text.delta', ...at, delta: 'b "sequence_number":5' },
    { type: 'response.output_item.done', output_index: 0, item },
    { type: 'response.completed', response: { ...shell('completed', [item]), usage: { input_tokens: 2, output_tokens: 2 } } },
  ];
  return events.map(({ type, ...rest }, index) => {
    // The second delta has its number last, after a delta that quotes one.
    const text = JSON.stringify(
      index === 4 ? { type, ...rest, sequence_number: 40 + index } : { type, sequence_number: 40 + index, ...rest },
    );
    const usage = type === 'response.completed' ? { prompt_tokens: 2, completion_tokens: 2, total_tokens: 4 } : undefined;
    return new NativeEventChunk(text, usage, typeof rest.delta === 'string' ? rest.delta.length : 0) as unknown as ChatCompletionChunk;
  });
}

/** The provider's stream: these chunks, then its end or `failure`. */
function opened(chunks: ChatCompletionChunk[], failure?: Error): OpenedStream & { aborted: string[] } {
  let index = 1;
  const aborted: string[] = [];
  return {
    first: chunks[0] as ChatCompletionChunk,
    rest: {
      next: async () => {
        if (index < chunks.length) return { done: false, value: chunks[index++] as ChatCompletionChunk };
        if (failure) throw failure;
        return { done: true, value: undefined };
      },
    },
    abort: (reason) => aborted.push(reason),
    aborted,
  };
}

function respond(stream: OpenedStream, framer?: ReturnType<typeof responsesFramer>) {
  const ended: StreamResult[] = [];
  const response = sseResponse({
    opened: stream,
    idleTimeoutMs: 30_000,
    capAt: Date.now() + 60_000,
    capMs: 60_000,
    headers: {},
    onEnd: (result) => ended.push(structuredClone(result)),
    ...(framer ? { framer } : {}),
  });
  return { response, ended };
}

/** The Responses stream both ways, ids made the same: written from the chunks, and read again from the chat SSE's bytes. */
async function bothWays(chunks: () => ChatCompletionChunk[], failure?: () => Error, save = async () => true) {
  let uuid = 0;
  const uuids = vi.spyOn(crypto, 'randomUUID');
  uuids.mockImplementation(
    () => `00000000-0000-4000-8000-${String(++uuid).padStart(12, '0')}` as `${string}-${string}-${string}-${string}-${string}`,
  );
  const direct = opened(chunks(), failure?.());
  const framer = responsesFramer(request, meta, save);
  const written = respond(direct, framer);
  const writtenText = await written.response.text();
  uuid = 0;
  const bytes = opened(chunks(), failure?.());
  const chat = respond(bytes);
  const readAgain = await new Response(responsesStream(request, chat.response.body as ReadableStream<Uint8Array>, meta, save)).text();
  const sameSecond = (sse: string) => sse.replaceAll(/"created_at":\d+/g, '"created_at":0');
  return {
    written: sameSecond(writtenText),
    readAgain: sameSecond(readAgain),
    framer,
    results: [written.ended, chat.ended],
    aborted: [direct.aborted, bytes.aborted],
  };
}

/** Reads until nothing more comes for a while: the text so far, and the read still waiting (or the end). */
async function readUntilQuiet(reader: ReadableStreamDefaultReader<Uint8Array>) {
  const decoder = new TextDecoder();
  let text = '';
  for (;;) {
    const read = reader.read();
    const next = await Promise.race([read, new Promise<'quiet'>((resolve) => setTimeout(() => resolve('quiet'), 30))]);
    if (next === 'quiet') return { text, read };
    if (next.done) return { text, read };
    text += decoder.decode(next.value, { stream: true });
  }
}

const types = (sse: string) => [...sse.matchAll(/^event: (.+)$/gm)].map((match) => match[1]);

afterEach(() => vi.restoreAllMocks());

describe('the Responses events written in the pipeline’s pass', () => {
  it('are the bytes the chat stream read again gave: a bridged answer with text and a tool call', async () => {
    const { written, readAgain, framer, results } = await bothWays(chatAnswer);
    expect(framer.used).toBe(true);
    expect(written).toBe(readAgain);
    expect(types(written)).toEqual([
      'response.created',
      'response.in_progress',
      'response.output_item.added',
      'response.content_part.added',
      'response.output_text.delta',
      'response.output_text.delta',
      'response.output_text.done',
      'response.content_part.done',
      'response.output_item.done',
      'response.output_item.added',
      'response.function_call_arguments.delta',
      'response.function_call_arguments.delta',
      'response.function_call_arguments.done',
      'response.output_item.done',
      'response.completed',
    ]);
    expect(written).toContain('"text":"Hello \\"there\\" été 🍄"');
    expect(written).toMatch(/"status":"completed".*"store":true.*"usage":\{"input_tokens":3/);
    // Counted once each way, alike.
    expect(results[0]).toHaveLength(1);
    expect(results[0]).toEqual(results[1]);
    expect(results[0]?.[0]).toMatchObject({ status: 'ok', chunks: 7, usage: { total_tokens: 10 } });
  });

  it('are the bytes the chat stream read again gave: native events renumbered under the gateway’s id', async () => {
    const { written, readAgain, results } = await bothWays(nativeAnswer);
    expect(written).toBe(readAgain);
    const numbers = [...written.matchAll(/^data: .*?"sequence_number":(\d+)/gm)].map((match) => Number(match[1]));
    expect(numbers).toEqual([0, 1, 2, 3, 4, 5, 6]);
    // A number inside a string is the provider's text, left as it was.
    expect(written).toContain('"delta":"b \\"sequence_number\\":5","sequence_number":4}');
    expect(written).toContain('"id":"resp_test"');
    expect(written).not.toContain('resp_up');
    expect(types(written).at(-1)).toBe('response.completed');
    expect(results[0]).toEqual(results[1]);
    expect(results[0]?.[0]).toMatchObject({ status: 'ok', chunks: 7, answerChars: 22, usage: { total_tokens: 4 } });
  });

  it('end a stream the provider broke off in response.failed, never completed, and nothing is kept', async () => {
    const save = vi.fn(async () => true);
    const { written, readAgain, results } = await bothWays(
      () => chatAnswer().slice(0, 3),
      () => new ProviderError('p', 'connection reset', 502),
      save,
    );
    expect(written).toBe(readAgain);
    expect(types(written).at(-1)).toBe('response.failed');
    expect(written).not.toContain('response.completed');
    expect(written).toMatch(
      /"status":"failed","error":\{"code":"stream_interrupted","message":"the provider's stream broke off: connection reset"\}.*"store":false/,
    );
    expect(save).not.toHaveBeenCalled();
    expect(results[0]).toEqual(results[1]);
    expect(results[0]?.[0]).toMatchObject({ status: 502, error: "the provider's stream broke off: connection reset" });
  });

  it('end at a chunk that is not JSON: response.failed, the upstream cut, counted as the provider’s failure (502)', async () => {
    const chunks = () => {
      const all = chatAnswer();
      // Braces around invalid JSON: the adapter passes it on unparsed, as it came.
      all.splice(2, 0, wireChunk('p', '{"choices": [oops]}').chunk);
      return all;
    };
    const { written, readAgain, results, aborted } = await bothWays(chunks);
    expect(written).toBe(readAgain);
    expect(types(written).at(-1)).toBe('response.failed');
    expect(written).toContain('not valid JSON');
    expect(written).not.toContain('response.completed');
    // Written in the pipeline's pass, the provider's broken chunk is its failure; read again from chat
    // bytes (a cache's path) it can only cancel its source: cut at once, or, when that source had
    // already read the finish reason, read on for its usage (stream.ts DRAIN_MS) — which of the two
    // depends on how far it had read. The framer stops at that chunk.
    expect(aborted[0]).toEqual(['unreadable chunk']);
    expect([[], ['client disconnected']]).toContainEqual(aborted[1]);
    expect(results.map((ended) => ended.map(({ status, error }) => ({ status, error })))).toEqual([
      [{ status: 502, error: 'the provider sent a chunk that is not valid JSON' }],
      [{ status: 'client_closed', error: 'client disconnected' }],
    ]);
    expect(results[0]?.[0]?.chunks).toBe(3);
  });

  it('hold the final event until the response is kept, the stream already counted as whole', async () => {
    let keep: (kept: boolean) => void = () => {};
    const saving = new Promise<boolean>((resolve) => (keep = resolve));
    const framer = responsesFramer(request, meta, () => saving);
    const { response, ended } = respond(opened(chatAnswer()), framer);
    const reader = (response.body as ReadableStream<Uint8Array>).getReader();
    const decoder = new TextDecoder();
    let { text, read } = await readUntilQuiet(reader);
    expect(types(text)).toContain('response.function_call_arguments.delta');
    expect(text).not.toContain('response.completed');
    expect(ended).toEqual([expect.objectContaining({ status: 'ok', usage: expect.objectContaining({ total_tokens: 10 }) })]);
    keep(true);
    for (let next = await read; !next.done; next = await reader.read()) text += decoder.decode(next.value, { stream: true });
    expect(types(text).slice(-3)).toEqual(['response.function_call_arguments.done', 'response.output_item.done', 'response.completed']);
    expect(text).toMatch(/event: response\.completed\ndata: .*"store":true/);
    expect(ended).toHaveLength(1);
  });

  it('a client that leaves while the response is being kept changes nothing in how the stream was counted', async () => {
    let keep: (kept: boolean) => void = () => {};
    const saving = new Promise<boolean>((resolve) => (keep = resolve));
    const stream = opened(chatAnswer());
    const { response, ended } = respond(
      stream,
      responsesFramer(request, meta, () => saving),
    );
    const reader = (response.body as ReadableStream<Uint8Array>).getReader();
    const { text } = await readUntilQuiet(reader);
    expect(text).not.toContain('response.completed');
    await reader.cancel('gone');
    keep(true);
    await new Promise((resolve) => setTimeout(resolve, 10));
    expect(ended).toEqual([expect.objectContaining({ status: 'ok' })]);
    expect(stream.aborted).toEqual([]);
  });

  it('a client that leaves mid-stream cuts the upstream and is counted once as client_closed', async () => {
    const stream: OpenedStream & { aborted: string[] } = {
      ...opened(chatAnswer().slice(0, 2)),
      rest: { next: () => new Promise(() => {}) },
    };
    const { response, ended } = respond(stream, responsesFramer(request, meta));
    const reader = (response.body as ReadableStream<Uint8Array>).getReader();
    const first = new TextDecoder().decode((await reader.read()).value);
    expect(types(first)).toContain('response.created');
    await reader.cancel('gone');
    expect(stream.aborted).toEqual(['client disconnected']);
    expect(ended).toEqual([expect.objectContaining({ status: 'client_closed', error: 'client disconnected' })]);
  });
});
