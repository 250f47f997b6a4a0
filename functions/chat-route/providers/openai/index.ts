import type { ProviderType } from '../../../../shared/config/index.js';
import type { HttpClient, HttpResponse } from '../../../../shared/net/http-client.js';
import type { ChatCompletion, ChatCompletionChunk, ChatRequest, EmbeddingsResponse } from '../../contract.js';
import { modelNameProblem } from '../model-names.js';
import { wireChunk } from '../sse-chunk.js';
import { type CallOptions, type ChatProvider, errorInBody, keepWireText, networkError, ProviderError } from '../types.js';
import { nativeResponses } from './responses.js';
import { errorOfRest, invalidAnswer, type OpenAIPath, type Post, parseBody, readText, sseData, statusError } from './wire.js';

export interface OpenAIProviderOptions {
  name: string;
  type: Extract<ProviderType, 'openai' | 'azure' | 'openai_compatible'>;
  apiKey?: string | undefined;
  baseURL?: string | undefined;
  /** Azure only. */
  endpoint?: string | undefined;
  apiVersion?: string | undefined;
  /** `POST /v1/responses` goes to the provider's own `/responses` (models.yaml `responses_api: native`). */
  responsesApi?: boolean | undefined;
  /** Node: an undici keep-alive pool; workerd: fetch (shared/net/fetch-http.ts). */
  http: HttpClient;
}

/**
 * OpenAI, Azure OpenAI and every OpenAI-compatible server (LiteLLM, vLLM, Ollama): the wire format
 * spoken directly over an {@link HttpClient}, the same code on both runtimes (the official SDK's
 * fetch-and-web-streams machinery would cost several times the proxying itself). No retries of
 * its own: retry, fallback and timeouts belong to the attempt loop.
 *
 * @example
 * const local = createOpenAIProvider({ name: 'local', type: 'openai_compatible', baseURL: 'http://127.0.0.1:11434/v1', http: createFetchHttp() });
 */
export function createOpenAIProvider(options: OpenAIProviderOptions): ChatProvider {
  const { name, http } = options;
  const azure = options.type === 'azure';
  const base = (
    azure ? `${options.endpoint ?? ''}`.replace(/\/+$/, '') : (options.baseURL ?? 'https://api.openai.com/v1').replace(/\/+$/, '')
  ) as string;
  const apiVersion = encodeURIComponent(options.apiVersion ?? '2024-10-21');
  const url = (path: OpenAIPath, model: string) => {
    if (!azure) return `${base}/${path}`;
    // Azure's Responses API is its v1 API: the deployment goes in the body's model, not the path.
    if (path === 'responses') return `${base}/openai/v1/responses`;
    const problem = modelNameProblem('azure', model);
    if (problem) throw new ProviderError(name, `deployment "${model}" refused: ${problem}`, 400);
    return `${base}/openai/deployments/${encodeURIComponent(model)}/${path}?api-version=${apiVersion}`;
  };
  const headers = (call: CallOptions): Record<string, string> => ({
    'content-type': 'application/json',
    accept: 'application/json',
    ...(options.apiKey ? (azure ? { 'api-key': options.apiKey } : { authorization: `Bearer ${options.apiKey}` }) : {}),
    ...call.headers,
  });
  const post: Post = async (path, call, body) => {
    const target = url(path, call.model);
    let response: HttpResponse;
    try {
      response = await http.post(target, headers(call), JSON.stringify(body), call.signal);
    } catch (error) {
      throw networkError(name, error);
    }
    if (response.status >= 400) throw await statusError(name, response);
    return response;
  };

  return {
    name,
    type: options.type,
    chat: async (request, call) => {
      // Undefined members are left out by JSON.stringify: one copy of the request, not two.
      const response = await post('chat/completions', call, {
        ...request,
        model: call.model,
        stream: undefined,
        stream_options: undefined,
      });
      const text = await readText(name, response);
      const completion = parseBody<ChatCompletion>(name, text);
      // A 200 whose body is an error is a failure, never an answer.
      if (!Array.isArray(completion.choices)) throw errorInBody(name, completion) ?? invalidAnswer(name, text);
      // Passed through as it came: parsed for usage and the model's name, never serialised again.
      return keepWireText(completion, text);
    },
    stream: (request, call) => streamChunks(name, request, call, post),
    embed: async (request, call) => {
      // Floats as JSON: callers get what they asked for, and nothing is decoded twice.
      const response = await post('embeddings', call, { ...request, model: call.model });
      const text = await readText(name, response, Number.POSITIVE_INFINITY);
      const embeddings = parseBody<EmbeddingsResponse>(name, text);
      if (!Array.isArray(embeddings.data)) throw errorInBody(name, embeddings) ?? invalidAnswer(name, text);
      return embeddings;
    },
    ...(options.responsesApi ? { responses: nativeResponses(name, post) } : {}),
  };
}

async function* streamChunks(name: string, request: ChatRequest, call: CallOptions, post: Post): AsyncIterable<ChatCompletionChunk> {
  const response = await post('chat/completions', call, {
    ...request,
    model: call.model,
    stream: true,
    stream_options: { include_usage: true },
  });
  const rest = { text: '' };
  let finished = false;
  for await (const batch of sseData(name, response, rest)) {
    for (const data of batch) {
      // Parsed only when it carries an error, usage or a finish reason (sse-chunk.ts).
      const { chunk, finished: last } = wireChunk(name, data);
      if (last) finished = true;
      yield chunk;
    }
  }
  // A server that answers a stream request with a plain JSON body (`{"error": …}` with status 200)
  // leaves it all in the buffer, with no event end: that is the provider's error, not a cut.
  if (!finished && rest.text.startsWith('{')) throw errorOfRest(name, rest.text, 'a completion');
  // A cut connection can look like a clean end; only a finish reason proves the answer is whole.
  if (!finished) throw new ProviderError(name, 'the stream ended before the model finished (no finish_reason)', undefined);
}
