/**
 * The native Responses pass-through (providers/openai/responses.ts, responses.ts, responses-stream.ts)
 * against a hostile caller with a valid key and a hostile or broken upstream (an outside review's
 * cases; each that failed before its fix is kept as a regression test).
 *
 * Both runtimes. The OpenAI provider points at a raw loopback server of this file (it writes bytes exactly as
 * told: split mid-line, CRLF, giant events); Gemini at the shared fake LLM (the bridged fallback).
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import postgres from 'postgres';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { spendWriter } from '../shared/governance/spend.js';
import { apiKeys, headers, keys, migratedDatabase } from './support/actions.js';
import type { TestDatabase } from './support/databases.js';
import { chatCompletion, fakeProviderEnv, nativeResponse, nativeStream, readSse, startFakeLLM } from './support/fake-llm.js';
import { RUNTIMES, type RuntimeHandle, startRuntime } from './support/runtimes.js';

type Handler = (request: IncomingMessage, response: ServerResponse, body: Record<string, unknown>) => void | Promise<void>;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A raw upstream: each request to /responses takes the next queued handler, else a normal answer. */
async function startRawUpstream() {
  const requests: Array<{ path: string; body: Record<string, unknown>; headers: IncomingMessage['headers'] }> = [];
  const queue: Handler[] = [];
  const server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (c: Buffer) => chunks.push(c));
    request.on('end', () => {
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}') as Record<string, unknown>;
      requests.push({ path: request.url ?? '', body, headers: request.headers });
      const handler = queue.shift();
      if (handler) return void handler(request, response, body);
      if (body.stream) {
        response.writeHead(200, { 'content-type': 'text/event-stream' });
        for (const data of nativeStream('Hello there')) response.write(named(data));
        return void response.end();
      }
      const text = JSON.stringify(nativeResponse(String(body.model), { content: 'Hello there' }));
      response.writeHead(200, { 'content-type': 'application/json' });
      response.end(text);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    requests,
    queue,
    close: () => {
      server.closeAllConnections();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

const named = (data: string, eol = '\n') => `event: ${/"type":"([^"]+)"/.exec(data)?.[1] ?? 'x'}${eol}data: ${data}${eol}${eol}`;
/** Writes `text` to the response in pieces of `size` bytes, each its own network write. */
async function writeInPieces(response: ServerResponse, text: string, size: number) {
  response.writeHead(200, { 'content-type': 'text/event-stream' });
  response.flushHeaders();
  for (let i = 0; i < text.length; i += size) {
    response.write(text.slice(i, i + size));
    await sleep(2);
  }
  response.end();
}
const sse =
  (events: string[]): Handler =>
  async (_req, response) => {
    response.writeHead(200, { 'content-type': 'text/event-stream' });
    for (const data of events) response.write(named(data));
    response.end();
  };

describe.each(RUNTIMES)('native /v1/responses under attack (%s)', (runtime) => {
  let upstream: Awaited<ReturnType<typeof startRawUpstream>>;
  let llm: Awaited<ReturnType<typeof startFakeLLM>>;
  let database: TestDatabase;
  let sql: postgres.Sql;
  let app: RuntimeHandle;

  beforeAll(async () => {
    upstream = await startRawUpstream();
    llm = await startFakeLLM();
    database = await migratedDatabase();
    sql = postgres(database.url, { max: 2, onnotice: () => {} });
    app = await startRuntime(runtime, {
      MYCA_API_KEYS: apiKeys,
      ...fakeProviderEnv(llm.url),
      OPENAI_BASE_URL: `${upstream.url}/v1`,
      OPENAI_API_KEY: 'sk-proj-REVIEWSECRETKEY0123456789abcdef',
      DATABASE_URL: database.url,
      LLM_RETRIES: '0',
      LLM_RATE_LIMIT_RPM: '0',
      LLM_IDLE_TIMEOUT_MS: '1500',
    });
  });
  afterEach(() => {
    upstream.queue.length = 0;
    upstream.requests.length = 0;
    llm.reset();
  });
  afterAll(async () => {
    await app?.close();
    await upstream?.close();
    await llm?.close();
    await sql?.end();
    await database?.drop();
  });

  const makeKey = async (body: Record<string, unknown> = {}) => {
    const response = await app.fetch('/v1/keys', {
      method: 'POST',
      headers: headers(keys.admin),
      body: JSON.stringify({ name: 'r', ...body }),
    });
    expect(response.status).toBe(201);
    return (await response.json()) as { id: string; secret: string };
  };
  const post = (body: Record<string, unknown>, key: string = keys.agent) =>
    app.fetch('/v1/responses', { method: 'POST', headers: headers(key), body: JSON.stringify(body) });
  const events = async (response: Response) =>
    (await readSse(response)).map(({ event, data }) => ({ event, ...(JSON.parse(data) as Record<string, unknown>) })) as Array<{
      event: string | undefined;
      type: string;
      response?: { id: string; status: string; store?: boolean; usage?: unknown };
      delta?: string;
      sequence_number?: number;
    }>;
  const spendRows = async (keyId: string, count: number) => {
    const deadline = Date.now() + 4000;
    for (;;) {
      if (app.services) await spendWriter(app.services).flush();
      const rows = await sql`select * from llm_spend where key_id = ${keyId} order by id`;
      if (rows.length >= count || Date.now() > deadline) return rows;
      await sleep(50);
    }
  };
  /** The stream's events up to output, then `tail` (raw data strings), as the provider writes them. */
  const upTo = (tail: string[]) => {
    const all = nativeStream('Hello there');
    return [...all.slice(0, 4), ...tail];
  };

  // ---------------------------------------------------------------- what the caller can make us send

  it('fields outside the schema inside input items (and their content parts) never reach the provider', async () => {
    const response = await post({
      model: 'execution',
      input: [
        {
          role: 'user',
          content: [
            { type: 'input_text', text: 'look', cache_control: { type: 'ephemeral' } },
            { type: 'input_image', image_url: 'https://example.com/a.png', file_id: 'file-OTHER-TENANT' },
          ],
          smuggled: { anything: true },
        },
        { type: 'function_call', call_id: 'call_1', name: 'f', arguments: '{}', id: 'fc_upstream', extra: 'x' },
        { type: 'function_call_output', call_id: 'call_1', output: 'ok', extra: 'y' },
      ],
    });
    expect(response.status).toBe(200);
    const sent = JSON.stringify(upstream.requests.at(-1)?.body.input);
    for (const field of ['smuggled', 'file_id', 'file-OTHER-TENANT', 'cache_control', '"extra"']) expect(sent).not.toContain(field);
  });

  it('what only the native form carries (reasoning items) is counted against the key’s TPM before it is sent', async () => {
    const key = await makeKey({ tpm: 2000 });
    const response = await post(
      {
        model: 'execution',
        max_output_tokens: 16,
        input: [
          {
            type: 'reasoning',
            id: 'rs_1',
            summary: [{ type: 'summary_text', text: 's'.repeat(300_000) }],
            encrypted_content: 'e'.repeat(300_000),
          },
          { role: 'user', content: 'hi' },
        ],
      },
      key.secret,
    );
    // ~600k characters (~200k tokens by the gateway's own 3-chars-a-token estimate) on a 2000-TPM key.
    expect(response.status).toBe(429);
    expect(upstream.requests).toHaveLength(0);
  });

  it('store:true from the caller still goes upstream as store:false; built-in tools and another key’s ids are refused', async () => {
    const first = await post({ model: 'execution', input: 'hi', store: true });
    expect(first.status).toBe(200);
    const id = ((await first.json()) as { id: string }).id;
    expect(upstream.requests.at(-1)?.body.store).toBe(false);
    expect(upstream.requests.at(-1)?.body).not.toHaveProperty('previous_response_id');
    expect((await post({ model: 'execution', input: 'x', tools: [{ type: 'file_search', vector_store_ids: ['vs_1'] }] })).status).toBe(400);
    expect((await post({ model: 'execution', input: 'x', tool_choice: { type: 'web_search_preview' } })).status).toBe(400);
    expect((await post({ model: 'execution', input: 'x', previous_response_id: id }, keys.agent2)).status).toBe(404);
  });

  // ---------------------------------------------------------------- a broken or hostile upstream

  it('a malformed text delta mid-stream ends the client stream with response.failed and is still accounted', async () => {
    const key = await makeKey();
    upstream.queue.push(
      sse(
        upTo([
          '{"type":"response.output_text.delta","item_id":"msg_1","output_index":0,"content_index":0,"delta":"Hel', // cut JSON
          ...nativeStream('Hello there').slice(-4),
        ]),
      ),
    );
    const response = await post({ model: 'execution', input: 'hi', stream: true }, key.secret);
    expect(response.status).toBe(200);
    // The gateway's Responses stream must end with an event, not break in a JSON parse.
    const text = await response.text().catch((error: unknown) => `BODY ERRORED: ${String(error)}`);
    expect.soft(text).not.toContain('BODY ERRORED');
    expect.soft(text).toMatch(/event: response\.(failed|completed)\n/);
    // …and the call is accounted (spend row), which needs the inner stream's end.
    expect.soft(await spendRows(key.id, 1)).toHaveLength(1);
  });

  it('response.completed whose Response says status "failed" is not reported as success nor stored', async () => {
    const done = JSON.parse(nativeStream('Hello there').at(-1) as string) as { response: Record<string, unknown> };
    const lying = JSON.stringify({
      type: 'response.completed',
      response: { ...done.response, status: 'failed', error: { code: 'server_error', message: 'boom' } },
    });
    upstream.queue.push(sse(upTo([...nativeStream('Hello there').slice(4, -1), lying])));
    const list = await events(await post({ model: 'execution', input: 'hi', stream: true, store: true }));
    const last = list.at(-1);
    expect.soft(last?.type).toBe('response.failed');
    expect.soft(last?.response?.store).not.toBe(true);
  });

  it('a Response failed with a refusal code does not hand the provider’s error text (with secrets) to the client', async () => {
    upstream.queue.push((_req, response) => {
      const body = {
        ...nativeResponse('gpt-4o-mini', {}),
        status: 'failed',
        output: [],
        error: {
          code: 'invalid_prompt',
          message: 'Incorrect API key provided: sk-proj-REVIEWSECRETKEY0123456789abcdef (org org-INTERNAL)',
        },
      };
      response.writeHead(200, { 'content-type': 'application/json' });
      response.end(JSON.stringify(body));
    });
    const response = await post({ model: 'execution', input: 'hi' });
    const text = await response.text();
    expect(response.status).toBeGreaterThanOrEqual(400);
    expect.soft(text).not.toContain('REVIEWSECRETKEY');
    // The chat path, refused with the same text as a 400 status, masks it too.
    upstream.queue.push((_req, res) => {
      res.writeHead(400, { 'content-type': 'application/json' });
      res.end(
        JSON.stringify({
          error: { code: 'invalid_prompt', message: 'Incorrect API key provided: sk-proj-REVIEWSECRETKEY0123456789abcdef' },
        }),
      );
    });
    const chat = await app.fetch('/v1/chat/completions', {
      method: 'POST',
      headers: headers(keys.agent),
      body: JSON.stringify({ model: 'execution', messages: [{ role: 'user', content: 'hi' }] }),
    });
    expect(chat.status).toBe(400);
    expect(await chat.text()).not.toContain('REVIEWSECRETKEY');
  });

  it('an upstream stream that begins with output (no response.created) still gives the client response.created first', async () => {
    upstream.queue.push(sse(nativeStream('Hello there').slice(2)));
    const list = await events(await post({ model: 'execution', input: 'hi', stream: true }));
    expect(list[0]?.type).toBe('response.created');
    expect(list.filter((e) => e.type === 'response.created')).toHaveLength(1);
  });

  it('a provider that repeats response.created mid-stream does not give the client two', async () => {
    const all = nativeStream('Hello there');
    upstream.queue.push(sse([...all.slice(0, 5), all[0] as string, ...all.slice(5)]));
    const list = await events(await post({ model: 'execution', input: 'hi', stream: true }));
    expect(list.filter((e) => e.type === 'response.created')).toHaveLength(1);
  });

  it('events split mid-line across reads, CRLF line endings, event: lines without data, comments', async () => {
    const all = nativeStream('Hello there', undefined, 4);
    const text = `: keep-alive\r\n\r\nevent: response.in_progress\r\n\r\n${all.map((d) => named(d, '\r\n')).join('')}`;
    upstream.queue.push((_req, response) => writeInPieces(response, text, 7));
    const response = await post({ model: 'execution', input: 'hi', stream: true });
    const list = await events(response);
    expect(list.map((e) => e.type)).toEqual(all.map((d) => (JSON.parse(d) as { type: string }).type));
    expect(list.flatMap((e) => (e.delta ? [e.delta] : [])).join('')).toBe('Hello there');
    expect(new Set(list.flatMap((e) => (e.response ? [e.response.id] : []))).size).toBe(1);
  });

  it('a terminal event followed by garbage or a second response.completed: one terminal, success', async () => {
    const all = nativeStream('Hello there');
    upstream.queue.push(async (_req, response) => {
      response.writeHead(200, { 'content-type': 'text/event-stream' });
      for (const d of all) response.write(named(d));
      response.write(named(all.at(-1) as string));
      response.write('data: {not json\n\n');
      await sleep(5000); // and never ends
      response.end();
    });
    const started = Date.now();
    const list = await events(await post({ model: 'execution', input: 'hi', stream: true }));
    expect(Date.now() - started).toBeLessThan(3000);
    expect(list.filter((e) => e.type === 'response.completed')).toHaveLength(1);
    expect(list.at(-1)?.type).toBe('response.completed');
  });

  it('no terminal event → response.failed, not stored; a failure after output is never followed by response.completed', async () => {
    const all = nativeStream('Hello there');
    upstream.queue.push(sse(all.slice(0, -1)));
    const list = await events(await post({ model: 'execution', input: 'hi', stream: true, store: true }));
    expect(list.at(-1)?.type).toBe('response.failed');
    expect(list.some((e) => e.type === 'response.completed')).toBe(false);
    const id = list.at(-1)?.response?.id as string;
    expect((await app.fetch(`/v1/responses/${id}`, { headers: headers(keys.agent) })).status).toBe(404);
    const failed = JSON.stringify({
      type: 'response.failed',
      response: { status: 'failed', error: { code: 'server_error', message: 'x' } },
    });
    upstream.queue.push(sse([...all.slice(0, 6), failed, all.at(-1) as string]));
    const second = await events(await post({ model: 'execution', input: 'hi', stream: true }));
    expect(second.at(-1)?.type).toBe('response.failed');
    expect(second.some((e) => e.type === 'response.completed')).toBe(false);
  });

  it('response.completed without usage is still counted (estimate), not a free call', async () => {
    const key = await makeKey();
    const all = nativeStream('Hello there');
    const done = JSON.parse(all.at(-1) as string) as { response: Record<string, unknown> };
    upstream.queue.push(
      sse([...all.slice(0, -1), JSON.stringify({ type: 'response.completed', response: { ...done.response, usage: null } })]),
    );
    const list = await events(await post({ model: 'execution', input: 'hi', stream: true }, key.secret));
    expect(list.at(-1)?.type).toBe('response.completed');
    const rows = await spendRows(key.id, 1);
    expect(rows).toHaveLength(1);
    expect(Number(rows[0]?.prompt_tokens) + Number(rows[0]?.completion_tokens)).toBeGreaterThan(0);
  });

  it('native fails before output on both OpenAI models → Gemini bridged: one coherent stream, one id', async () => {
    const limited = [nativeStream('x')[0] as string, JSON.stringify({ type: 'error', code: 'rate_limit_exceeded', message: 'slow down' })];
    upstream.queue.push(sse(limited), sse(limited));
    const response = await post({ model: 'planning', input: 'hi', stream: true });
    expect(response.headers.get('x-myca-provider')).toBe('gemini');
    const list = await events(response);
    expect(list.filter((e) => e.type === 'response.created')).toHaveLength(1);
    expect(list[0]?.type).toBe('response.created');
    expect(list.at(-1)?.type).toBe('response.completed');
    expect(new Set(list.flatMap((e) => (e.response ? [e.response.id] : []))).size).toBe(1);
    expect(list.map((e) => e.sequence_number)).toEqual(list.map((_, i) => i));
  });

  it('the provider key never reaches the client, logs or spans', async () => {
    upstream.queue.push(sse(upTo([JSON.stringify({ type: 'error', code: 'server_error', message: 'x' })])));
    await (await post({ model: 'execution', input: 'hi', stream: true })).text();
    await post({ model: 'execution', input: 'hi' });
    await app.flush();
    expect(app.output()).not.toContain('REVIEWSECRETKEY');
    expect(JSON.stringify(app.spans?.getFinishedSpans().map((s) => s.attributes) ?? [])).not.toContain('REVIEWSECRETKEY');
    expect(upstream.requests.at(-1)?.headers.authorization).toContain('REVIEWSECRETKEY');
  });

  it('an upstream that holds the stream open after output is cut by the idle timeout (no hang)', async () => {
    upstream.queue.push(async (_req, response) => {
      response.writeHead(200, { 'content-type': 'text/event-stream' });
      for (const d of upTo([])) response.write(named(d));
      await sleep(8000);
      response.end();
    });
    const started = Date.now();
    const list = await events(await post({ model: 'execution', input: 'hi', stream: true }));
    expect(Date.now() - started).toBeLessThan(5000);
    expect(list.at(-1)?.type).toBe('response.failed');
  }, 15000);

  it('a failure after output does not hand the provider’s error text (with secrets) to the client stream', async () => {
    const secret = JSON.stringify({
      type: 'error',
      code: 'server_error',
      message: 'upstream pool sk-proj-REVIEWSECRETKEY0123456789abcdef at 10.0.0.7 failed',
    });
    upstream.queue.push(sse(upTo([nativeStream('Hello there')[4] as string, secret])));
    const text = await (await post({ model: 'execution', input: 'hi', stream: true })).text();
    expect(text).toContain('response.failed');
    expect(text).not.toContain('REVIEWSECRETKEY');
  });

  it('a native answer with a refusal part, continued on a bridged model (Gemini), is answered', async () => {
    upstream.queue.push((_req, response) => {
      const body = nativeResponse('gpt-4o-mini', { content: 'x' });
      (body.output[0] as { content: unknown[] }).content = [{ type: 'refusal', refusal: 'I cannot help with that.' }];
      response.writeHead(200, { 'content-type': 'application/json' });
      response.end(JSON.stringify(body));
    });
    const first = (await (await post({ model: 'execution', input: 'do a bad thing', store: true })).json()) as { id: string };
    const second = await post({ model: 'fast', previous_response_id: first.id, input: 'and now?' });
    expect(second.status).toBe(200);
    expect(JSON.stringify(llm.requests.at(-1)?.body)).toContain('I cannot help with that.');
  });

  it('bridged (Gemini) fails before output → native OpenAI: one coherent stream', async () => {
    llm.queue('gemini-2.0-flash', { status: 500 });
    const response = await post({ model: 'fast', input: 'hi', stream: true });
    const list = await events(response);
    expect(list.filter((e) => e.type === 'response.created')).toHaveLength(1);
    expect(list.at(-1)?.type).toBe('response.completed');
    expect(new Set(list.flatMap((e) => (e.response ? [e.response.id] : []))).size).toBe(1);
  });

  it('negative usage from the provider does not refund the key (spend row cost ≥ 0)', async () => {
    const key = await makeKey({ budget_usd: 1, budget_period: 'day' });
    upstream.queue.push((_req, response) => {
      const body = nativeResponse(
        'gpt-4o-mini',
        { content: 'x' },
        { input_tokens: -5_000_000, output_tokens: -5_000_000, total_tokens: -10_000_000 },
      );
      response.writeHead(200, { 'content-type': 'application/json' });
      response.end(JSON.stringify(body));
    });
    expect((await post({ model: 'execution', input: 'hi' }, key.secret)).status).toBe(200);
    const rows = await spendRows(key.id, 1);
    expect(Number(rows[0]?.prompt_tokens)).toBeGreaterThanOrEqual(0);
    expect(Number(rows[0]?.cost_usd)).toBeGreaterThanOrEqual(0);
  });

  it('negative usage on the chat path does not refund the key either', async () => {
    const key = await makeKey({ budget_usd: 1, budget_period: 'day' });
    upstream.queue.push((_req, response) => {
      response.writeHead(200, { 'content-type': 'application/json' });
      response.end(
        JSON.stringify(
          chatCompletion(
            'gpt-4o-mini',
            { content: 'x' },
            { prompt_tokens: -5_000_000, completion_tokens: -5_000_000, total_tokens: -10_000_000 },
          ),
        ),
      );
    });
    const answer = await app.fetch('/v1/chat/completions', {
      method: 'POST',
      headers: headers(key.secret),
      body: JSON.stringify({ model: 'execution', messages: [{ role: 'user', content: 'hi' }] }),
    });
    expect(answer.status).toBe(200);
    const rows = await spendRows(key.id, 1);
    expect(Number(rows[0]?.prompt_tokens)).toBeGreaterThanOrEqual(0);
  });

  it('one giant event (no end) is refused at a size cap, not buffered until the idle timeout', async () => {
    upstream.queue.push(async (_req, response) => {
      response.writeHead(200, { 'content-type': 'text/event-stream' });
      for (const d of upTo([])) response.write(named(d));
      response.write('data: {"type":"response.output_text.delta","delta":"');
      const mb = 'A'.repeat(1024 * 1024);
      // 64 MiB in one event, written as fast as the gateway reads, then silence.
      for (let i = 0; i < 64 && !response.destroyed; i++) if (!response.write(mb)) await new Promise((r) => response.once('drain', r));
      await sleep(5000);
      response.end();
    });
    const started = Date.now();
    const list = await events(await post({ model: 'execution', input: 'hi', stream: true }));
    expect(list.at(-1)?.type).toBe('response.failed');
    // Refused for its size (a cap), well before the 1.5 s idle timeout after the last byte.
    expect(JSON.stringify(list.at(-1))).toMatch(/too large|size|cap/i);
    expect(Date.now() - started).toBeLessThan(10_000);
  }, 120_000);
});
