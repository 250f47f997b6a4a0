/** What the OpenAI-wire adapters (chat completions and the Responses API) read the same way. */
import type { HttpResponse } from '../../../../shared/net/http-client.js';
import { SseFrames } from '../sse-frames.js';
import { type CallOptions, errorInBody, networkError, ProviderError, parseRetryAfter } from '../types.js';

/** The paths the adapter posts to, under the base URL. */
export type OpenAIPath = 'chat/completions' | 'embeddings' | 'responses';
/** One POST to the provider: the response when its status is below 400, else the provider's error thrown. */
export type Post = (path: OpenAIPath, call: CallOptions, body: object) => Promise<HttpResponse>;

/**
 * The most one answer may weigh as it arrives: one SSE event, or one JSON body. A model's whole
 * answer is far below (128k output tokens are about 0.5 MB); past it the provider is broken or
 * hostile, and buffering on would only exhaust memory (a Worker has 128 MB).
 */
export const MAX_ANSWER_CHARS = 16 * 1024 * 1024;

const tooLarge = (name: string, what: string) =>
  new ProviderError(name, `the provider sent ${what} over the size cap of ${MAX_ANSWER_CHARS / 1024 / 1024} MiB`, 502);

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
 * a long answer is hundreds of events); `[DONE]` is left out. What is left unframed when the body
 * ends goes to `rest.text`: a server that answers a stream request with a plain JSON error leaves it
 * all there. One event over {@link MAX_ANSWER_CHARS} fails the attempt.
 */
export async function* sseData(name: string, response: HttpResponse, rest: { text: string }): AsyncIterable<string[]> {
  const frames = new SseFrames(name, MAX_ANSWER_CHARS);
  try {
    for await (const bytes of response.chunks()) {
      let batch = frames.push(bytes);
      if (batch.includes('[DONE]')) batch = batch.filter((data) => data !== '[DONE]');
      if (batch.length) yield batch;
    }
  } catch (error) {
    throw error instanceof ProviderError ? error : networkError(name, error);
  }
  rest.text = frames.rest();
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

/**
 * The whole body, up to `max` characters (past it: a failed attempt, and the rest is not read).
 * Embeddings pass no limit: 2048 inputs of 3072 floats are rightly tens of megabytes.
 */
export async function readText(name: string, response: HttpResponse, max = MAX_ANSWER_CHARS): Promise<string> {
  const decoder = new TextDecoder();
  let text = '';
  try {
    for await (const bytes of response.chunks()) {
      text += decoder.decode(bytes, { stream: true });
      if (text.length > max) throw tooLarge(name, 'an answer');
    }
    return text + decoder.decode();
  } catch (error) {
    throw error instanceof ProviderError ? error : networkError(name, error);
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
