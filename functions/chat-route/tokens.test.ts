import { describe, expect, it } from 'vitest';
import type { ChatRequest } from './contract.js';
import { estimateInputTokens, estimatePromptTokens, streamedUsage } from './tokens.js';

const ask = (content: ChatRequest['messages'][number]['content']): ChatRequest => ({
  model: 'fast',
  messages: [{ role: 'user', content }],
});

describe('token estimates (one for the plan and the key gate)', () => {
  it('a prompt: ⌈chars/3⌉ plus 4 a message plus 3', () => {
    expect(estimatePromptTokens(ask('x'.repeat(3000)))).toBe(1000 + 4 + 3);
  });

  it('counts text parts, tool calls and tools; an image’s data counts nothing', () => {
    const image = { type: 'image_url', image_url: { url: `data:image/png;base64,${'A'.repeat(300_000)}` } };
    expect(estimatePromptTokens(ask([{ type: 'text', text: 'x'.repeat(30) }, image]))).toBe(10 + 4 + 3);
    const withCall: ChatRequest = {
      model: 'fast',
      messages: [
        { role: 'assistant', content: null, tool_calls: [{ id: 'c1', type: 'function', function: { name: 'abc', arguments: '{"q":1}' } }] },
      ],
    };
    expect(estimatePromptTokens(withCall)).toBe(Math.ceil(10 / 3) + 4 + 3);
  });

  it('an embeddings input: text at 3 characters a token (at least 1), token arrays exactly', () => {
    expect(estimateInputTokens('spores')).toBe(2);
    expect(estimateInputTokens(['spores', '', 'x'.repeat(30)])).toBe(2 + 1 + 10);
    expect(estimateInputTokens([1, 2, 3, 4, 5])).toBe(5);
    expect(
      estimateInputTokens([
        [1, 2, 3],
        [4, 5, 6, 7, 8],
      ]),
    ).toBe(8);
  });

  it('a stream without the provider’s usage: the prompt estimate and ⌈streamed characters / 3⌉, at most the answer budget', () => {
    expect(streamedUsage(ask('x'.repeat(30)), 100, 500)).toEqual({ prompt_tokens: 17, completion_tokens: 34, total_tokens: 51 });
    expect(streamedUsage(ask('x'.repeat(30)), 100, 20)).toMatchObject({ completion_tokens: 20, total_tokens: 37 });
    // No budget known (no max_tokens anywhere): not capped.
    expect(streamedUsage(ask('x'.repeat(30)), 3000, 0)).toMatchObject({ completion_tokens: 1000 });
  });

  it('a stream of n answers without the provider’s usage: the cap is the budget of all n, not of one', () => {
    // n: 4 and max_tokens 100 let the provider stream four answers of up to 100 tokens each: 1200
    // streamed characters are 400 tokens, all within what the request allowed.
    const request: ChatRequest = { ...ask('x'.repeat(30)), n: 4, max_tokens: 100 };
    expect(streamedUsage(request, 1200, 100)).toMatchObject({ completion_tokens: 400 });
  });
});
