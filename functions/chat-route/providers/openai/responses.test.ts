/**
 * The native Responses adapter (responses.ts) and its SSE reader (wire.ts) against a
 * hostile upstream, without a runtime.
 */
import { describe, expect, it } from 'vitest';
import type { HttpResponse } from '../../../../shared/net/http-client.js';
import { ProviderError } from '../types.js';
import { nativeResponses } from './responses.js';
import { sseData } from './wire.js';

const encoder = new TextEncoder();
const body = (pieces: () => AsyncIterable<string>): HttpResponse => ({
  status: 200,
  header: () => undefined,
  text: async () => {
    let all = '';
    for await (const piece of pieces()) all += piece;
    return all;
  },
  async *chunks() {
    for await (const piece of pieces()) yield encoder.encode(piece);
  },
});
const call = { model: 'gpt-4o-mini', signal: new AbortController().signal, headers: {} };
const opening = JSON.stringify({
  type: 'response.in_progress',
  response: { id: 'resp_x', object: 'response', status: 'in_progress', instructions: 'i'.repeat(4096) },
});

describe('native Responses adapter against a hostile upstream', () => {
  it('endless opening events (response.in_progress) are not held without bound before the first output', async () => {
    let sent = 0;
    const post = async () =>
      body(async function* () {
        // 20 000 opening events of ~4 KiB (80 MiB) and never any output: held in memory without a cap before the fix.
        for (; sent < 20_000; sent++) yield `event: response.in_progress\ndata: ${opening}\n\n`;
      });
    const stream = nativeResponses('openai', post).stream({ input: [], store: false }, call);
    const error = await (async () => {
      for await (const _ of stream) return undefined;
      return undefined;
    })().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ProviderError);
    // Refused early, not after reading all of it.
    expect(sent).toBeLessThan(20_000);
  });

  it('one SSE event without an end is refused at a size cap (not buffered and rescanned without bound)', async () => {
    const mb = 'A'.repeat(1024 * 1024);
    let sent = 0;
    const response = body(async function* () {
      yield 'data: {"type":"response.output_text.delta","delta":"';
      for (; sent < 96; sent++) yield mb;
    });
    const started = Date.now();
    const error = await (async () => {
      for await (const _ of sseData('openai', response, { text: '' })) return undefined;
      return undefined;
    })().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ProviderError);
    expect(String(error)).toMatch(/size cap/);
    expect(sent).toBeLessThan(96);
    // Linear in what was read (it took over 6 s when each read searched the whole event again).
    expect(Date.now() - started).toBeLessThan(3000);
  }, 60_000);

  it('a response.completed that arrives while output is held, and a second terminal, end the stream once', async () => {
    const done = JSON.stringify({
      type: 'response.completed',
      response: { id: 'resp_x', object: 'response', status: 'completed', usage: { input_tokens: 1, output_tokens: 2 } },
    });
    const post = async () =>
      body(async function* () {
        yield `data: ${opening}\n\ndata: ${done}\n\ndata: ${done}\n\ndata: garbage\n\n`;
      });
    const chunks = [];
    for await (const chunk of nativeResponses('openai', post).stream({ input: [], store: false }, call)) chunks.push(chunk);
    expect(chunks).toHaveLength(2);
    expect(chunks[1]?.usage?.total_tokens).toBe(3);
  });
});
