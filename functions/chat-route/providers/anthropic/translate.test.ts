import { describe, expect, it } from 'vitest';
import { fixture } from '../../../../test/support/fake-llm.js';
import type { ChatRequest } from '../../contract.js';
import { ProviderError } from '../types.js';
import { AnthropicRefusal, DEFAULT_MAX_TOKENS, toAnthropic } from './request.js';
import { anthropicError, fromAnthropic } from './response.js';

const request = (fields: Partial<ChatRequest> & Record<string, unknown>): ChatRequest =>
  ({ model: 'x', messages: [{ role: 'user', content: 'hi' }], ...fields }) as ChatRequest;
const png = 'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==';

describe('OpenAI request → Anthropic Messages API', () => {
  it('moves system and developer messages to `system`, merges turns, maps images and tool history', () => {
    const { body } = toAnthropic(
      request({
        messages: [
          { role: 'system', content: 'You are a mycologist.' },
          { role: 'developer', content: [{ type: 'text', text: 'Answer briefly.' }] },
          {
            role: 'user',
            content: [
              { type: 'text', text: 'What are these?' },
              { type: 'image_url', image_url: { url: `data:image/png;base64,${png}` } },
              { type: 'image_url', image_url: { url: 'https://example.org/oyster.jpg' } },
            ],
          },
          {
            role: 'assistant',
            content: 'Let me look.',
            tool_calls: [
              { id: 'toolu_a', type: 'function', function: { name: 'get_species', arguments: '{"genus":"Pleurotus"}' } },
              { id: 'toolu_b', type: 'function', function: { name: 'get_weather', arguments: 'not json' } },
            ],
          },
          { role: 'tool', tool_call_id: 'toolu_a', content: '{"count": 3}' },
          { role: 'tool', tool_call_id: 'toolu_b', content: [{ type: 'text', text: 'rainy' }] },
          { role: 'user', content: 'Thanks' },
        ],
        temperature: 0.3,
        top_p: 0.9,
        stop: 'END',
        user: 'agent-7',
      }),
      'claude-sonnet-4-5',
    );
    expect(body).toEqual({
      model: 'claude-sonnet-4-5',
      max_tokens: DEFAULT_MAX_TOKENS,
      system: 'You are a mycologist.\n\nAnswer briefly.',
      temperature: 0.3,
      top_p: 0.9,
      stop_sequences: ['END'],
      metadata: { user_id: 'agent-7' },
      messages: [
        {
          role: 'user',
          content: [
            { type: 'text', text: 'What are these?' },
            { type: 'image', source: { type: 'base64', media_type: 'image/png', data: png } },
            { type: 'image', source: { type: 'url', url: 'https://example.org/oyster.jpg' } },
          ],
        },
        {
          role: 'assistant',
          content: [
            { type: 'text', text: 'Let me look.' },
            { type: 'tool_use', id: 'toolu_a', name: 'get_species', input: { genus: 'Pleurotus' } },
            { type: 'tool_use', id: 'toolu_b', name: 'get_weather', input: { raw: 'not json' } },
          ],
        },
        {
          // The tool results and the next user turn are one user message, results first.
          role: 'user',
          content: [
            { type: 'tool_result', tool_use_id: 'toolu_a', content: '{"count": 3}' },
            { type: 'tool_result', tool_use_id: 'toolu_b', content: [{ type: 'text', text: 'rainy' }] },
            { type: 'text', text: 'Thanks' },
          ],
        },
      ],
    });
  });

  it('maps tools and every tool_choice, and parallel_tool_calls: false', () => {
    const tools = [
      {
        type: 'function' as const,
        function: { name: 'get_species', description: 'Look up', parameters: { properties: { genus: { type: 'string' } } } },
      },
    ];
    const cases: Array<[ChatRequest['tool_choice'] | undefined, boolean | undefined, unknown]> = [
      ['auto', undefined, { type: 'auto' }],
      ['required', undefined, { type: 'any' }],
      ['none', undefined, { type: 'none' }],
      [{ type: 'function', function: { name: 'get_species' } }, undefined, { type: 'tool', name: 'get_species' }],
      [undefined, false, { type: 'auto', disable_parallel_tool_use: true }],
      ['required', false, { type: 'any', disable_parallel_tool_use: true }],
      [undefined, undefined, undefined],
    ];
    for (const [choice, parallel, expected] of cases) {
      const { body } = toAnthropic(request({ tools, tool_choice: choice, parallel_tool_calls: parallel }), 'm');
      expect(body.tools).toEqual([
        { name: 'get_species', description: 'Look up', input_schema: { type: 'object', properties: { genus: { type: 'string' } } } },
      ]);
      expect(body.tool_choice).toEqual(expected);
    }
  });

  it('keeps cache_control breakpoints of text parts, sending system as blocks when one has one', () => {
    const cached = { type: 'ephemeral' };
    const { body } = toAnthropic(
      request({
        messages: [
          { role: 'system', content: [{ type: 'text', text: 'A long field guide…', cache_control: cached }] },
          { role: 'system', content: 'Be brief.' },
          { role: 'user', content: [{ type: 'text', text: 'Which genus?', cache_control: cached }] },
        ],
      }),
      'm',
    );
    expect(body.system).toEqual([
      { type: 'text', text: 'A long field guide…', cache_control: cached },
      { type: 'text', text: 'Be brief.' },
    ]);
    expect(body.messages[0]?.content).toEqual([{ type: 'text', text: 'Which genus?', cache_control: cached }]);
  });

  it('takes max_completion_tokens, then max_tokens, then the documented default', () => {
    expect(toAnthropic(request({ max_completion_tokens: 300, max_tokens: 200 }), 'm').body.max_tokens).toBe(300);
    expect(toAnthropic(request({ max_tokens: 200 }), 'm').body.max_tokens).toBe(200);
    expect(toAnthropic(request({}), 'm').body.max_tokens).toBe(4096);
  });

  it('emulates json_schema and json_object with one forced tool', () => {
    const schema = { type: 'object', properties: { genus: { type: 'string' } }, required: ['genus'] };
    const json = toAnthropic(
      request({ response_format: { type: 'json_schema', json_schema: { name: 'species', schema, strict: true } } }),
      'm',
    );
    expect(json.jsonTool).toBe('species');
    expect(json.body.tools).toEqual([{ name: 'species', description: 'Answer with JSON matching this schema.', input_schema: schema }]);
    expect(json.body.tool_choice).toEqual({ type: 'tool', name: 'species' });
    const object = toAnthropic(request({ response_format: { type: 'json_object' } }), 'm');
    expect(object.body.tool_choice).toEqual({ type: 'tool', name: 'json_object' });
    expect(toAnthropic(request({ response_format: { type: 'text' } }), 'm').body.tools).toBeUndefined();
  });

  it.each([
    [{ logprobs: true }, 'logprobs'],
    [{ n: 2 }, '"n"'],
    [{ seed: 7 }, 'seed'],
    [{ presence_penalty: 0.5 }, 'presence_penalty'],
    [{ temperature: 1.5 }, 'temperature'],
    [{ response_format: { type: 'json_object' }, tools: [{ type: 'function', function: { name: 'f' } }] }, 'response_format'],
    [
      { response_format: { type: 'json_schema', json_schema: { name: 'a', schema: { type: 'array' } } } },
      'response_format.json_schema.schema',
    ],
    [{ tools: [{ type: 'function', function: { name: 'f', parameters: { type: 'string' } } }] }, 'tools[0].function.parameters'],
    [{ messages: [{ role: 'user', content: [{ type: 'input_audio', input_audio: {} }] }] }, 'messages[0].content[0].type'],
    [{ messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url: 'file:///etc/passwd' } }] }] }, 'image_url.url'],
    [{ messages: [{ role: 'tool', content: 'x' }] }, 'messages[0].tool_call_id'],
  ])('refuses %j naming %s', (fields, named) => {
    expect(() => toAnthropic(request(fields as Record<string, unknown>), 'm')).toThrow(AnthropicRefusal);
    expect(() => toAnthropic(request(fields as Record<string, unknown>), 'm')).toThrow(named);
  });

  it('accepts the zero penalties and n: 1 some SDKs always send', () => {
    expect(() => toAnthropic(request({ presence_penalty: 0, frequency_penalty: 0, n: 1 }), 'm')).not.toThrow();
  });
});

