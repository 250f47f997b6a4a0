import { Hono } from 'hono';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { createLogger } from '../log/index.js';
import { ApiError, onError } from './errors.js';
import type { AppEnv } from './types.js';
import { readJson } from './validate.js';

const Body = z.object({ name: z.string().min(1), count: z.number().int().positive() });

/** A tiny app with the real error handling: the app is the fake. */
function makeApp() {
  const lines: string[] = [];
  const app = new Hono<AppEnv>();
  app.use(async (c, next) => {
    c.set('correlationId', 'c0ffee');
    c.set('logger', createLogger({ level: 'debug', write: (line) => lines.push(line) }));
    await next();
  });
  app.post('/items', async (c) => c.json(await readJson(c, Body, { limit: 200 })));
  app.get('/boom', () => {
    throw new Error('database password is hunter2');
  });
  app.get('/teapot', () => {
    throw new ApiError('CONFLICT', { detail: 'already done', hint: 'send a new Idempotency-Key', extra: { id: 'x1' } });
  });
  app.onError(onError);
  return { app, lines };
}

const post = (body: string, type = 'application/json') =>
  makeApp().app.request('/items', { method: 'POST', body, headers: { 'content-type': type } });

describe('error responses', () => {
  it('turns malformed JSON into 400 MALFORMED_JSON, never 500', async () => {
    const response = await post('{"name": "a",');
    expect(response.status).toBe(400);
    expect(response.headers.get('content-type')).toBe('application/problem+json');
    expect(await response.json()).toMatchObject({ code: 'MALFORMED_JSON', correlation_id: 'c0ffee', hint: expect.any(String) });
  });

  it('lists every field that fails validation', async () => {
    const response = await post('{"name": "", "count": -1}');
    expect(response.status).toBe(400);
    const body = (await response.json()) as { code: string; issues: Array<{ path: string }> };
    expect(body.code).toBe('VALIDATION_FAILED');
    expect(body.issues.map((issue) => issue.path).sort()).toEqual(['count', 'name']);
  });

  it('refuses other content types (415) and bodies over the limit (413)', async () => {
    expect((await post('name=a', 'application/x-www-form-urlencoded')).status).toBe(415);
    expect((await post(JSON.stringify({ name: 'x'.repeat(500), count: 1 }))).status).toBe(413);
  });

  it('counts the limit in bytes, not characters, when no content-length is declared', async () => {
    const streamed = (text: string) =>
      makeApp().app.request('/items', {
        method: 'POST',
        body: new Blob([text]).stream(),
        headers: { 'content-type': 'application/json' },
        duplex: 'half',
      } as RequestInit);
    // 60 characters of three bytes each: 180 bytes of name, 201 in all (limit 200); 50 of them fit.
    expect((await streamed(JSON.stringify({ name: '€'.repeat(60), count: 1 }))).status).toBe(413);
    expect((await streamed(JSON.stringify({ name: '€'.repeat(50), count: 1 }))).status).toBe(200);
  });

  it('accepts a valid body', async () => {
    const response = await post('{"name": "a", "count": 2}');
    expect(await response.json()).toEqual({ name: 'a', count: 2 });
  });

  it('hides the internals of an unexpected error behind a 500 with the correlation id', async () => {
    const response = await makeApp().app.request('/boom');
    expect(response.status).toBe(500);
    const text = await response.text();
    expect(text).not.toContain('hunter2');
    expect(JSON.parse(text)).toMatchObject({ code: 'INTERNAL', correlation_id: 'c0ffee' });
  });

  it('carries hints and extension members of an ApiError', async () => {
    const response = await makeApp().app.request('/teapot');
    expect(response.status).toBe(409);
    expect(await response.json()).toMatchObject({ code: 'CONFLICT', detail: 'already done', hint: 'send a new Idempotency-Key', id: 'x1' });
  });
});

describe('every error has a hint', () => {
  it('gives an error thrown without one its code’s default hint (problem+json, and in error.message)', async () => {
    const app = new Hono<AppEnv>();
    app.get('/forbidden', () => {
      throw new ApiError('FORBIDDEN', { detail: 'agents cannot approve' });
    });
    app.get('/boom', () => {
      throw new Error('x');
    });
    app.onError(onError);
    for (const path of ['/forbidden', '/boom']) {
      const response = await app.request(path);
      expect(response.headers.get('content-type')).toBe('application/problem+json');
      const body = (await response.json()) as { hint?: string; error: { message: string } };
      expect(body.hint).toEqual(expect.any(String));
      expect(body.error.message).toContain(body.hint);
    }
  });
});
