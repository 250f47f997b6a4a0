/** What the OpenAI-wire adapters (chat completions and the Responses API) read the same way. */
import type { HttpResponse } from '../../../../shared/net/http-client.js';
import { type CallOptions, errorInBody, networkError, ProviderError, parseRetryAfter } from '../types.js';

/** The paths the adapter posts to, under the base URL. */
export type OpenAIPath = 'chat/completions' | 'embeddings' | 'responses';
/** One POST to the provider: the response when its status is below 400, else the provider's error thrown. */
export type Post = (path: OpenAIPath, call: CallOptions, body: object) => Promise<HttpResponse>;

/** The blank line that ends an SSE event, whichever line endings the server writes (`\n`, `\r\n`, mixed). */
export const EVENT_END = /\r?\n\r?\n/;

/** The data of one SSE event: its `data:` lines joined; comments and other fields are left out. */
export function eventData(block: string): string {
  // Nearly every event is one `data: {…}` line: no arrays for it.
  if (block.startsWith('data:') && !block.includes('\n')) return block.slice(5).trimStart();
  return block
    .split(/\r?\n/)
    .filter((line) => line.startsWith('data:'))
    .map((line) => line.slice(5).trimStart())
    .join('\n');
}

/**
 * The data of the SSE events of a body, a batch per network read (one await per read, not per event:
 * a long answer is hundreds of events). What is left unframed when the body ends goes to `rest.text`:
 * a server that answers a stream request with a plain JSON error leaves it all there.
 */
export async function* sseData(name: string, response: HttpResponse, rest: { text: string }): AsyncIterable<string[]> {
  const decoder = new TextDecoder();
  let buffer = '';
  try {
    for await (const bytes of response.chunks()) {
      buffer += decoder.decode(bytes, { stream: true });
      const batch: string[] = [];
      for (let end = EVENT_END.exec(buffer); end; end = EVENT_END.exec(buffer)) {
        const data = eventData(buffer.slice(0, end.index));
        buffer = buffer.slice(end.index + end[0].length);
        if (data && data !== '[DONE]') batch.push(data);
      }
      if (batch.length) yield batch;
    }
  } catch (error) {
    throw error instanceof ProviderError ? error : networkError(name, error);
  }
  rest.text = buffer.trim();
}

/** The error a stream body that is one JSON object (no events) carries, or an invalid-answer error. */
export function errorOfRest(name: string, rest: string, what: string): ProviderError {
  let body: unknown;
  try {
    body = JSON.parse(rest);
  } catch {
    body = undefined;
  }
  return errorInBody(name, body) ?? invalidAnswer(name, rest, what);
}

export function invalidAnswer(name: string, text: string, what = 'a completion'): ProviderError {
  return new ProviderError(name, `the provider's answer is not ${what}: ${text.slice(0, 120)}`, 502);
}

export async function readText(name: string, response: HttpResponse): Promise<string> {
  try {
    return await response.text();
  } catch (error) {
    throw networkError(name, error);
  }
}

export function parseBody<T>(name: string, text: string): T {
  try {
    return JSON.parse(text) as T;
  } catch {
    throw new ProviderError(name, `the provider answered with invalid JSON: ${text.slice(0, 120)}`, 502, { action: 'retry' });
  }
}

export async function statusError(name: string, response: HttpResponse): Promise<ProviderError> {
  const text = await response.text().catch(() => '');
  let message = `${response.status} status code`;
  let code: string | undefined;
  try {
    const body = JSON.parse(text) as { error?: { message?: string; code?: unknown } | string };
    const detail = typeof body.error === 'string' ? body.error : body.error?.message;
    if (detail) message = `${response.status} ${detail}`;
    if (typeof body.error === 'object' && typeof body.error?.code === 'string') code = body.error.code;
  } catch {
    if (text) message = `${response.status} ${text.slice(0, 200)}`;
  }
  const retryAfterMs = Number(response.header('retry-after-ms')) || parseRetryAfter(response.header('retry-after'));
  return new ProviderError(name, message, response.status, { retryAfterMs, code });
}
