/**
 * One attempt's call to its provider: the chat request, or — for a request translated from
 * `POST /v1/responses` to a provider that speaks that API (`responses_api: native`) — its Responses
 * form, sent to the provider's own `/responses`. Everything around the call (plan, breaker, limits,
 * spans, accounting) is the same either way: one pipeline.
 */
import { type ChatCompletion, type ChatCompletionChunk, type ChatRequest, type NativeResponsesBody, RESPONSES_FORM } from '../contract.js';
import type { CallOptions, ChatProvider } from './types.js';

/**
 * The Responses form to send, when the provider takes it natively. `request` is the chat form with
 * the model's configured defaults already filled in (withDefaults); the same defaults fill the
 * Responses form (`temperature`, `max_tokens` → `max_output_tokens`) where the caller left them out.
 */
export function nativeForm(provider: ChatProvider, request: ChatRequest): NativeResponsesBody | undefined {
  const native = provider.responses ? request[RESPONSES_FORM] : undefined;
  if (!native) return undefined;
  const temperature = native.temperature == null && request.temperature != null;
  const maxTokens = native.max_output_tokens == null && request.max_tokens != null;
  if (!temperature && !maxTokens) return native;
  return {
    ...native,
    ...(temperature ? { temperature: request.temperature } : {}),
    ...(maxTokens ? { max_output_tokens: request.max_tokens } : {}),
  };
}

export function callChat(provider: ChatProvider, request: ChatRequest, options: CallOptions): Promise<ChatCompletion> {
  const native = nativeForm(provider, request);
  return native && provider.responses ? provider.responses.create(native, options) : provider.chat(request, options);
}

export function callStream(provider: ChatProvider, request: ChatRequest, options: CallOptions): AsyncIterable<ChatCompletionChunk> {
  const native = nativeForm(provider, request);
  return native && provider.responses ? provider.responses.stream(native, options) : provider.stream(request, options);
}
