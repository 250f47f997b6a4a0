import type { ChatCompletion, Usage } from '../../contract.js';
import { ProviderError } from '../types.js';
import type { AnthropicErrorBody, AnthropicResponse, AnthropicUsage, ResponseBlock } from './wire.js';

type FinishReason = ChatCompletion['choices'][number]['finish_reason'];

/**
 * Anthropic's stop_reason → OpenAI's finish_reason. A forced JSON tool's `tool_use` is the answer
 * itself (`stop`); `refusal` is the safety classifier (`content_filter`); a full context window is
 * `length` as OpenAI reports it.
 */
export function finishReasonOf(reason: string | null | undefined, jsonMode: boolean): FinishReason {
  switch (reason) {
    case 'tool_use':
      return jsonMode ? 'stop' : 'tool_calls';
    case 'max_tokens':
    case 'model_context_window_exceeded':
      return 'length';
    case 'refusal':
      return 'content_filter';
    default:
      return 'stop'; // end_turn, stop_sequence, pause_turn
  }
}

/**
 * Anthropic usage → OpenAI usage. Anthropic's `input_tokens` leaves out the cached prompt (tokens
 * read from the cache and tokens written to it); OpenAI's `prompt_tokens` holds all of it, with the
 * cache reads detailed as `cached_tokens`. So prompt = input + cache writes + cache reads.
 */
export function usageOf(usage: AnthropicUsage | undefined): Usage | undefined {
  if (!usage) return undefined;
  const read = usage.cache_read_input_tokens ?? 0;
  const prompt = (usage.input_tokens ?? 0) + (usage.cache_creation_input_tokens ?? 0) + read;
  const completion = usage.output_tokens ?? 0;
  return {
    prompt_tokens: prompt,
    completion_tokens: completion,
    total_tokens: prompt + completion,
    ...(read ? { prompt_tokens_details: { cached_tokens: read } } : {}),
  };
}

/** Text and tool calls of a whole answer; thinking blocks are left out (their tokens are in the usage). */
function blocksToMessage(blocks: ResponseBlock[], jsonTool: string | undefined) {
  let text = '';
  const toolCalls: Array<{ id: string; type: 'function'; function: { name: string; arguments: string } }> = [];
  for (const block of blocks) {
    if (block.type === 'text' && typeof block.text === 'string' && !jsonTool) text += block.text;
    else if (block.type === 'tool_use') {
      const call = block as Extract<ResponseBlock, { type: 'tool_use' }>;
      if (jsonTool && call.name === jsonTool) text += JSON.stringify(call.input ?? {});
      else toolCalls.push({ id: call.id, type: 'function', function: { name: call.name, arguments: JSON.stringify(call.input ?? {}) } });
    }
  }
  return { text, toolCalls };
}

/** A whole Anthropic message → an OpenAI chat.completion. */
export function fromAnthropic(message: AnthropicResponse, jsonTool: string | undefined, created: number): ChatCompletion {
  const { text, toolCalls } = blocksToMessage(message.content, jsonTool);
  const usage = usageOf(message.usage);
  return {
    id: message.id,
    object: 'chat.completion',
    created,
    model: message.model,
    choices: [
      {
        index: 0,
        message: {
          role: 'assistant',
          content: text || (toolCalls.length > 0 ? null : ''),
          refusal: null,
          ...(toolCalls.length > 0 ? { tool_calls: toolCalls } : {}),
        },
        finish_reason: finishReasonOf(message.stop_reason, Boolean(jsonTool)),
        logprobs: null,
      },
    ],
    ...(usage ? { usage } : {}),
  };
}

/** The HTTP status each of Anthropic's error types comes with (for errors inside a 200 or a stream). */
const STATUS_OF_TYPE: Record<string, number> = {
  invalid_request_error: 400,
  authentication_error: 401,
  billing_error: 402,
  permission_error: 403,
  not_found_error: 404,
  request_too_large: 413,
  rate_limit_error: 429,
  api_error: 500,
  timeout_error: 504,
  overloaded_error: 529,
};

export const isErrorBody = (body: unknown): body is AnthropicErrorBody =>
  Boolean(body) && typeof body === 'object' && (body as { type?: unknown }).type === 'error';

/**
 * An Anthropic error → ProviderError, so retries, fallback and the breaker treat it as they treat
 * the others: 429 and 529 (`overloaded_error`, whatever status it came with) and 5xx retry, with
 * Retry-After honoured; 401/403/404 move to the next model; 400/413 stop (the request is bad).
 */
export function anthropicError(provider: string, body: unknown, status?: number, retryAfterMs?: number): ProviderError {
  const raw = body && typeof body === 'object' ? (body as { error?: unknown }).error : undefined;
  const error = (typeof raw === 'string' ? { message: raw } : raw && typeof raw === 'object' ? raw : undefined) as
    | { type?: unknown; message?: unknown }
    | undefined;
  const type = typeof error?.type === 'string' ? error.type : undefined;
  const typed = type ? STATUS_OF_TYPE[type] : undefined;
  const code = status && status >= 400 ? status : (typed ?? 502);
  const detail = `${type ? `${type}: ` : ''}${String(error?.message ?? 'no message').slice(0, 300)}`;
  // Anthropic has answered overload with 429 as well as 529: the type says which it is.
  const action = type === 'overloaded_error' ? 'retry' : undefined;
  return new ProviderError(provider, `${code} ${detail}`, code, { retryAfterMs, ...(action ? { action } : {}) });
}
