/**
 * The routes of the Responses API: `POST /v1/responses` (responses.ts) and, for stored responses,
 * `GET` and `DELETE /v1/responses/:id`. A response is the key's that made it: any other key gets the
 * same 404 as for an id that never existed.
 */
import type { Context, Hono } from 'hono';
import { ApiError } from '../../shared/http/errors.js';
import type { AppEnv } from '../../shared/http/types.js';
import { type ChatRequest, RESPONSE_ID } from './contract.js';
import { serveResponses } from './responses.js';
import { deleteResponse, findResponse } from './responses-store.js';
import type { SseFramer } from './stream.js';

type ServeChat = (c: Context<AppEnv>, request: ChatRequest, framer?: SseFramer) => Promise<Response>;

/** The principal's database, or the 404 every unknown response gets (nothing is kept without one). */
function storedId(c: Context<AppEnv>) {
  const id = c.req.param('id') ?? '';
  if (!RESPONSE_ID.test(id))
    throw new ApiError('BAD_REQUEST', {
      detail: `"${id.slice(0, 80)}" is not a response id`,
      hint: 'a response id is "resp_" then 8 to 128 letters and digits, as POST /v1/responses answered it',
    });
  const services = c.get('services');
  return { id, principal: c.get('principal').id, db: services.config.responses.retention_days > 0 ? services.db : null };
}

const notFound = (id: string) =>
  new ApiError('NOT_FOUND', {
    detail: `no stored response "${id}"`,
    hint: 'responses are kept only with store on, for RESPONSES_RETENTION_DAYS, and only for the key that made them',
  });

const unavailable = (error: unknown) =>
  new ApiError('UNAVAILABLE', {
    // The database's own words (an address, a table name) go to the log through `cause`, never to the client.
    detail: 'stored responses could not be reached: the database did not answer',
    hint: 'retry later',
    headers: { 'retry-after': '1' },
    cause: error,
  });

export function mountResponses(app: Hono<AppEnv>, serveChat: ServeChat): void {
  app.post('/v1/responses', async (c) => serveResponses(c, serveChat));

  app.get('/v1/responses/:id', async (c) => {
    const { id, principal, db } = storedId(c);
    if (c.req.query('stream') === 'true')
      throw new ApiError('BAD_REQUEST', {
        detail: 'stream: replaying a stored response as events is not supported',
        hint: 'GET it without stream=true',
      });
    if (!db) throw notFound(id);
    const row = await findResponse(db.sql, principal, id).catch((error: unknown) => {
      throw unavailable(error);
    });
    if (!row) throw notFound(id);
    return c.json(row.response);
  });

  app.delete('/v1/responses/:id', async (c) => {
    const { id, principal, db } = storedId(c);
    if (!db) throw notFound(id);
    const deleted = await deleteResponse(db.sql, principal, id).catch((error: unknown) => {
      throw unavailable(error);
    });
    if (!deleted) throw notFound(id);
    return c.json({ id, object: 'response', deleted: true });
  });
}
