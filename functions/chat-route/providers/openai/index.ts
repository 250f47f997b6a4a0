import type OpenAI from 'openai';
import type { ProviderType } from '../../../../shared/config/index.js';
import type { ChatCompletionChunk, ChatRequest } from '../../contract.js';
import { modelNameProblem } from '../model-names.js';
import { type CallOptions, type ChatProvider, errorInBody, ProviderError, parseRetryAfter } from '../types.js';

export interface OpenAIProviderOptions {
  name: string;
  type: Extract<ProviderType, 'openai' | 'azure' | 'openai_compatible'>;
  apiKey?: string | undefined;
  baseURL?: string | undefined;
  /** Azure only. */
  endpoint?: string | undefined;
  apiVersion?: string | undefined;
  fetch?: typeof fetch;
}

/**
 * OpenAI, Azure OpenAI and every OpenAI-compatible server (LiteLLM, vLLM, Ollama) through the official
 * SDK. Its own retries are off: retry, fallback and timeouts belong to the attempt loop.
 *
 * @example
 * const local = createOpenAIProvider({ name: 'local', type: 'openai_compatible', baseURL: 'http://127.0.0.1:11434/v1' });
 */
export function createOpenAIProvider(options: OpenAIProviderOptions): ChatProvider {
  const common = { maxRetries: 0, timeout: 600_000, ...(options.fetch ? { fetch: options.fetch } : {}) };
  // The SDK loads on first use: the Node server speaks the wire format over undici (wire.ts) and
  // never needs it; loading it at start cost the server 3–7 MB of resident memory.
  let client: Promise<OpenAI> | undefined;
  const clientOnce = () =>
    (client ??= loadSdk().then(({ default: OpenAIClient, AzureOpenAI }) =>
      options.type === 'azure'
        ? // The base URL, not `endpoint`: given no baseURL the SDK reads OPENAI_BASE_URL from the
          // environment (workerd's nodejs_compat exposes the bindings there) and then refuses
          // the endpoint ("baseURL and endpoint are mutually exclusive"): every Azure call failed.
          new AzureOpenAI({
            ...common,
            apiKey: options.apiKey,
            baseURL: `${(options.endpoint ?? '').replace(/\/+$/, '')}/openai`,
            apiVersion: options.apiVersion ?? '2024-10-21',
          })
        : // Ollama and vLLM accept any key; the SDK insists on one.
          new OpenAIClient({ ...common, apiKey: options.apiKey ?? 'not-needed', baseURL: options.baseURL ?? null }),
    ));
  const name = options.name;
  const requestOptions = (call: CallOptions) => {
    // AzureOpenAI puts the deployment into the path unencoded (`/deployments/${model}/…`).
    const problem = options.type === 'azure' ? modelNameProblem('azure', call.model) : null;
    if (problem) throw new ProviderError(name, `deployment "${call.model}" refused: ${problem}`, 400);
    return { signal: call.signal, ...(call.headers ? { headers: call.headers } : {}) };
  };

  return {
    name,
    type: options.type,
    chat: async (request, call) => {
      try {
        const { stream: _stream, stream_options: _options, ...body } = request;
        const completion = await (await clientOnce()).chat.completions.create(
          { ...(body as OpenAI.ChatCompletionCreateParamsNonStreaming), model: call.model, stream: false },
          requestOptions(call),
        );
        // A 200 whose body is an error is a failure, never an answer.
        if (!Array.isArray(completion?.choices)) throw errorInBody(name, completion) ?? notAnAnswer(name);
        return completion;
      } catch (error) {
        throw await mapOpenAIError(name, error);
      }
    },
    stream: (request, call) => streamChunks(name, clientOnce, request, call, () => requestOptions(call)),
    embed: async (request, call) => {
      try {
        const embeddings = await (await clientOnce()).embeddings.create(
          { ...(request as OpenAI.EmbeddingCreateParams), model: call.model },
          requestOptions(call),
        );
        if (!Array.isArray(embeddings?.data)) throw errorInBody(name, embeddings) ?? notAnAnswer(name);
        return embeddings;
      } catch (error) {
        throw await mapOpenAIError(name, error);
      }
    },
  };
}

const notAnAnswer = (name: string) => new ProviderError(name, 'the provider answered 200 without a result', 502);

let sdk: Promise<typeof import('openai')> | undefined;
const loadSdk = () => (sdk ??= import('openai'));

async function* streamChunks(
  name: string,
  client: () => Promise<OpenAI>,
  request: ChatRequest,
  call: CallOptions,
  options: () => { signal: AbortSignal; headers?: Record<string, string> },
): AsyncIterable<ChatCompletionChunk> {
  let stream: AsyncIterable<ChatCompletionChunk>;
  try {
    stream = await (await client()).chat.completions.create(
      // Usage always comes back (in the last chunk): token accounting needs it.
      {
        ...(request as OpenAI.ChatCompletionCreateParamsStreaming),
        model: call.model,
        stream: true,
        stream_options: { include_usage: true },
      },
      options(),
    );
  } catch (error) {
    throw await mapOpenAIError(name, error);
  }
  // A connection cut mid-stream can end the SDK's iterator quietly: only a finish reason proves the
  // answer is whole, so a stream without one is an error, never a short success.
  let finished = false;
  try {
    for await (const chunk of stream) {
      const failed = errorInBody(name, chunk);
      if (failed) throw failed;
      if (!Array.isArray(chunk.choices)) throw notAnAnswer(name);
      if (chunk.choices.some((choice) => choice.finish_reason)) finished = true;
      yield chunk;
    }
  } catch (error) {
    throw await mapOpenAIError(name, error);
  }
  if (!finished) throw new ProviderError(name, 'the stream ended before the model finished (no finish_reason)', undefined);
}

/** SDK errors to one typed error; Retry-After (and OpenAI's retry-after-ms) kept. */
export async function mapOpenAIError(provider: string, error: unknown): Promise<ProviderError> {
  if (error instanceof ProviderError) return error;
  const { default: OpenAI } = await loadSdk();
  if (error instanceof OpenAI.APIUserAbortError)
    return new ProviderError(provider, 'request aborted', undefined, { timeout: true, cause: error });
  if (error instanceof OpenAI.APIConnectionTimeoutError)
    return new ProviderError(provider, 'connection timed out', undefined, { timeout: true, cause: error });
  if (error instanceof OpenAI.APIConnectionError) {
    const cause = (error.cause as { code?: string; message?: string } | undefined) ?? {};
    return new ProviderError(provider, `connection failed: ${cause.code ?? cause.message ?? error.message}`, undefined, { cause: error });
  }
  if (error instanceof OpenAI.APIError) {
    const headers = error.headers;
    const retryAfterMs = Number(headers?.get('retry-after-ms')) || parseRetryAfter(headers?.get('retry-after'));
    return new ProviderError(provider, error.message, error.status, { retryAfterMs, cause: error });
  }
  const message = error instanceof Error ? error.message : String(error);
  return new ProviderError(provider, message, undefined, { cause: error });
}
