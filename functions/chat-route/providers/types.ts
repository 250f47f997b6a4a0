import type { ProviderType } from '../../../shared/config/index.js';
import type {
  ChatCompletion,
  ChatCompletionChunk,
  ChatRequest,
  EmbeddingsRequest,
  EmbeddingsResponse,
  NativeResponsesBody,
} from '../contract.js';

export interface CallOptions {
  /** The provider's own model (or Azure deployment) name. */
  model: string;
  signal: AbortSignal;
  /** Headers for the outbound call (correlation id, traceparent). */
  headers?: Record<string, string>;
}

/** One interface for every provider; adapters translate to and from OpenAI's shapes. */
export interface ChatProvider {
  readonly name: string;
  readonly type: ProviderType;
  chat(request: ChatRequest, options: CallOptions): Promise<ChatCompletion>;
  /** Chunks in OpenAI's shape; the last carries usage. Throws ProviderError. */
  stream(request: ChatRequest, options: CallOptions): AsyncIterable<ChatCompletionChunk>;
  embed(request: EmbeddingsRequest, options: CallOptions): Promise<EmbeddingsResponse>;
  /**
   * OpenAI's Responses API spoken natively (`responses_api: native`). The answers are in the chat
   * pipeline's shapes so that it runs unchanged (usage, model, attempt status), but their wire text
   * ({@link wireText}) is the provider's own Response object or stream event, and {@link isNative}
   * tells them apart: the Responses endpoint passes that text on, never a translation.
   */
  responses?: {
    create(body: NativeResponsesBody, options: CallOptions): Promise<ChatCompletion>;
    stream(body: NativeResponsesBody, options: CallOptions): AsyncIterable<ChatCompletionChunk>;
  };
}

/**
 * An event of a provider's own Responses API stream, passed on as its text (the native adapter has
 * parsed it to check it, and read its usage when it ends the answer). A class, not a WeakMap entry:
 * a long answer is hundreds of events, and weak maps cost the collector.
 */
export class NativeEventChunk {
  constructor(
    readonly text: string,
    readonly usage: ChatCompletionChunk['usage'] | undefined,
    /** The length of the event's `delta` (text, arguments, reasoning): what the model wrote, for an estimate. */
    readonly deltaChars = 0,
  ) {}
}

const natives = new WeakSet<object>();

/** Marks an answer (completion or chunk) whose wire text is a native Responses object or event. */
export function markNative<T extends object>(value: T): T {
  natives.add(value);
  return value;
}

/** Whether an answer came from a provider's own Responses API (its wire text is a Response or an event). */
export const isNative = (value: object): boolean => value instanceof NativeEventChunk || natives.has(value);

/**
 * The provider's own JSON text of a completion or stream chunk an adapter parsed without changing it
 * (OpenAI-wire adapters): the endpoint answers with it instead of serialising the object again.
 */
const wireTexts = new WeakMap<object, string>();

/** Remembers `text` as the exact JSON of `value` (which must not be changed afterwards). */
export function keepWireText<T extends object>(value: T, text: string): T {
  wireTexts.set(value, text);
  return value;
}

/** The JSON of `value`: the provider's own text when an adapter kept it, else serialised. */
export function wireText(value: object): string {
  return wireTexts.get(value) ?? JSON.stringify(value);
}

/**
 * What to do after a failure: `retry` the same model (408, 409, 429, 5xx, network, timeout), move on
 * to the `next` model without retrying (the provider refused us: 401, 403, 404), or `stop` (the
 * caller's own request is bad: 400, 413, 422; another provider would refuse it too).
 */
export type FailureAction = 'retry' | 'next' | 'stop';

export class ProviderError extends Error {
  readonly action: FailureAction;
  constructor(
    readonly provider: string,
    message: string,
    readonly status: number | undefined,
    options: {
      action?: FailureAction;
      retryAfterMs?: number | undefined;
      cause?: unknown;
      timeout?: boolean;
      code?: string | undefined;
    } = {},
  ) {
    super(message, { cause: options.cause });
    this.name = 'ProviderError';
    this.action = options.action ?? actionForStatus(status);
    this.retryAfterMs = options.retryAfterMs;
    this.timeout = options.timeout ?? false;
    this.code = options.code;
  }
  /** The provider's own error code when it names one (OpenAI's `error.code`, e.g. `context_length_exceeded`). */
  readonly code: string | undefined;
  readonly retryAfterMs: number | undefined;
  readonly timeout: boolean;
  get retryable(): boolean {
    return this.action === 'retry';
  }
}

export function actionForStatus(status: number | undefined): FailureAction {
  if (status === undefined) return 'retry'; // network errors
  if (status === 408 || status === 409 || status === 429 || status >= 500) return 'retry';
  if (status === 400 || status === 413 || status === 422) return 'stop';
  return 'next';
}

/**
 * A provider that answers 200 with `{"error": …}` (LiteLLM, proxies, Gemini in a stream) failed: an
 * error with the status the body names (when it is an HTTP error status), else 502. Undefined when
 * the body carries no error.
 */
export function errorInBody(provider: string, body: unknown): ProviderError | undefined {
  if (!body || typeof body !== 'object') return undefined;
  const error = (body as { error?: unknown }).error;
  if (error === undefined || error === null || error === false) return undefined;
  const detail = typeof error === 'object' ? (error as { message?: unknown }).message : error;
  const code = typeof error === 'object' ? Number((error as { code?: unknown }).code) : Number.NaN;
  const status = Number.isInteger(code) && code >= 400 && code <= 599 ? code : 502;
  return new ProviderError(provider, `the provider answered with an error: ${String(detail ?? 'no message').slice(0, 300)}`, status);
}

export { parseRetryAfter } from '../../../shared/http/retry.js';

/** A failed request that got no answer (aborted, refused, reset) as the provider's ProviderError. */
export function networkError(name: string, error: unknown): ProviderError {
  if (error instanceof ProviderError) return error;
  const e = error as { name?: string; code?: string; message?: string; cause?: { code?: string; message?: string } };
  if (e?.name === 'AbortError' || e?.code === 'UND_ERR_ABORTED')
    return new ProviderError(name, 'request aborted', undefined, { timeout: true, cause: error });
  const detail = e?.code ?? e?.cause?.code ?? e?.message ?? String(error);
  return new ProviderError(name, `connection failed: ${detail}`, undefined, { cause: error });
}
