import type { HttpClient, HttpResponse } from '../../../../shared/net/http-client.js';
import type { ChatCompletionChunk, ChatRequest } from '../../contract.js';
import { modelNameProblem } from '../model-names.js';
import { SseFrames } from '../sse-frames.js';
import { type CallOptions, type ChatProvider, networkError, ProviderError, parseRetryAfter } from '../types.js';
import { AnthropicRefusal, toAnthropic } from './request.js';
import { anthropicError, fromAnthropic, isErrorBody } from './response.js';
import { AnthropicStreamTranslator } from './stream.js';
import type { AnthropicRequest, AnthropicResponse } from './wire.js';

export interface AnthropicProviderOptions {
  name: string;
  apiKey: string;
  /** Without `/v1` (as the official SDKs take ANTHROPIC_BASE_URL); default https://api.anthropic.com. */
  baseURL?: string | undefined;
  /** The `anthropic-version` header; default 2023-06-01 (the current one). */
  apiVersion?: string | undefined;
  /** Node: an undici keep-alive pool; workerd: fetch (shared/net/fetch-http.ts). */
  http: HttpClient;
}

/**
 * Anthropic's Messages API spoken directly over an {@link HttpClient}, as the OpenAI adapter does:
 * the same code on both runtimes, no SDK retries or timeouts under the attempt loop's, and the
 * undici pool on Node. Translation lives in request.ts, response.ts and stream.ts.
 *
 * @example
 * const claude = createAnthropicProvider({ name: 'anthropic', apiKey, http: createFetchHttp() });
 */
export function createAnthropicProvider(options: AnthropicProviderOptions): ChatProvider {
  const { name, http } = options;
  const url = `${(options.baseURL ?? 'https://api.anthropic.com').replace(/\/+$/, '')}/v1/messages`;
  const version = options.apiVersion ?? '2023-06-01';

  const translate = (request: ChatRequest, call: CallOptions) => {
    const problem = modelNameProblem('anthropic', call.model);
    if (problem) throw new ProviderError(name, `model "${call.model}" refused: ${problem}`, 400);
    try {
      return toAnthropic(request, call.model);
    } catch (error) {
      if (error instanceof AnthropicRefusal) throw new ProviderError(name, `${error.message} (model ${call.model})`, 400);
      throw error;
    }
  };
  const post = async (call: CallOptions, body: AnthropicRequest): Promise<HttpResponse> => {
    const headers = {
      'content-type': 'application/json',
      accept: body.stream ? 'text/event-stream' : 'application/json',
      'x-api-key': options.apiKey,
      'anthropic-version': version,
      ...call.headers,
    };
    let response: HttpResponse;
    try {
      response = await http.post(url, headers, JSON.stringify(body), call.signal);
    } catch (error) {
      throw networkError(name, error);
    }
    if (response.status >= 400) throw await statusError(name, response);
    return response;
  };

  return {
    name,
    type: 'anthropic',
    chat: async (request, call) => {
      const { body, jsonTool } = translate(request, call);
      const response = await post(call, body);
      let text: string;
      try {
        text = await response.text();
      } catch (error) {
        throw networkError(name, error);
      }
      const message = parseJson(name, text) as AnthropicResponse;
      // A 200 whose body is an error is a failure, never an answer.
      if (isErrorBody(message)) throw anthropicError(name, message);
      if (message?.type !== 'message' || !Array.isArray(message.content))
        throw new ProviderError(name, `the provider's answer is not a message: ${text.slice(0, 120)}`, 502);
      return fromAnthropic(message, jsonTool, Math.floor(Date.now() / 1000));
    },
    stream: (request, call) => streamChunks(name, request, call, translate, post),
    embed: async () => {
      throw new ProviderError(name, 'Anthropic has no embeddings API; use an embedding model of another provider (GET /v1/models)', 400);
    },
  };
}

async function* streamChunks(
  name: string,
  request: ChatRequest,
  call: CallOptions,
  translate: (request: ChatRequest, call: CallOptions) => ReturnType<typeof toAnthropic>,
  post: (call: CallOptions, body: AnthropicRequest) => Promise<HttpResponse>,
): AsyncIterable<ChatCompletionChunk> {
  const { body, jsonTool } = translate(request, call);
  const response = await post(call, { ...body, stream: true });
  const frames = new SseFrames(name);
  const translator = new AnthropicStreamTranslator(name, call.model, Math.floor(Date.now() / 1000), jsonTool);
  try {
    for await (const bytes of response.chunks()) {
      for (const data of frames.push(bytes)) {
        for (const chunk of translator.push(data)) yield chunk;
        // message_stop is the last event: the answer is whole whatever the connection does next.
        if (translator.finished) return;
      }
    }
  } catch (error) {
    throw networkError(name, error);
  }
  // A server that answers a stream request with a plain JSON body (an error with status 200)
  // leaves it all in the buffer, with no event end: that is the provider's error, not a cut.
  const rest = frames.rest();
  if (rest.startsWith('{')) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(rest);
    } catch {
      parsed = undefined;
    }
    if (isErrorBody(parsed)) throw anthropicError(name, parsed);
    throw new ProviderError(name, `the provider's answer is not an event stream: ${rest.slice(0, 120)}`, 502);
  }
  // A cut connection can look like a clean end; only message_stop proves the answer is whole.
  throw new ProviderError(name, 'the stream ended before the model finished (no message_stop)', undefined);
}

function parseJson(name: string, text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    throw new ProviderError(name, `the provider answered with invalid JSON: ${text.slice(0, 120)}`, 502, { action: 'retry' });
  }
}

async function statusError(name: string, response: HttpResponse): Promise<ProviderError> {
  const text = await response.text().catch(() => '');
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    body = { type: 'error', error: { type: 'http_error', message: text.slice(0, 200) || `${response.status} status code` } };
  }
  return anthropicError(name, body, response.status, parseRetryAfter(response.header('retry-after')));
}
