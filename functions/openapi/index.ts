import { Hono } from 'hono';
import type { AppEnv } from '../../shared/http/types.js';
import { openApiDocument } from './document.js';

/**
 * `GET /openapi.json`: the service's OpenAPI 3.1 document, made from the handlers' zod schemas
 * (built once per app, served as is).
 *
 * @example
 * app.route('/', createOpenApi());
 */
export function createOpenApi() {
  let text: string | undefined;
  return new Hono<AppEnv>().get('/openapi.json', (c) => {
    text ??= JSON.stringify(openApiDocument(c.get('services').version));
    return c.body(text, 200, { 'content-type': 'application/json', 'cache-control': 'no-cache' });
  });
}
