import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { ROOT_DIR } from '../../shared/runtime/node-config.js';

const FIXTURES = join(ROOT_DIR, 'functions', 'chat-route', '__fixtures__');
export const fixture = (name: string): string => readFileSync(join(FIXTURES, name), 'utf8');
const lines = (name: string) => fixture(name).trim().split('\n');

/** What the fake does for a matching request. Without a rule it replays the recorded fixtures. */
export type Behaviour =
  /** A string body goes out as it is (exact bytes); anything else as JSON. */
  | {
      status: number;
      body?: unknown;
      headers?: Record<string, string>;
      /** Headers go out at once, the body this much later (a slow body after the headers). */
      bodyDelayMs?: number;
      /** Only this many bytes of the body go out (with the whole length announced), then the connection drops. */
      cutAfterBytes?: number;
    }
  | { hang: true }
  | { refuse: true }
  | {
      sse: string[];
      delayMs?: number;
      /** Headers go out at once, the first event this much later. */
      firstDelayMs?: number;
      after?: 'end' | 'hang' | 'drop';
    }
  | { delayMs: number };

export interface RecordedRequest {
  path: string;
  model: string;
  stream: boolean;
  body: Record<string, unknown>;
  headers: IncomingMessage['headers'];
  /** True once the gateway closed the connection before the answer was complete (it gave up on it). */
  abandoned: boolean;
}

/**
 * One loopback server speaking the wire formats the gateway uses: OpenAI (`/v1/chat/completions`,
 * `/v1/embeddings`, Azure's `/openai/deployments/<d>/…`), Gemini (`/v1beta/models/<m>:…`) and
 * Anthropic (`/v1/messages`). Responses are the recorded fixtures in functions/chat-route/__fixtures__.
 */
