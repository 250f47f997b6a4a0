/**
 * A second floor: the smallest Hono app on @hono/node-server that forwards a chat completion with
 * undici, as MYCA Edge's Node path does, and nothing else (no auth, log line, metrics, spans,
 * async context, validation, routing or fallback). What (c) costs above it is MYCA Edge's own work.
 */
import type { AddressInfo } from 'node:net';
import { serve } from '@hono/node-server';
import { Hono } from 'hono';
import { Agent, request } from 'undici';

const agent = new Agent({ connections: 128, keepAliveTimeout: 30_000 });

/** Forwards one chat completion body to `upstream` with undici and answers with what came back. */
export async function forward(upstream: string, body: Record<string, unknown>): Promise<Response> {
  const response = await request(`${upstream}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ ...body, model: 'gpt-4o-mini' }),
    dispatcher: agent,
  });
  const contentType = String(response.headers['content-type'] ?? 'application/json');
  if (body.stream) {
    // Pulled chunk by chunk (Node 20's Readable.toWeb throws when the client goes away mid-stream).
    const chunks = response.body[Symbol.asyncIterator]();
    const stream = new ReadableStream<Uint8Array>({
      pull: async (controller) => {
        const next = await chunks.next();
        if (next.done) controller.close();
        else controller.enqueue(next.value as Uint8Array);
      },
      cancel: () => void response.body.destroy(),
    });
    return new Response(stream, { status: response.statusCode, headers: { 'content-type': contentType } });
  }
  return new Response(await response.body.text(), { status: response.statusCode, headers: { 'content-type': contentType } });
}

// Run as a script (bench:chat's (b2) row); imported, it only lends `forward` (bench/chat-ladder.ts).
// (By the script's name: bundled into the ladder, import.meta.url is the bundle's.)
if (/hono-forwarder\.[jt]s$/.test(process.argv[1] ?? '')) {
  const upstream = process.argv[2] ?? 'http://127.0.0.1:1';
  const app = new Hono();
  app.post('/v1/chat/completions', async (c) => forward(upstream, await c.req.json()));
  const server = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }, () =>
    process.stdout.write(`LISTENING ${(server.address() as AddressInfo).port}\n`),
  );
}
