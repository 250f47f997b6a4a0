import type { ProviderType } from '../../../../shared/config/index.js';
import type { HttpClient, HttpResponse } from '../../../../shared/net/http-client.js';
import type { ChatCompletion, ChatCompletionChunk, ChatRequest, EmbeddingsResponse } from '../../contract.js';
import { modelNameProblem } from '../model-names.js';
import { wireChunk } from '../sse-chunk.js';
import { type CallOptions, type ChatProvider, errorInBody, keepWireText, networkError, ProviderError, parseRetryAfter } from '../types.js';

export interface OpenAIProviderOptions {
  name: string;
  type: Extract<ProviderType, 'openai' | 'azure' | 'openai_compatible'>;
  apiKey?: string | undefined;
  baseURL?: string | undefined;
  /** Azure only. */
  endpoint?: string | undefined;
  apiVersion?: string | undefined;
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
  const url = (path: 'chat/completions' | 'embeddings', model: string) => {
    if (!azure) return `${base}/${path}`;
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
  const post = async (path: 'chat/completions' | 'embeddings', call: CallOptions, body: object): Promise<HttpResponse> => {
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
      const text = await readText(name, response);
      const embeddings = parseBody<EmbeddingsResponse>(name, text);
      if (!Array.isArray(embeddings.data)) throw errorInBody(name, embeddings) ?? invalidAnswer(name, text);
      return embeddings;
    },
  };
}

/** The blank line that ends an SSE event, whichever line endings the server writes (`\n`, `\r\n`, mixed). */
const EVENT_END = /\r?\n\r?\n/;

/** The data of one SSE event: its `data:` lines joined; comments and other fields are left out. */
function eventData(block: string): string {
  // Nearly every event is one `data: {…}` line: no arrays for it.
  if (block.startsWith('data:') && !block.includes('\n')) return block.slice(5).trimStart();
  return block
    .split(/\r?\n/)
    .filter((line) => line.startsWith('data:'))
    .map((line) => line.slice(5).trimStart())
    .join('\n');
}

async function* streamChunks(
  name: string,
  request: ChatRequest,
  call: CallOptions,
  post: (path: 'chat/completions', call: CallOptions, body: object) => Promise<HttpResponse>,
): AsyncIterable<ChatCompletionChunk> {
  const response = await post('chat/completions', call, {
    ...request,
    model: call.model,
    stream: true,
    stream_options: { include_usage: true },
  });
  const decoder = new TextDecoder();
  let buffer = '';
  let finished = false;
  try {
    for await (const bytes of response.chunks()) {
      buffer += decoder.decode(bytes, { stream: true });
      for (let end = EVENT_END.exec(buffer); end; end = EVENT_END.exec(buffer)) {
        const block = buffer.slice(0, end.index);
        buffer = buffer.slice(end.index + end[0].length);
        const data = eventData(block);
        if (data && data !== '[DONE]') {
          // Parsed only when it carries an error, usage or a finish reason (sse-chunk.ts).
          const { chunk, finished: last } = wireChunk(name, data);
          if (last) finished = true;
          yield chunk;
        }
      }
    }
  } catch (error) {
    throw error instanceof ProviderError ? error : networkError(name, error);
  }
  // A server that answers a stream request with a plain JSON body (`{"error": …}` with status 200)
  // leaves it all in the buffer, with no event end: that is the provider's error, not a cut.
  const rest = buffer.trim();
  if (!finished && rest.startsWith('{')) {
    let body: unknown;
    try {
      body = JSON.parse(rest);
    } catch {
      body = undefined;
    }
    throw errorInBody(name, body) ?? invalidAnswer(name, rest);
  }
  // A cut connection can look like a clean end; only a finish reason proves the answer is whole.
  if (!finished) throw new ProviderError(name, 'the stream ended before the model finished (no finish_reason)', undefined);
}

function invalidAnswer(name: string, text: string): ProviderError {
  return new ProviderError(name, `the provider's answer is not a completion: ${text.slice(0, 120)}`, 502);
}

async function readText(name: string, response: HttpResponse): Promise<string> {
  try {
    return await response.text();
  } catch (error) {
    throw networkError(name, error);
  }
}

function parseBody<T>(name: string, text: string): T {
  try {
    return JSON.parse(text) as T;
  } catch {
    throw new ProviderError(name, `the provider answered with invalid JSON: ${text.slice(0, 120)}`, 502, { action: 'retry' });
  }
}

async function statusError(name: string, response: HttpResponse): Promise<ProviderError> {
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
