import {
  GoogleGenerativeAI,
  GoogleGenerativeAIAbortError,
  GoogleGenerativeAIFetchError,
  GoogleGenerativeAIResponseError,
  type UsageMetadata,
} from '@google/generative-ai';
import { randomHex } from '../../../../shared/telemetry/correlation.js';
import type { ChatCompletionChunk } from '../../contract.js';
import { modelNameProblem } from '../model-names.js';
import { type CallOptions, type ChatProvider, errorInBody, ProviderError } from '../types.js';
import { chunkFromGemini, fromGemini, GeminiRefusal, type StreamState, toGemini, usageOf } from './translate.js';

export interface GeminiProviderOptions {
  name: string;
  apiKey: string;
  baseUrl?: string | undefined;
}

const newCallId = () => `call_${randomHex(12)}`;

/**
 * Google Gemini through `@google/generative-ai`. Only this file knows the SDK (translation is in
 * translate.ts), so moving to `@google/genai` is one file. That SDK calls the global fetch; the
 * correlation headers go with every call as custom headers.
 */
export function createGeminiProvider(options: GeminiProviderOptions): ChatProvider {
  const sdk = new GoogleGenerativeAI(options.apiKey);
  const name = options.name;
  const modelFor = (call: CallOptions, translated: ReturnType<typeof toGemini>) =>
    sdk.getGenerativeModel(
      {
        model: modelPath(name, call.model),
        generationConfig: translated.generationConfig,
        ...(translated.systemInstruction ? { systemInstruction: translated.systemInstruction } : {}),
        ...(translated.tools ? { tools: translated.tools } : {}),
        ...(translated.toolConfig ? { toolConfig: translated.toolConfig } : {}),
      },
      { ...(options.baseUrl ? { baseUrl: options.baseUrl } : {}), ...(call.headers ? { customHeaders: call.headers } : {}) },
    );

  return {
    name,
    type: 'gemini',
    chat: async (request, call) => {
      try {
        const translated = toGemini(request);
        const result = await modelFor(call, translated).generateContent(translated.request, { signal: call.signal });
        // A 200 whose body is an error is a failure, never an empty answer.
        const failed = errorInBody(name, result.response);
        if (failed) throw failed;
        if (!result.response.candidates?.length && !result.response.promptFeedback) {
          throw new ProviderError(name, 'Gemini answered without candidates', 502);
        }
        return fromGemini(result.response, call.model, `chatcmpl-${randomHex(12)}`, Math.floor(Date.now() / 1000), newCallId);
      } catch (error) {
        throw mapGeminiError(name, error);
      }
    },
    stream: (request, call) => streamChunks(name, modelFor, request, call),
    embed: async (request, call) => {
      const inputs = typeof request.input === 'string' ? [request.input] : request.input;
      if (!inputs.every((item): item is string => typeof item === 'string')) {
        throw new ProviderError(name, 'Gemini embeds text only; send strings as input', 400);
      }
      try {
        const model = sdk.getGenerativeModel(
          { model: modelPath(name, call.model) },
          { ...(options.baseUrl ? { baseUrl: options.baseUrl } : {}), ...(call.headers ? { customHeaders: call.headers } : {}) },
        );
        const result = await model.batchEmbedContents(
          {
            requests: inputs.map((text) => ({
              content: { role: 'user', parts: [{ text }] },
              ...(request.dimensions ? { outputDimensionality: request.dimensions } : {}),
            })),
          },
          { signal: call.signal },
        );
        const failed = errorInBody(name, result);
        if (failed) throw failed;
        if (!Array.isArray(result.embeddings)) throw new ProviderError(name, 'Gemini answered without embeddings', 502);
        const tokens = inputs.reduce((sum, text) => sum + Math.ceil(text.length / 4), 0);
        return {
          object: 'list',
          model: call.model,
          data: result.embeddings.map((embedding, index) => ({
            object: 'embedding',
            index,
            // OpenAI's SDKs ask for base64 by default and decode it as little-endian float32.
            embedding: request.encoding_format === 'base64' ? (toBase64Floats(embedding.values) as never) : embedding.values,
          })),
          // Gemini does not report embedding tokens; this estimate (4 characters a token) is marked as such in the docs.
          usage: { prompt_tokens: tokens, total_tokens: tokens },
        };
      } catch (error) {
        throw mapGeminiError(name, error);
      }
    },
  };
}

