/**
 * OpenAI's Responses API spoken natively (`responses_api: native`): `POST /v1/responses` goes to the
 * provider's own `/responses` with `store: false` (the gateway keeps the conversation, per key), and
 * the provider's Response object or event stream comes back as it was written. The answers wear the
 * chat pipeline's shapes (types.ts `responses`): a completion or chunk whose usage the pipeline counts
 * and whose wire text is the provider's own.
 *
 * What is a failure here that would not be in chat: a Response whose `status` is `failed`, and in a
 * stream an `error` or `response.failed` event, or an end without `response.completed` /
 * `response.incomplete`. The stream's first events (`response.created`, `response.in_progress`) are
 * held until the model's first output, so a failure that comes right after them (a rate limit, a
 * quota) still fails the attempt before the stream opens, and the next model may be tried.
 */
import type { ChatCompletion, ChatCompletionChunk, NativeResponsesBody, Usage } from '../../contract.js';
import { type CallOptions, keepWireText, markNative, NativeEventChunk, ProviderError } from '../types.js';
import { errorOfRest, invalidAnswer, type Post, parseBody, readText, sseData } from './wire.js';

interface NativeUsage {
  input_tokens?: number;
  output_tokens?: number;
  total_tokens?: number;
  input_tokens_details?: { cached_tokens?: number };
  output_tokens_details?: { reasoning_tokens?: number };
}

interface NativeResponse {
  object?: unknown;
  id?: string;
  created_at?: number;
  model?: string;
  status?: string;
  error?: { code?: string | null; message?: string } | null;
  usage?: NativeUsage | null;
}

/** A Response's usage in the chat pipeline's terms (what accounting, limits and spend rows read). */
export function chatUsage(usage: NativeUsage | null | undefined): Usage | undefined {
  if (!usage) return undefined;
  const prompt = usage.input_tokens ?? 0;
  const completion = usage.output_tokens ?? 0;
  return {
    prompt_tokens: prompt,
    completion_tokens: completion,
    total_tokens: usage.total_tokens ?? prompt + completion,
    prompt_tokens_details: { cached_tokens: usage.input_tokens_details?.cached_tokens ?? 0 },
    completion_tokens_details: { reasoning_tokens: usage.output_tokens_details?.reasoning_tokens ?? 0 },
  };
}

/**
 * A failed Response's (or an `error` event's) code as an HTTP status, so the attempt loop treats it as
 * it treats the same failure answered as a status: rate limits and server errors are retried,
 * a refused request stops, an exhausted quota moves on to the next model.
 */
export function failureOf(name: string, error: { code?: string | null | undefined; message?: string | undefined } | null | undefined) {
  const code = error?.code ?? undefined;
  const message = `the provider's response failed: ${code ?? 'no code'}: ${String(error?.message ?? 'no message').slice(0, 300)}`;
  if (code === 'rate_limit_exceeded') return new ProviderError(name, message, 429, { code });
  if (code === 'insufficient_quota') return new ProviderError(name, message, 429, { code, action: 'next' });
  if (code === 'context_length_exceeded' || code?.startsWith('invalid_')) return new ProviderError(name, message, 400, { code });
  if (code === 'server_error' || code === 'internal_error') return new ProviderError(name, message, 500, { code });
  return new ProviderError(name, message, 502, code ? { code } : {});
}

/** Statuses of a Response that has ended well (`incomplete` is whole too: it says why it stopped). */
const ENDED = new Set(['completed', 'incomplete']);
/** The stream's terminal events of an answer. */
const TERMINAL = new Set(['response.completed', 'response.incomplete']);
/** Events sent before the model produces anything: held until it does (see the module comment). */
const OPENING = new Set(['response.created', 'response.in_progress', 'response.queued']);
/** Opening events held at most (OpenAI sends two); past it the provider is not answering. */
const MAX_HELD = 16;

/** An event passed on as its wire text, with the usage the pipeline counts when it carries it. */
const eventChunk = (data: string, usage?: Usage, deltaChars = 0): ChatCompletionChunk =>
  new NativeEventChunk(data, usage, deltaChars) as unknown as ChatCompletionChunk;

export function nativeResponses(name: string, post: Post) {
  return {
    async create(body: NativeResponsesBody, call: CallOptions): Promise<ChatCompletion> {
      const response = await post('responses', call, { ...body, model: call.model });
      const text = await readText(name, response);
      const answer = parseBody<NativeResponse>(name, text);
      if (answer?.object !== 'response') throw errorOfRest(name, text, 'a Response');
      if (answer.status === 'failed') throw failureOf(name, answer.error);
      if (!ENDED.has(String(answer.status)))
        throw invalidAnswer(name, `status "${String(answer.status).slice(0, 40)}"`, 'an ended Response');
      const usage = chatUsage(answer.usage);
      const completion = {
        id: String(answer.id ?? ''),
        object: 'chat.completion',
        created: answer.created_at ?? 0,
        model: String(answer.model ?? call.model),
        choices: [],
        ...(usage ? { usage } : {}),
      } as unknown as ChatCompletion;
      return keepWireText(markNative(completion), text);
    },
    stream: (body: NativeResponsesBody, call: CallOptions) => streamEvents(name, body, call, post),
  };
}

async function* streamEvents(name: string, body: NativeResponsesBody, call: CallOptions, post: Post): AsyncIterable<ChatCompletionChunk> {
  const response = await post('responses', call, { ...body, model: call.model, stream: true });
  const rest = { text: '' };
  let held: ChatCompletionChunk[] | undefined = [];
  for await (const batch of sseData(name, response, rest)) {
    for (const data of batch) {
      // Every event is parsed: one that is not JSON fails the attempt here, where it is counted,
      // rather than reaching a client as a broken frame.
      const event = parseBody<{
        type?: unknown;
        response?: NativeResponse;
        error?: NativeResponse['error'];
        code?: string;
        message?: string;
        delta?: unknown;
      }>(name, data);
      const type = typeof event?.type === 'string' ? event.type : undefined;
      if (!type) throw errorOfRest(name, data, 'a Responses event');
      if (type === 'error') throw failureOf(name, event.error ?? { code: event.code, message: event.message });
      if (type === 'response.failed') throw failureOf(name, event.response?.error);
      if (held && OPENING.has(type)) {
        if (held.length >= MAX_HELD) throw new ProviderError(name, `the provider sent ${MAX_HELD} events before any output`, 502);
        held.push(eventChunk(data));
        continue;
      }
      if (held) {
        yield* held;
        held = undefined;
      }
      if (TERMINAL.has(type)) {
        // A terminal event is believed only as far as its Response's own status agrees.
        const status = event.response?.status;
        if (status !== undefined && !ENDED.has(String(status)))
          throw status === 'failed'
            ? failureOf(name, event.response?.error)
            : invalidAnswer(name, `${type} with status "${String(status).slice(0, 40)}"`, 'an ended Response');
        // The answer is whole: nothing after it is read (a server that keeps the connection open is not waited for).
        yield eventChunk(data, chatUsage(event.response?.usage));
        return;
      }
      yield eventChunk(data, undefined, typeof event.delta === 'string' ? event.delta.length : 0);
    }
  }
  if (rest.text.startsWith('{')) throw errorOfRest(name, rest.text, 'a Responses event stream');
  // A cut connection can look like a clean end; only the terminal event proves the answer is whole.
  throw new ProviderError(name, 'the stream ended before the response was complete (no response.completed)', undefined);
}