export async function startFakeLLM() {
  const requests: RecordedRequest[] = [];
  const rules: Array<{ model: string; behaviours: Behaviour[]; sticky: boolean }> = [];
  const server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      let body: Record<string, unknown> = {};
      try {
        body = (text ? JSON.parse(text) : {}) as Record<string, unknown>;
      } catch {}
      const path = request.url ?? '/';
      const gemini = /\/v1beta\/models\/([^:]+):(\w+)/.exec(path);
      const azure = /\/openai\/deployments\/([^/]+)\//.exec(path);
      const model = gemini?.[1] ?? azure?.[1] ?? String(body.model ?? '');
      const stream = gemini ? gemini[2] === 'streamGenerateContent' : body.stream === true;
      const recorded: RecordedRequest = { path, model, stream, body, headers: request.headers, abandoned: false };
      requests.push(recorded);
      response.once('close', () => {
        if (!response.writableFinished) recorded.abandoned = true;
      });
      const rule = rules.find((r) => r.model === model || r.model === '*');
      let behaviour: Behaviour | undefined;
      if (rule) {
        behaviour = rule.sticky ? rule.behaviours[0] : rule.behaviours.shift();
        if (!rule.sticky && rule.behaviours.length === 0) rules.splice(rules.indexOf(rule), 1);
      }
      const anthropic = path.split('?')[0]?.endsWith('/v1/messages') ?? false;
      const responses = path.split('?')[0]?.endsWith('/responses') ?? false;
      void respond(
        response,
        request,
        { path, model, stream, body, gemini: Boolean(gemini), geminiMethod: gemini?.[2], anthropic, responses },
        behaviour,
      );
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url,
    requests,
    /** The next `behaviours.length` requests for `model` get these, in order. */
    queue(model: string, ...behaviours: Behaviour[]) {
      rules.push({ model, behaviours, sticky: false });
    },
    /** Every request for `model` gets this until reset. */
    always(model: string, behaviour: Behaviour) {
      rules.push({ model, behaviours: [behaviour], sticky: true });
    },
    reset() {
      rules.length = 0;
      requests.length = 0;
    },
    close() {
      server.closeAllConnections();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

interface Parsed {
  path: string;
  model: string;
  stream: boolean;
  body: Record<string, unknown>;
  gemini: boolean;
  geminiMethod: string | undefined;
  anthropic: boolean;
  /** OpenAI's Responses API (`/v1/responses`, Azure's `/openai/v1/responses`). */
  responses: boolean;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function respond(
  response: ServerResponse,
  request: IncomingMessage,
  parsed: Parsed,
  behaviour: Behaviour | undefined,
): Promise<void> {
  if (behaviour && 'hang' in behaviour) return; // never answers
  if (behaviour && 'refuse' in behaviour) {
    request.socket.destroy();
    return;
  }
  if (behaviour && 'status' in behaviour) {
    const body = behaviour.body ?? { error: { message: `status ${behaviour.status}` } };
    const text = Buffer.from(typeof body === 'string' ? body : JSON.stringify(body));
    response.writeHead(behaviour.status, { 'content-type': 'application/json', 'content-length': text.length, ...behaviour.headers });
    if (behaviour.bodyDelayMs) {
      response.flushHeaders();
      await sleep(behaviour.bodyDelayMs);
    }
    if (behaviour.cutAfterBytes !== undefined) {
      response.write(text.subarray(0, behaviour.cutAfterBytes));
      await sleep(20);
      response.socket?.destroy();
      return;
    }
    response.end(text);
    return;
  }
  if (behaviour && 'delayMs' in behaviour && !('sse' in behaviour)) await sleep(behaviour.delayMs);
  if (behaviour && 'sse' in behaviour)
    return writeSse(
      response,
      behaviour.sse,
      behaviour.delayMs ?? 0,
      behaviour.after ?? 'end',
      parsed.anthropic || parsed.responses ? 'named' : parsed.gemini,
      behaviour.firstDelayMs,
    );

  if (parsed.gemini) {
    if (parsed.geminiMethod === 'batchEmbedContents') {
      const all = JSON.parse(fixture('gemini-embeddings.json')) as { embeddings: unknown[] };
      const count = (parsed.body.requests as unknown[] | undefined)?.length ?? 1;
      return json(response, { embeddings: all.embeddings.slice(0, count) });
    }
    if (parsed.stream) return writeSse(response, lines('gemini-stream.jsonl'), 0, 'end', true);
    return json(response, JSON.parse(fixture(parsed.body.tools ? 'gemini-function-call.json' : 'gemini-generate.json')));
  }
  if (parsed.anthropic) {
    const tools = Array.isArray(parsed.body.tools) && parsed.body.tools.length > 0;
    if (parsed.stream) return writeSse(response, anthropicEvents(tools ? 'stream-tool-use.sse' : 'stream-text.sse'), 0, 'end', 'named');
    return json(response, JSON.parse(fixture(`anthropic/${tools ? 'message-tool-use.json' : 'message.json'}`)));
  }
  if (parsed.responses) {
    const tools = Array.isArray(parsed.body.tools) && parsed.body.tools.length > 0;
    if (parsed.stream)
      return writeSse(
        response,
        sseEvents(tools ? 'openai-responses-stream-function-call.sse' : 'openai-responses-stream.sse'),
        0,
        'end',
        'named',
      );
    return json(response, {
      ...JSON.parse(fixture(tools ? 'openai-responses-function-call.json' : 'openai-responses.json')),
      model: parsed.model,
    });
  }
  if (parsed.path.includes('/embeddings')) {
    const recorded = JSON.parse(fixture('openai-embeddings.json')) as { data: Array<{ embedding: number[] | string }> };
    // As OpenAI does: base64 of little-endian float32 when asked (the SDK asks by default).
    if (parsed.body.encoding_format === 'base64') {
      for (const item of recorded.data)
        item.embedding = Buffer.from(new Float32Array(item.embedding as number[]).buffer).toString('base64');
    }
    return json(response, { ...recorded, model: parsed.model });
  }
  if (parsed.stream) {
    const chunks = lines('openai-chat-stream.jsonl').map((line) => JSON.stringify({ ...JSON.parse(line), model: parsed.model }));
    return writeSse(response, [...chunks, '[DONE]'], 0, 'end', false);
  }
  return json(response, { ...JSON.parse(fixture('openai-chat.json')), model: parsed.model });
}

function json(response: ServerResponse, body: unknown): void {
  const text = JSON.stringify(body);
  response.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  response.end(text);
}

async function writeSse(
  response: ServerResponse,
  events: string[],
  delayMs: number,
  after: 'end' | 'hang' | 'drop',
  /** Gemini ends events with CRLF; Anthropic and OpenAI's Responses API name each event's type in an `event:` line. */
  format: boolean | 'named',
  firstDelayMs = 0,
): Promise<void> {
  response.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
  if (firstDelayMs) {
    response.flushHeaders();
    await sleep(firstDelayMs);
  }
  for (const event of events) {
    if (response.destroyed) return; // the gateway went away
    response.write(`${format === 'named' ? eventLine(event) : ''}data: ${event}${format === true ? '\r\n\r\n' : '\n\n'}`);
    if (delayMs) await sleep(delayMs);
  }
  if (after === 'end') response.end();
  else if (after === 'drop') response.socket?.destroy();
  // 'hang': keep the connection open and silent.
}

/** The data of each event of a recorded Anthropic SSE fixture (`anthropic/<name>`). */
export const anthropicEvents = (name: string): string[] => sseEvents(`anthropic/${name}`);

/** The data of each event of an SSE fixture (`event:` / `data:` blocks). */
export function sseEvents(name: string): string[] {
  return fixture(name)
    .split(/\n\n/)
    .map((block) => /^data: (.*)$/m.exec(block)?.[1])
    .filter((data): data is string => Boolean(data));
}

/** Anthropic's `event: <type>` line for an event's data (none for data that is not a typed event). */
function eventLine(data: string): string {
  try {
    const type = (JSON.parse(data) as { type?: unknown }).type;
    return typeof type === 'string' ? `event: ${type}\n` : '';
  } catch {
    return '';
  }
}

/** An OpenAI chat completion as the provider sends it: an answer (`content`) or `tool_calls`. */
export function chatCompletion(
  model: string,
  message: { content?: string | null; tool_calls?: unknown[] },
  usage = { prompt_tokens: 100, completion_tokens: 20, total_tokens: 120 },
) {
  return {
    id: `chatcmpl-${Math.random().toString(36).slice(2)}`,
    object: 'chat.completion',
    created: 1_764_000_000,
    model,
    choices: [
      {
        index: 0,
        message: {
          role: 'assistant',
          content: message.content ?? null,
          refusal: null,
          ...(message.tool_calls ? { tool_calls: message.tool_calls } : {}),
        },
        finish_reason: message.tool_calls ? 'tool_calls' : 'stop',
        logprobs: null,
      },
    ],
    usage,
  };
}

/** A fake's reply (for `queue` / `always`): 200 with that completion. */
export const completionReply = (...args: Parameters<typeof chatCompletion>) => ({ status: 200, body: chatCompletion(...args) });

/** The provider settings that point the gateway's OpenAI, Gemini and Anthropic providers at a fake LLM at `url`. */
export const fakeProviderEnv = (url: string) => ({
  OPENAI_API_KEY: 'test-openai-key',
  OPENAI_BASE_URL: `${url}/v1`,
  GEMINI_API_KEY: 'test-gemini-key',
  GEMINI_BASE_URL: url,
  ANTHROPIC_API_KEY: 'test-anthropic-key',
  ANTHROPIC_BASE_URL: url,
});

/** An SSE body read into its events: each `data` payload with its `event` name (if any). */
export async function readSse(response: Response): Promise<Array<{ event: string | undefined; data: string }>> {
  const text = await response.text();
  return text
    .split('\n\n')
    .filter(Boolean)
    .map((block) => ({ event: /^event: (.*)$/m.exec(block)?.[1], data: /^data: (.*)$/m.exec(block)?.[1] ?? '' }));
}

/**
 * A Response of OpenAI's Responses API as the provider sends it (`store: false`, as the gateway asks):
 * a message (`content`) or function calls, and usage. For `queue` / `always` on a native provider.
 */
export function nativeResponse(
  model: string,
  answer: { content?: string; calls?: Array<{ name: string; arguments: string; call_id?: string }>; status?: 'completed' | 'incomplete' },
  usage = { input_tokens: 100, output_tokens: 20, total_tokens: 120 },
) {
  const id = () => Math.random().toString(16).slice(2).padEnd(12, '0');
  const output: unknown[] = [];
  if (answer.content !== undefined)
    output.push({
      id: `msg_${id()}${id()}`,
      type: 'message',
      status: 'completed',
      role: 'assistant',
      content: [{ type: 'output_text', annotations: [], logprobs: [], text: answer.content }],
    });
  for (const call of answer.calls ?? [])
    output.push({ id: `fc_${id()}${id()}`, type: 'function_call', status: 'completed', call_id: call.call_id ?? `call_${id()}`, ...call });
  const status = answer.status ?? 'completed';
  return {
    ...JSON.parse(fixture('openai-responses.json')),
    id: `resp_${id()}${id()}`,
    model,
    status,
    incomplete_details: status === 'incomplete' ? { reason: 'max_output_tokens' } : null,
    output,
    usage: {
      ...usage,
      input_tokens_details: { cached_tokens: 0 },
      output_tokens_details: { reasoning_tokens: 0 },
    },
  };
}

/** A fake's reply (for `queue` / `always`): 200 with that Response. */
export const nativeReply = (...args: Parameters<typeof nativeResponse>) => ({ status: 200, body: nativeResponse(...args) });

/**
 * A Responses API event stream as the provider sends it, for `queue` / `always` (`sse`): the recorded
 * stream's event sequence with `text` in `deltas` pieces and the given usage.
 */
export function nativeStream(text: string, usage = { input_tokens: 5, output_tokens: 9, total_tokens: 14 }, deltas = 2): string[] {
  const done = nativeResponse('gpt-4o-mini', { content: text }, usage);
  const message = done.output[0] as { id: string };
  const opening = { ...done, status: 'in_progress', output: [], usage: null };
  const size = Math.ceil(text.length / deltas);
  const pieces = Array.from({ length: deltas }, (_, i) => text.slice(i * size, (i + 1) * size)).filter(Boolean);
  const at = { item_id: message.id, output_index: 0, content_index: 0 };
  const part = (t: string) => ({ type: 'output_text', annotations: [], logprobs: [], text: t });
  const events: object[] = [
    { type: 'response.created', response: opening },
    { type: 'response.in_progress', response: opening },
    { type: 'response.output_item.added', output_index: 0, item: { ...message, status: 'in_progress', content: [] } },
    { type: 'response.content_part.added', ...at, part: part('') },
    ...pieces.map((delta) => ({ type: 'response.output_text.delta', ...at, delta, logprobs: [] })),
    { type: 'response.output_text.done', ...at, text, logprobs: [] },
    { type: 'response.content_part.done', ...at, part: part(text) },
    { type: 'response.output_item.done', output_index: 0, item: message },
    { type: 'response.completed', response: done },
  ];
  return events.map((event, sequence_number) => JSON.stringify({ ...event, sequence_number }));
}

/** A function tool call as a model writes it in a chat completion (`arguments` is JSON text). */
export const toolCall = (name: string, args: unknown, id = `call_${Math.random().toString(36).slice(2, 10)}`) => ({
  id,
  type: 'function',
  function: { name, arguments: JSON.stringify(args) },
});