/**
 * The SDK puts the model into the URL as it is (`${base}/v1beta/${model}:${task}`) and takes a name
 * with a `/` as a whole path: only names Gemini allows pass, always as `models/<encoded name>`.
 */
function modelPath(provider: string, model: string): string {
  const problem = modelNameProblem('gemini', model);
  if (problem) throw new ProviderError(provider, `model "${model}" refused: ${problem}`, 400);
  return `models/${encodeURIComponent(model)}`;
}

async function* streamChunks(
  name: string,
  modelFor: (call: CallOptions, translated: ReturnType<typeof toGemini>) => ReturnType<GoogleGenerativeAI['getGenerativeModel']>,
  request: Parameters<ChatProvider['stream']>[0],
  call: CallOptions,
): AsyncIterable<ChatCompletionChunk> {
  let translated: ReturnType<typeof toGemini>;
  try {
    translated = toGemini(request);
  } catch (error) {
    throw mapGeminiError(name, error);
  }
  const id = `chatcmpl-${randomHex(12)}`;
  const created = Math.floor(Date.now() / 1000);
  let result: Awaited<ReturnType<ReturnType<GoogleGenerativeAI['getGenerativeModel']>['generateContentStream']>>;
  try {
    result = await modelFor(call, translated).generateContentStream(translated.request, { signal: call.signal });
  } catch (error) {
    throw mapGeminiError(name, error);
  }
  // The SDK tees the stream and aggregates its second copy into `result.response`, a promise nothing
  // here awaits. When the stream breaks (cut, idle timeout, client gone, first-token timeout) that
  // promise rejects too; unhandled, it ended the Node process. The failure itself reaches the caller
  // through `result.stream` below.
  result.response.catch(() => {});
  // Gemini repeats the running usage in every chunk: keep the last, never sum.
  let usage: UsageMetadata | undefined;
  let first = true;
  let finished = false;
  const state: StreamState = new Map();
  try {
    for await (const response of result.stream) {
      const failed = errorInBody(name, response);
      if (failed) throw failed;
      if (response.usageMetadata) usage = response.usageMetadata;
      if (response.candidates?.some((candidate) => candidate.finishReason)) finished = true;
      yield chunkFromGemini(response, call.model, id, created, newCallId, first, state);
      first = false;
    }
  } catch (error) {
    throw mapGeminiError(name, error);
  }
  if (!finished) throw new ProviderError(name, 'the stream ended before the model finished (no finishReason)', undefined);
  const total = usageOf(usage);
  if (total) yield { id, object: 'chat.completion.chunk', created, model: call.model, choices: [], usage: total };
}

/** Floats as OpenAI sends them with `encoding_format: "base64"`: little-endian float32, base64. */
function toBase64Floats(values: number[]): string {
  const bytes = new Uint8Array(new Float32Array(values).buffer);
  let binary = '';
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary);
}

/** SDK errors → ProviderError; Retry-After from Google's RetryInfo detail ("30s"). */
export function mapGeminiError(provider: string, error: unknown): ProviderError {
  if (error instanceof ProviderError) return error;
  if (error instanceof GeminiRefusal) return new ProviderError(provider, error.message, 400);
  if (error instanceof GoogleGenerativeAIAbortError || (error instanceof Error && error.name === 'AbortError')) {
    return new ProviderError(provider, 'request aborted', undefined, { timeout: true, cause: error });
  }
  if (error instanceof GoogleGenerativeAIFetchError) {
    const retryInfo = error.errorDetails?.find((detail) => String(detail['@type'] ?? '').endsWith('RetryInfo')) as
      | { retryDelay?: string }
      | undefined;
    const seconds = retryInfo?.retryDelay ? Number.parseFloat(retryInfo.retryDelay) : Number.NaN;
    return new ProviderError(provider, error.message, error.status, {
      retryAfterMs: Number.isFinite(seconds) ? seconds * 1000 : undefined,
      cause: error,
    });
  }
  if (error instanceof GoogleGenerativeAIResponseError) {
    // A blocked or unparsable response: the same request would fail again here; another model may answer.
    return new ProviderError(provider, error.message, 502, { action: 'next', cause: error });
  }
  const message = error instanceof Error ? error.message : String(error);
  // "Error fetching from …" without a status: the network failed.
  return new ProviderError(provider, message, undefined, { cause: error });
}
