/**
 * The fake upstream of the chat benchmark: answers OpenAI chat completions (JSON or SSE) at once,
 * and `/v1/responses` with a long Responses event stream (responsesStream).
 * A stream is a few chunks in one write; a request with `user: "bench-chunks-N"` streams a long answer
 * instead (a field the gateway passes on as it is; it adds its own `max_tokens`): N chunks in all (the role, N − 3 of a few tokens each, the finish reason, the usage last),
 * each written on its own turn of the event loop, as a provider trickles tokens.
 */
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

const completion = JSON.stringify({
  id: 'chatcmpl-bench',
  object: 'chat.completion',
  created: 1741569952,
  model: 'gpt-4o-mini',
  choices: [
    {
      index: 0,
      message: { role: 'assistant', content: 'Hello! How can I assist you today?', refusal: null },
      logprobs: null,
      finish_reason: 'stop',
    },
  ],
  usage: { prompt_tokens: 19, completion_tokens: 10, total_tokens: 29 },
});
const chunk = (delta: object, finish: string | null) =>
  `data: ${JSON.stringify({ id: 'chatcmpl-bench', object: 'chat.completion.chunk', created: 1, model: 'gpt-4o-mini', choices: [{ index: 0, delta, finish_reason: finish }] })}\n\n`;
const usage = (completionTokens: number) =>
  `data: ${JSON.stringify({ id: 'chatcmpl-bench', object: 'chat.completion.chunk', created: 1, model: 'gpt-4o-mini', choices: [], usage: { prompt_tokens: 9, completion_tokens: completionTokens, total_tokens: 9 + completionTokens } })}\n\n`;
const stream = [
  chunk({ role: 'assistant', content: '' }, null),
  chunk({ content: 'Hello' }, null),
  chunk({ content: ' there' }, null),
  chunk({}, 'stop'),
  usage(2),
  'data: [DONE]\n\n',
].join('');

const WORDS = [' the', ' gateway', ' streams', ' a', ' longer', ' answer,', ' token', ' by', ' token.'];
/** A long answer's events, `count` chunks in all, then `[DONE]`. */
function longStream(count: number): string[] {
  const events = [chunk({ role: 'assistant', content: '' }, null)];
  for (let i = 0; i < count - 3; i++) events.push(chunk({ content: `${WORDS[i % WORDS.length]}${WORDS[(i + 3) % WORDS.length]}` }, null));
  events.push(chunk({}, 'stop'), usage(2 * (count - 3)), 'data: [DONE]\n\n');
  return events;
}
const longStreams = new Map<number, string[]>();

/**
 * OpenAI's Responses API, streamed: `count` events in all (created, in_progress, the message item and
 * its part, count − 8 text deltas, their four `.done` events, completed with usage), as the gateway's
 * native pass-through meets them (`POST /v1/responses` on an OpenAI task).
 */
function responsesStream(count: number): string[] {
  const id = 'resp_bench0000000000000000';
  const item = 'msg_bench0000000000000000';
  const shell = (status: string, output: unknown[], usage: unknown) => ({
    id,
    object: 'response',
    created_at: 1764421185,
    status,
    error: null,
    incomplete_details: null,
    model: 'gpt-4o-mini-2024-07-18',
    output,
    parallel_tool_calls: true,
    previous_response_id: null,
    store: false,
    temperature: 1,
    text: { format: { type: 'text' } },
    tool_choice: 'auto',
    tools: [],
    top_p: 1,
    truncation: 'disabled',
    usage,
    metadata: {},
  });
  const deltas = Math.max(1, count - 8);
  const pieces = Array.from({ length: deltas }, (_, i) => `${WORDS[i % WORDS.length]}${WORDS[(i + 3) % WORDS.length]}`);
  const text = pieces.join('');
  const at = { item_id: item, output_index: 0, content_index: 0 };
  const message = {
    id: item,
    type: 'message',
    status: 'completed',
    role: 'assistant',
    content: [{ type: 'output_text', annotations: [], logprobs: [], text }],
  };
  const usage = {
    input_tokens: 9,
    input_tokens_details: { cached_tokens: 0 },
    output_tokens: 2 * deltas,
    output_tokens_details: { reasoning_tokens: 0 },
    total_tokens: 9 + 2 * deltas,
  };
  const events: Array<Record<string, unknown>> = [
    { type: 'response.created', response: shell('in_progress', [], null) },
    { type: 'response.in_progress', response: shell('in_progress', [], null) },
    { type: 'response.output_item.added', output_index: 0, item: { ...message, status: 'in_progress', content: [] } },
    { type: 'response.content_part.added', ...at, part: { type: 'output_text', annotations: [], logprobs: [], text: '' } },
    ...pieces.map((delta) => ({ type: 'response.output_text.delta', ...at, delta, logprobs: [], obfuscation: 'Xq3mB8' })),
    { type: 'response.output_text.done', ...at, text, logprobs: [] },
    { type: 'response.content_part.done', ...at, part: message.content[0] },
    { type: 'response.output_item.done', output_index: 0, item: message },
    { type: 'response.completed', response: shell('completed', [message], usage) },
  ];
  return events.map((event, sequence) => {
    const { type, ...rest } = event;
    return `event: ${type}\ndata: ${JSON.stringify({ type, sequence_number: sequence, ...rest })}\n\n`;
  });
}
const responsesStreams = new Map<number, string[]>();

/** One event a turn: each is its own write (a system call, a TCP segment, an HTTP chunk). */
function trickle(response: ServerResponse, events: string[]): void {
  let next = 0;
  const write = () => {
    if (response.destroyed) return;
    response.write(events[next++] as string);
    if (next < events.length) setImmediate(write);
    else response.end();
  };
  write();
}

const server = createServer((request, response) => {
  let body = '';
  request.on('data', (c: Buffer) => {
    body += c;
  });
  request.on('end', () => {
    if (request.url?.endsWith('/responses')) {
      const count = Number(/"user":"bench-chunks-(\d+)"/.exec(body)?.[1] ?? 0) || 200;
      if (!responsesStreams.has(count)) responsesStreams.set(count, responsesStream(count));
      response.writeHead(200, { 'content-type': 'text/event-stream' });
      trickle(response, responsesStreams.get(count) as string[]);
    } else if (body.includes('"stream":true')) {
      response.writeHead(200, { 'content-type': 'text/event-stream' });
      const count = Number(/"user":"bench-chunks-(\d+)"/.exec(body)?.[1] ?? 0);
      if (count < 4) response.end(stream);
      else {
        if (!longStreams.has(count)) longStreams.set(count, longStream(count));
        trickle(response, longStreams.get(count) as string[]);
      }
    } else {
      response.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(completion) });
      response.end(completion);
    }
  });
});
server.keepAliveTimeout = 60_000;
server.listen(0, '127.0.0.1', () => process.stdout.write(`LISTENING ${(server.address() as AddressInfo).port}\n`));
