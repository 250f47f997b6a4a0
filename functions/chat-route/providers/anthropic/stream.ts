import type { ChatCompletionChunk } from '../../contract.js';
import { errorInBody, ProviderError } from '../types.js';
import { anthropicError, finishReasonOf, isErrorBody, usageOf } from './response.js';
import type { AnthropicUsage, StreamEvent } from './wire.js';

/**
 * Anthropic's stream events → OpenAI chat.completion.chunk objects: `message_start` gives the first
 * chunk (role), text and tool-use blocks give content and tool_calls deltas (each tool_use block the
 * next tool-call index; its `input_json_delta` pieces are the arguments), `message_delta` the finish
 * reason, `message_stop` one last chunk with the usage. `ping` and unknown events are skipped; an
 * `error` event throws its ProviderError. With a forced JSON tool (response_format) its input is the
 * content and other text is left out.
 */
export class AnthropicStreamTranslator {
  #id = '';
  #model: string;
  #usage: AnthropicUsage = {};
  /** Content block index → tool-call index (OpenAI numbers tool calls from 0 within the message). */
  #tools = new Map<number, number>();
  #jsonBlocks = new Set<number>();
  #stopped = false;
  finished = false;

  constructor(
    readonly provider: string,
    model: string,
    readonly created: number,
    readonly jsonTool: string | undefined,
  ) {
    this.#model = model;
  }

  #chunk(delta: ChatCompletionChunk['choices'][number]['delta'], finish: ChatCompletionChunk['choices'][number]['finish_reason'] = null) {
    return {
      id: this.#id,
      object: 'chat.completion.chunk' as const,
      created: this.created,
      model: this.#model,
      choices: [{ index: 0, delta, finish_reason: finish, logprobs: null }],
    };
  }

  /** One event's data → the chunks it makes (often none). Throws ProviderError for an error or non-JSON. */
  push(data: string): ChatCompletionChunk[] {
    let event: StreamEvent;
    try {
      event = JSON.parse(data) as StreamEvent;
    } catch {
      throw new ProviderError(this.provider, `the provider answered with invalid JSON: ${data.slice(0, 120)}`, 502, { action: 'retry' });
    }
    if (isErrorBody(event)) throw anthropicError(this.provider, event);
    if (!event || typeof event !== 'object' || typeof (event as { type?: unknown }).type !== 'string') {
      throw (
        errorInBody(this.provider, event) ??
        new ProviderError(this.provider, `not an Anthropic stream event: ${data.slice(0, 120)}`, 502, { action: 'retry' })
      );
    }
    switch (event.type) {
      case 'message_start':
        this.#id = event.message?.id ?? this.#id;
        this.#model = event.message?.model ?? this.#model;
        this.#merge(event.message?.usage);
        return [this.#chunk({ role: 'assistant', content: '' })];
      case 'content_block_start': {
        const block = event.content_block;
        if (block.type === 'text' && typeof block.text === 'string' && block.text && !this.jsonTool)
          return [this.#chunk({ content: block.text })];
        if (block.type !== 'tool_use') return [];
        const call = block as { id: string; name: string };
        if (this.jsonTool && call.name === this.jsonTool) {
          this.#jsonBlocks.add(event.index);
          return [];
        }
        const index = this.#tools.size;
        this.#tools.set(event.index, index);
        return [this.#chunk({ tool_calls: [{ index, id: call.id, type: 'function', function: { name: call.name, arguments: '' } }] })];
      }
      case 'content_block_delta': {
        const delta = event.delta;
        if (delta.type === 'text_delta') return this.jsonTool || !delta.text ? [] : [this.#chunk({ content: delta.text as string })];
        if (delta.type !== 'input_json_delta' || !delta.partial_json) return [];
        const json = delta.partial_json as string;
        if (this.#jsonBlocks.has(event.index)) return [this.#chunk({ content: json })];
        const index = this.#tools.get(event.index);
        return index === undefined ? [] : [this.#chunk({ tool_calls: [{ index, function: { arguments: json } }] })];
      }
      case 'message_delta':
        this.#merge(event.usage);
        if (!event.delta?.stop_reason) return [];
        this.#stopped = true;
        return [this.#chunk({}, finishReasonOf(event.delta.stop_reason, Boolean(this.jsonTool)))];
      case 'message_stop': {
        this.finished = true;
        const out: ChatCompletionChunk[] = this.#stopped ? [] : [this.#chunk({}, 'stop')];
        const usage = usageOf(this.#usage);
        if (usage)
          out.push({ id: this.#id, object: 'chat.completion.chunk', created: this.created, model: this.#model, choices: [], usage });
        return out;
      }
      default:
        return []; // ping, content_block_stop, and event types added later
    }
  }

  /** message_start carries the input tokens; message_delta's counts are cumulative and win. */
  #merge(usage: AnthropicUsage | undefined) {
    if (!usage) return;
    for (const [key, value] of Object.entries(usage)) if (typeof value === 'number') this.#usage[key as keyof AnthropicUsage] = value;
  }
}
