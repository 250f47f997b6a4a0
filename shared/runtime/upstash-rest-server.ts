/**
 * A small server that speaks the Upstash Redis REST protocol over a real Redis, for development and
 * tests (nothing on npm does this; in Docker the compose file uses the serverless-redis-http image).
 *
 * Protocol: `POST /` with a JSON array command, `POST /pipeline` and `POST /multi-exec` with arrays
 * of commands; `Authorization: Bearer <token>`; replies `{"result": …}` or `{"error": "…"}`. With
 * `Upstash-Encoding: base64` every string in a reply is base64-encoded (the client decodes them all).
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Redis } from 'ioredis';

export interface UpstashRestServer {
  url: string;
  token: string;
  stop(): Promise<void>;
}

type Reply = { result: unknown } | { error: string };
const MAX_BODY = 8 * 1024 * 1024;

export async function startUpstashRestServer(options: {
  redisUrl: string;
  token: string;
  port?: number;
  host?: string;
}): Promise<UpstashRestServer> {
  const redis = new Redis(options.redisUrl, { lazyConnect: true, maxRetriesPerRequest: 1, enableOfflineQueue: true });
  await redis.connect();
  const server: Server = createServer((request, response) => {
    handle(redis, options.token, request, response).catch((error: unknown) => send(response, 500, { error: String(error) }, false));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, options.host ?? '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://${options.host ?? '127.0.0.1'}:${port}`,
    token: options.token,
    stop: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      redis.disconnect();
    },
  };
}

async function handle(redis: Redis, token: string, request: IncomingMessage, response: ServerResponse): Promise<void> {
  const base64 = String(request.headers['upstash-encoding'] ?? '').toLowerCase() === 'base64';
  if (request.headers.authorization !== `Bearer ${token}`) return send(response, 401, { error: 'Unauthorized' }, false);
  if (request.method !== 'POST') return send(response, 405, { error: 'use POST' }, false);
  let body: unknown;
  try {
    body = JSON.parse(await readBody(request));
  } catch (error) {
    return send(response, 400, { error: `ERR ${(error as Error).message}` }, false);
  }
  const path = (request.url ?? '/').split('?')[0];
  if (path === '/') {
    if (!isCommand(body)) return send(response, 400, { error: 'ERR body must be a JSON array command' }, false);
    const reply = await run(redis, body);
    return send(response, 'error' in reply ? 400 : 200, reply, base64);
  }
  if (path === '/pipeline' || path === '/multi-exec') {
    if (!Array.isArray(body) || !body.every(isCommand))
      return send(response, 400, { error: 'ERR body must be an array of commands' }, false);
    const replies = path === '/pipeline' ? await Promise.all(body.map((command) => run(redis, command))) : await transaction(redis, body);
    return send(response, 200, replies, base64);
  }
  return send(response, 404, { error: `ERR unknown path ${path}` }, false);
}

function isCommand(value: unknown): value is Array<string | number> {
  return (
    Array.isArray(value) &&
    value.length > 0 &&
    value.every((part) => typeof part === 'string' || typeof part === 'number' || typeof part === 'boolean')
  );
}

async function run(redis: Redis, [name, ...args]: Array<string | number>): Promise<Reply> {
  try {
    return { result: normalize(await redis.call(String(name), ...args.map(String))) };
  } catch (error) {
    return { error: (error as Error).message };
  }
}

async function transaction(redis: Redis, commands: Array<Array<string | number>>): Promise<Reply[]> {
  const multi = redis.multi(commands.map(([name, ...args]) => ['call', String(name), ...args.map(String)]));
  const results = (await multi.exec()) ?? [];
  return results.map(([error, result]) => (error ? { error: error.message } : { result: normalize(result) }));
}

/** Raw RESP shapes as Upstash returns them: buffers as strings, maps flattened to arrays. */
function normalize(value: unknown): unknown {
  if (Buffer.isBuffer(value)) return value.toString('utf8');
  if (Array.isArray(value)) return value.map(normalize);
  if (value !== null && typeof value === 'object') return Object.entries(value).flatMap(([key, item]) => [key, normalize(item)]);
  return value;
}

function encode(value: unknown): unknown {
  if (typeof value === 'string') return Buffer.from(value, 'utf8').toString('base64');
  if (Array.isArray(value)) return value.map(encode);
  if (value !== null && typeof value === 'object')
    return Object.fromEntries(Object.entries(value).map(([key, item]) => [key, key === 'error' ? item : encode(item)]));
  return value;
}

function send(response: ServerResponse, status: number, body: unknown, base64: boolean): void {
  const text = JSON.stringify(base64 ? encode(body) : body);
  response.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  response.end(text);
}

function readBody(request: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    request.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY) {
        reject(new Error('body too large'));
        request.destroy();
      } else chunks.push(chunk);
    });
    request.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    request.on('error', reject);
  });
}
