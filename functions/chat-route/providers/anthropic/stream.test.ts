import { describe, expect, it } from 'vitest';
import { anthropicEvents, fixture } from '../../../../test/support/fake-llm.js';
import type { ChatCompletionChunk } from '../../contract.js';
import { SseFrames } from '../sse-frames.js';
import { ProviderError } from '../types.js';
import { AnthropicStreamTranslator } from './stream.js';

const encoder = new TextEncoder();
const event = (data: object) => `event: ${(data as { type: string }).type}\ndata: ${JSON.stringify(data)}\n\n`;

/** A long answer as Anthropic streams it: text in `count` deltas, then a tool call in pieces. */
function longStream(count: number): { sse: string; text: string; args: string } {
  const parts: string[] = [];
  let text = '';
  parts.push(
    event({
      type: 'message_start',
      message: {
        id: 'msg_long',
        type: 'message',
        role: 'assistant',
        model: 'claude-sonnet-4-5-20250929',
        content: [],
        stop_reason: null,
        stop_sequence: null,
        usage: { input_tokens: 900, cache_creation_input_tokens: 100, cache_read_input_tokens: 2000, output_tokens: 1 },
      },
    }),
    event({ type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } }),
  );
  for (let i = 0; i < count; i++) {
    // Multi-byte characters too: a split may fall inside one.
    const piece = i % 7 === 0 ? ` spore ${i} 🍄 é` : ` hypha ${i}`;
    text += piece;
    parts.push(event({ type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: piece } }));
    if (i % 50 === 0) parts.push(event({ type: 'ping' }));
  }
  parts.push(event({ type: 'content_block_stop', index: 0 }));
  parts.push(event({ type: 'content_block_start', index: 1, content_block: { type: 'tool_use', id: 'toolu_1', name: 'log', input: {} } }));
  const args = JSON.stringify({ entries: Array.from({ length: 40 }, (_, i) => ({ n: i, note: `line ${i} "quoted"` })) });
  for (let at = 0; at < args.length; at += 17)
    parts.push(
      event({ type: 'content_block_delta', index: 1, delta: { type: 'input_json_delta', partial_json: args.slice(at, at + 17) } }),
    );
  parts.push(event({ type: 'content_block_stop', index: 1 }));
  parts.push(
    event({
      type: 'message_delta',
      delta: { stop_reason: 'tool_use', stop_sequence: null },
      usage: { input_tokens: 900, cache_creation_input_tokens: 100, cache_read_input_tokens: 2000, output_tokens: 1234 },
    }),
  );
  parts.push(event({ type: 'message_stop' }));
  return { sse: parts.join(''), text, args };
}

/** Feeds `bytes` in pieces of the given sizes (cycled) and translates every event. */
function translate(bytes: Uint8Array, sizes: number[], jsonTool?: string): ChatCompletionChunk[] {
  const frames = new SseFrames();
  const translator = new AnthropicStreamTranslator('anthropic', 'claude-sonnet-4-5', 1_764_000_000, jsonTool);
  const out: ChatCompletionChunk[] = [];
  let at = 0;
  for (let i = 0; at < bytes.length; i++) {
    const size = sizes[i % sizes.length] as number;
    for (const data of frames.push(bytes.subarray(at, at + size))) out.push(...translator.push(data));
    at += size;
  }
  expect(translator.finished).toBe(true);
  expect(frames.rest()).toBe('');
  return out;
}

const textOf = (chunks: ChatCompletionChunk[]) => chunks.map((c) => c.choices[0]?.delta.content ?? '').join('');

