/**
 * The state of one `POST /v1/responses` request: whether it is kept (`store`), the conversation it
 * continues (`previous_response_id`), the earlier output items it names (`item_reference`), and the
 * save once the answer is whole. Only the key that made a response reads, continues or deletes it.
 *
 * `store` defaults to true when the deployment keeps responses (RESPONSES_RETENTION_DAYS > 0 and a
 * database), as OpenAI's does: clients that leave it unset (the Vercel AI SDK) assume it and send
 * earlier assistant turns back as `item_reference` ids. Without a database or with retention 0 it
 * defaults to false, and asking for state is a 400 that says so.
 */
import type { Context } from 'hono';
import { ApiError } from '../../shared/http/errors.js';
import type { AppEnv } from '../../shared/http/types.js';
import { bodyTooLarge } from '../../shared/http/validate.js';
import type { ResponsesItem, ResponsesRequest } from './contract.js';
import { newId } from './responses-shape.js';
import { findOutputItems, findResponse, saveResponse } from './responses-store.js';

export interface ResponseState {
  id: string;
  /** Whether the answer is to be kept (the answer says whether it was). */
  store: boolean;
  previousResponseId: string | null;
  /** The whole input: the continued conversation, then this request's items with references resolved. */
  items: ResponsesItem[];
  /** Keeps the finished Response (its output becomes part of the conversation); true once kept. */
  save(response: { model: string; output: unknown[] }): Promise<boolean>;
}

const stateless = (field: string, detail: string) =>
  new ApiError('BAD_REQUEST', {
    detail: `${field}: ${detail}; this deployment does not keep responses (RESPONSES_RETENTION_DAYS=0 or no database)`,
    hint: 'send the whole conversation in input (earlier output items and function_call_output items) with store false (Vercel AI SDK: providerOptions.openai.store = false)',
  });

/** The database's own words (an address, a table name) go to the log through `cause`, never to the client. */
const unreachable = (error: unknown) =>
  new ApiError('UNAVAILABLE', {
    detail: 'stored responses could not be read: the database did not answer',
    hint: 'retry later',
    headers: { 'retry-after': '1' },
    cause: error,
  });

/** What the expanded input may weigh and hold: what a chat request may (its body limit and message count). */
const MAX_EXPANDED_BYTES = 8 * 1024 * 1024;
const MAX_EXPANDED_ITEMS = 2048;
const encoder = new TextEncoder();

/** The request's own input as items (a string is one user message). */
export const inputItems = (request: ResponsesRequest): ResponsesItem[] =>
  typeof request.input === 'string' ? [{ role: 'user', content: request.input }] : request.input;

export async function prepareState(c: Context<AppEnv>, request: ResponsesRequest): Promise<ResponseState> {
  const services = c.get('services');
  const principal = c.get('principal');
  const { retention_days: retentionDays, max_stored_bytes: maxBytes, max_per_key: maxPerKey } = services.config.responses;
  const db = retentionDays > 0 ? services.db : null;
  const own = inputItems(request);
  const references = own.flatMap((item, index) => (item.type === 'item_reference' ? [{ id: item.id, index }] : []));
  if (!db) {
    if (request.store === true) throw stateless('store', 'store: true cannot be honoured');
    if (request.previous_response_id) throw stateless('previous_response_id', 'a response cannot be continued by its id');
    const first = references[0];
    if (first) throw stateless(`input[${first.index}]`, `item_reference "${first.id}" names an item that was never kept`);
  }
  // Each stored item once: a reference repeated would copy the item again and again (a small request
  // made into a huge provider call).
  const seen = new Set<string>();
  for (const reference of references) {
    if (seen.has(reference.id))
      throw new ApiError('BAD_REQUEST', {
        detail: `input[${reference.index}]: item_reference "${reference.id}" is named more than once`,
        hint: 'name each earlier item once, in the place it belongs in the conversation',
      });
    seen.add(reference.id);
  }
  const store = request.store ?? Boolean(db);
  const previousResponseId = request.previous_response_id ?? null;
  let earlier: ResponsesItem[] = [];
  let items = own;
  if (db && (previousResponseId || references.length)) {
    const [previous, found] = await Promise.all([
      previousResponseId ? findResponse(db.sql, principal.id, previousResponseId) : undefined,
      findOutputItems(
        db.sql,
        principal.id,
        references.map((r) => r.id),
      ),
    ]).catch((error: unknown) => {
      throw unreachable(error);
    });
    if (previousResponseId && !previous)
      throw new ApiError('NOT_FOUND', {
        detail: `previous_response_id: no stored response "${previousResponseId}"`,
        hint: 'it may have expired (RESPONSES_RETENTION_DAYS), been deleted, been made with store: false or by another key',
      });
    earlier = previous?.conversation ?? [];
    const missing = references.find((r) => !found.has(r.id));
    if (missing)
      throw new ApiError('NOT_FOUND', {
        detail: `input[${missing.index}]: item_reference "${missing.id}" names no output item of a stored response of this key`,
        hint: 'send the item itself instead of a reference, or continue with previous_response_id',
      });
    items = own.map((item) => (item.type === 'item_reference' ? (found.get(item.id) as ResponsesItem) : item));
  }
  const conversation = [...earlier, ...items];
  // The expanded conversation is what the provider gets: it is held to what a chat request may be.
  if (conversation.length > MAX_EXPANDED_ITEMS)
    throw new ApiError('BAD_REQUEST', {
      detail: `input: the conversation holds ${conversation.length} items once previous_response_id is expanded; at most ${MAX_EXPANDED_ITEMS}`,
      hint: 'start a new conversation, or send a summary of the earlier turns',
    });
  if (conversation !== own) {
    const bytes = encoder.encode(JSON.stringify(conversation)).length;
    if (bytes > MAX_EXPANDED_BYTES)
      throw bodyTooLarge(
        {
          bytes: MAX_EXPANDED_BYTES,
          setting: 'the chat body limit, applied to the input once previous_response_id and item_reference are expanded',
        },
        bytes,
      );
  }
  const id = newId('resp');
  return {
    id,
    store,
    previousResponseId,
    items: conversation,
    save: async (response) => {
      if (!store || !db) return false;
      try {
        const kept = await saveResponse(db.sql, {
          id,
          principalId: principal.id,
          model: response.model,
          response,
          conversation: [...conversation, ...response.output],
          retentionDays,
          maxBytes,
          maxPerKey,
        });
        if (!kept)
          c.get('logger').warn('response not stored: larger than RESPONSES_MAX_STORED_BYTES', { response_id: id, max_bytes: maxBytes });
        return kept;
      } catch (error) {
        c.get('logger').warn('response not stored: the database failed', { response_id: id, error: error as Error });
        return false;
      }
    },
  };
}