describe('Anthropic message → OpenAI completion', () => {
  it('maps text, usage with cache reads, and the finish reason', () => {
    const completion = fromAnthropic(JSON.parse(fixture('anthropic/message.json')), undefined, 1);
    expect(completion).toMatchObject({
      id: 'msg_01XFDUDYJgAACzvnptvVoYEL',
      object: 'chat.completion',
      model: 'claude-sonnet-4-5-20250929',
      choices: [
        { index: 0, message: { role: 'assistant', content: 'Mycelium is the vegetative part of a fungus.' }, finish_reason: 'stop' },
      ],
      usage: { prompt_tokens: 29, completion_tokens: 12, total_tokens: 41, prompt_tokens_details: { cached_tokens: 8 } },
    });
  });

  it('maps tool_use blocks to tool_calls, and each stop_reason', () => {
    const completion = fromAnthropic(JSON.parse(fixture('anthropic/message-tool-use.json')), undefined, 1);
    expect(completion.choices[0]?.message).toMatchObject({
      content: "I'll look up that genus.",
      tool_calls: [
        { id: 'toolu_01A09q90qw90lq917835lq9', type: 'function', function: { name: 'get_species', arguments: '{"genus":"Pleurotus"}' } },
      ],
    });
    expect(completion.choices[0]?.finish_reason).toBe('tool_calls');
    const finish = (stop_reason: string) =>
      fromAnthropic(
        { id: 'm', type: 'message', role: 'assistant', model: 'm', content: [], stop_reason, stop_sequence: null, usage: {} },
        undefined,
        1,
      ).choices[0]?.finish_reason;
    expect(['end_turn', 'stop_sequence', 'max_tokens', 'refusal', 'model_context_window_exceeded', 'pause_turn'].map(finish)).toEqual([
      'stop',
      'stop',
      'length',
      'content_filter',
      'length',
      'stop',
    ]);
  });

  it('returns a forced JSON tool’s input as the content', () => {
    const message = JSON.parse(fixture('anthropic/message-tool-use.json'));
    const completion = fromAnthropic(message, 'get_species', 1);
    expect(completion.choices[0]?.message.content).toBe('{"genus":"Pleurotus"}');
    expect(completion.choices[0]?.message.tool_calls).toBeUndefined();
    expect(completion.choices[0]?.finish_reason).toBe('stop');
  });

  it('maps each error type to the status the attempt loop acts on', () => {
    const of = (name: string, status?: number) => anthropicError('anthropic', JSON.parse(fixture(`anthropic/${name}`)), status);
    expect(of('error-529-overloaded.json', 529)).toMatchObject({ status: 529, action: 'retry' });
    expect(of('error-529-overloaded.json')).toMatchObject({ status: 529, action: 'retry' });
    // Overload answered with 429 still retries; a rate limit keeps its Retry-After.
    expect(of('error-529-overloaded.json', 429)).toMatchObject({ status: 429, action: 'retry' });
    expect(anthropicError('anthropic', JSON.parse(fixture('anthropic/error-429-rate-limit.json')), 429, 1500)).toMatchObject({
      status: 429,
      action: 'retry',
      retryAfterMs: 1500,
    });
    expect(of('error-400-invalid-request.json', 400)).toMatchObject({
      status: 400,
      action: 'stop',
      message: expect.stringContaining('max_tokens'),
    });
    expect(of('error-401-authentication.json', 401)).toMatchObject({ status: 401, action: 'next' });
    expect(of('error-401-authentication.json')).toBeInstanceOf(ProviderError);
  });
});