describe('Anthropic stream translation', () => {
  const { sse, text, args } = longStream(600);
  const bytes = encoder.encode(sse);

  it.each([
    ['one read', [bytes.length]],
    ['single bytes', [1]],
    ['ragged reads that split lines, characters and the blank line', [3, 1, 64, 2, 129, 7, 5]],
    ['network-sized reads', [1460, 4096]],
  ])('turns hundreds of events into the same OpenAI chunks however the bytes are split (%s)', (_name, sizes) => {
    const chunks = translate(bytes, sizes);
    expect(chunks[0]?.choices[0]?.delta).toEqual({ role: 'assistant', content: '' });
    expect(chunks[0]).toMatchObject({ id: 'msg_long', object: 'chat.completion.chunk', model: 'claude-sonnet-4-5-20250929' });
    expect(textOf(chunks)).toBe(text);
    const calls = chunks.flatMap((c) => c.choices[0]?.delta.tool_calls ?? []);
    expect(calls[0]).toEqual({ index: 0, id: 'toolu_1', type: 'function', function: { name: 'log', arguments: '' } });
    expect(calls.every((call) => call.index === 0)).toBe(true);
    expect(JSON.parse(calls.map((call) => call.function?.arguments ?? '').join(''))).toEqual(JSON.parse(args));
    expect(chunks.map((c) => c.choices[0]?.finish_reason).filter(Boolean)).toEqual(['tool_calls']);
    // Usage comes once, last, with no choices; cache reads and writes are prompt tokens.
    expect(chunks.filter((c) => c.usage)).toHaveLength(1);
    expect(chunks.at(-1)).toMatchObject({
      choices: [],
      usage: { prompt_tokens: 3000, completion_tokens: 1234, total_tokens: 4234, prompt_tokens_details: { cached_tokens: 2000 } },
    });
    // One chunk per text delta, one per argument piece, plus role, tool start, finish and usage.
    expect(chunks).toHaveLength(1 + 600 + 1 + Math.ceil(args.length / 17) + 2);
  });

  it('reads CRLF line endings, comments and multi-line data', () => {
    const crlf = fixture('anthropic/stream-text.sse').replace(/\n/g, '\r\n').replace('event: ping', ': keep-alive\r\nevent: ping');
    const chunks = translate(encoder.encode(crlf), [5, 11]);
    expect(textOf(chunks)).toBe('Mycelium grows underground.');
    expect(chunks.at(-1)?.usage).toEqual({ prompt_tokens: 12, completion_tokens: 7, total_tokens: 19 });
  });

  it('gives parallel tool calls distinct indexes, ids and their own arguments', () => {
    const chunks = translate(encoder.encode(fixture('anthropic/stream-tool-use.sse')), [13]);
    const calls = chunks.flatMap((c) => c.choices[0]?.delta.tool_calls ?? []);
    const byIndex = new Map<number, string>();
    for (const call of calls) byIndex.set(call.index, (byIndex.get(call.index) ?? '') + (call.function?.arguments ?? ''));
    expect(calls.filter((call) => call.id).map((call) => [call.index, call.id, call.function?.name])).toEqual([
      [0, 'toolu_01T1x1fJ34qAmk2tNTrN7Up6', 'get_species'],
      [1, 'toolu_01VQXZWbNuaF2Ydr9KLm6Wts', 'get_weather'],
    ]);
    expect(JSON.parse(byIndex.get(0) ?? '')).toEqual({ genus: 'Pleurotus' });
    expect(JSON.parse(byIndex.get(1) ?? '')).toEqual({ location: { city: 'Portland' }, unit: 'c' });
    expect(textOf(chunks)).toBe('Let me check both.');
  });

  it('streams a forced JSON tool’s input as the content (response_format), finishing with stop', () => {
    const sse = [
      event({ type: 'message_start', message: { id: 'msg_j', model: 'claude-sonnet-4-5', usage: { input_tokens: 5, output_tokens: 1 } } }),
      event({ type: 'content_block_start', index: 0, content_block: { type: 'tool_use', id: 'toolu_j', name: 'answer', input: {} } }),
      event({ type: 'content_block_delta', index: 0, delta: { type: 'input_json_delta', partial_json: '{"genus": ' } }),
      event({ type: 'content_block_delta', index: 0, delta: { type: 'input_json_delta', partial_json: '"Pleurotus"}' } }),
      event({ type: 'message_delta', delta: { stop_reason: 'tool_use' }, usage: { output_tokens: 9 } }),
      event({ type: 'message_stop' }),
    ].join('');
    const chunks = translate(encoder.encode(sse), [9], 'answer');
    expect(JSON.parse(textOf(chunks))).toEqual({ genus: 'Pleurotus' });
    expect(chunks.some((c) => c.choices[0]?.delta.tool_calls)).toBe(false);
    expect(chunks.map((c) => c.choices[0]?.finish_reason).filter(Boolean)).toEqual(['stop']);
  });

  it('throws the error event as a ProviderError that retries (overloaded) after the chunks before it', () => {
    const frames = new SseFrames();
    const translator = new AnthropicStreamTranslator('anthropic', 'claude-sonnet-4-5', 0, undefined);
    const datas = frames.push(encoder.encode(fixture('anthropic/stream-error-overloaded.sse')));
    const chunks: ChatCompletionChunk[] = [];
    let failure: unknown;
    try {
      for (const data of datas) chunks.push(...translator.push(data));
    } catch (error) {
      failure = error;
    }
    expect(textOf(chunks)).toBe('Mycelium');
    expect(failure).toBeInstanceOf(ProviderError);
    expect(failure).toMatchObject({ status: 529, action: 'retry', message: expect.stringContaining('overloaded_error') });
    expect(translator.finished).toBe(false);
  });

  it('refuses data that is not an Anthropic event, and invalid JSON, as retryable 502s', () => {
    const translator = new AnthropicStreamTranslator('anthropic', 'm', 0, undefined);
    expect(() => translator.push('{"choices": [ not json')).toThrow(expect.objectContaining({ status: 502, action: 'retry' }));
    expect(() => translator.push('{"id": "chatcmpl-1", "choices": []}')).toThrow(/not an Anthropic stream event/);
    expect(() => translator.push('{"error": {"message": "upstream gone", "code": 503}}')).toThrow(expect.objectContaining({ status: 503 }));
  });

  it('skips ping, thinking and unknown events without making chunks', () => {
    const translator = new AnthropicStreamTranslator('anthropic', 'm', 0, undefined);
    expect(translator.push('{"type": "ping"}')).toEqual([]);
    expect(translator.push('{"type":"content_block_start","index":0,"content_block":{"type":"thinking","thinking":""}}')).toEqual([]);
    expect(translator.push('{"type":"content_block_delta","index":0,"delta":{"type":"thinking_delta","thinking":"hmm"}}')).toEqual([]);
    expect(translator.push('{"type":"content_block_delta","index":0,"delta":{"type":"signature_delta","signature":"EqQB"}}')).toEqual([]);
    expect(translator.push('{"type":"something_new","x":1}')).toEqual([]);
  });
});

describe('anthropicEvents (the fake’s reading of a fixture)', () => {
  it('finds every event of the recorded text stream', () => {
    expect(anthropicEvents('stream-text.sse').map((data) => (JSON.parse(data) as { type: string }).type)).toEqual([
      'message_start',
      'content_block_start',
      'ping',
      'content_block_delta',
      'content_block_delta',
      'content_block_stop',
      'message_delta',
      'message_stop',
    ]);
  });
});
