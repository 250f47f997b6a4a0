/**
 * The fake upstream of the chat benchmark: answers OpenAI chat completions (JSON or SSE) at once.
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
    if (body.includes('"stream":true')) {
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
