/**
 * Answers from the cache: a completion's exact bytes, a stored stream's exact bytes, or a stored
 * completion streamed as OpenAI's chunks; and the capture of a streamed answer for the cache.
 */
import type { ChatCompletion } from '../contract.js';
import type { CachedAnswer } from './store.js';

const frame = (data: string) => `data: ${data}\n\n`;

/**
 * A stored completion as a stream, in OpenAI's chunk shape: the role and content (and tool calls)
 * in one delta per choice, the finish reason in the next, the usage last when asked for, then
 * `[DONE]`. Deterministic: the same completion gives the same bytes.
 */
export function completionAsSse(completion: ChatCompletion, includeUsage: boolean): string {
  const head = { id: completion.id, object: 'chat.completion.chunk', created: completion.created, model: completion.model };
  let out = '';
  for (const choice of completion.choices) {
    const message = choice.message;
    const delta: Record<string, unknown> = { role: 'assistant', content: message.content ?? null };
    if (message.tool_calls?.length) delta.tool_calls = message.tool_calls.map((call, index) => ({ index, ...call }));
    if (message.refusal) delta.refusal = message.refusal;
    out += frame(JSON.stringify({ ...head, choices: [{ index: choice.index, delta, finish_reason: null }] }));
    out += frame(JSON.stringify({ ...head, choices: [{ index: choice.index, delta: {}, finish_reason: choice.finish_reason }] }));
  }
  if (includeUsage && completion.usage) out += frame(JSON.stringify({ ...head, choices: [], usage: completion.usage }));
  return out + frame('[DONE]');
}

/** The answer's headers: who served it originally, and where it came from now. */
export function cacheHeaders(answer: CachedAnswer, source: 'hit' | 'semantic'): Record<string, string> {
  return {
    'x-myca-provider': answer.provider,
    'x-myca-model': answer.model,
    'x-myca-deployment': answer.deployment,
    'x-myca-attempts': '0',
    'x-myca-cache': source,
  };
}

/** The SSE body of a cached answer for a streaming request. */
export function sseBody(answer: CachedAnswer, includeUsage: boolean): string {
  return answer.kind === 'sse' ? answer.body : completionAsSse(JSON.parse(answer.body) as ChatCompletion, includeUsage);
}

export function sseFromCache(body: string, headers: Record<string, string>): Response {
  const bytes = new TextEncoder().encode(body);
  const stream = new ReadableStream<Uint8Array>({
    start(controller) {
      controller.enqueue(bytes);
      controller.close();
    },
  });
  return new Response(stream, {
    status: 200,
    headers: { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', connection: 'keep-alive', ...headers },
  });
}

/**
 * The same streamed response, with its text collected as it passes: `onComplete` gets it when the
 * stream ended whole (with `data: [DONE]`), never for a stream that broke off or was cut. Past
 * `maxChars` nothing more is collected.
 */
export function captureSse(response: Response, maxChars: number, onComplete: (text: string) => void): Response {
  if (!response.body) return response;
  const decoder = new TextDecoder();
  let text = '';
  let tooLarge = false;
  const tap = new TransformStream<Uint8Array, Uint8Array>({
    transform(chunk, controller) {
      controller.enqueue(chunk);
      if (tooLarge) return;
      text += decoder.decode(chunk, { stream: true });
      if (text.length > maxChars) {
        tooLarge = true;
        text = '';
      }
    },
    flush() {
      if (tooLarge) return;
      text += decoder.decode();
      if (text.endsWith('data: [DONE]\n\n')) onComplete(text);
    },
  });
  return new Response(response.body.pipeThrough(tap), { status: response.status, headers: response.headers });
}
