/**
 * Stored responses (`store`, `previous_response_id`, `GET`/`DELETE /v1/responses/:id`): one row per
 * response in `llm_responses` (migration 0009), owned by the key that created it. Every statement names
 * that principal, so another key's response is indistinguishable from one that never existed.
 *
 * Retention: a row is readable until `expires_at` (RESPONSES_RETENTION_DAYS after it was made); each
 * insert also deletes up to {@link SWEEP_BATCH} expired rows, so the table stays bounded by the
 * traffic of the retention window without a job of its own.
 */
import type { Sql } from 'postgres';
import { ITEM_ID, type ResponsesItem as ResponsesInputItem } from './contract.js';

/** Expired rows an insert deletes on its way (bounded work per request). */
const SWEEP_BATCH = 100;

export interface StoredResponse {
  id: string;
  model: string;
  response: Record<string, unknown>;
  conversation: ResponsesInputItem[];
}

/**
 * Keeps a response; false when it is too large to keep (`maxBytes`), true once written. Throws when
 * the database fails (the caller decides what the answer then says).
 */
export async function saveResponse(
  sql: Sql,
  row: {
    id: string;
    principalId: string;
    model: string;
    response: object;
    conversation: unknown[];
    retentionDays: number;
    maxBytes: number;
    /** The key's newest this many stay; older ones are evicted by this insert. */
    maxPerKey: number;
  },
): Promise<boolean> {
  const bytes = byteLength(JSON.stringify(row.response)) + byteLength(JSON.stringify(row.conversation));
  if (bytes > row.maxBytes) return false;
  // Ids are checked where they are made or taken (ITEM_ID: no commas), so a joined list splits back exactly.
  const itemIds = outputIds(row.response).join(',');
  await sql`
    with swept as (
      delete from llm_responses where id in (
        select id from llm_responses where expires_at < now() order by expires_at limit ${SWEEP_BATCH}
      )
    )
    insert into llm_responses (id, principal_id, model, response, conversation, item_ids, bytes, expires_at)
    values (${row.id}, ${row.principalId}, ${row.model}, ${sql.json(row.response as never)}, ${sql.json(row.conversation as never)},
            string_to_array(${itemIds}, ','), ${bytes}, now() + ${row.retentionDays} * interval '1 day')`;
  // Bounded per key: its oldest beyond the newest maxPerKey go (one key cannot fill the table). Rows
  // another insert of the same key is deleting are skipped, not waited for: concurrent answers of
  // one key would otherwise queue behind each other's delete (seconds at a few hundred a second).
  await sql`
    delete from llm_responses where id in (
      select id from llm_responses where principal_id = ${row.principalId}
      order by created_at desc, id desc offset ${row.maxPerKey}
      for update skip locked
    )`;
  return true;
}

/** The principal's live response of this id, or undefined (unknown, expired, or another key's). */
export async function findResponse(sql: Sql, principalId: string, id: string): Promise<StoredResponse | undefined> {
  const [row] = await sql<StoredResponse[]>`
    select id, model, response, conversation from llm_responses
    where id = ${id} and principal_id = ${principalId} and expires_at > now()`;
  return row;
}

/** Deletes the principal's response; false when there was none to delete. */
export async function deleteResponse(sql: Sql, principalId: string, id: string): Promise<boolean> {
  const rows = await sql`delete from llm_responses where id = ${id} and principal_id = ${principalId} and expires_at > now() returning id`;
  return rows.length > 0;
}

/** Output items (by their ids) of the principal's live responses: what `item_reference` items name. */
export async function findOutputItems(sql: Sql, principalId: string, ids: string[]): Promise<Map<string, ResponsesInputItem>> {
  const found = new Map<string, ResponsesInputItem>();
  if (ids.length === 0) return found;
  const rows = await sql<Array<{ item: ResponsesInputItem & { id: string } }>>`
    select item from llm_responses r, jsonb_array_elements(r.response -> 'output') item
    where r.principal_id = ${principalId} and r.expires_at > now()
      and r.item_ids && string_to_array(${ids.join(',')}, ',')
      and item ->> 'id' = any(string_to_array(${ids.join(',')}, ','))`;
  for (const { item } of rows) found.set(item.id, item);
  return found;
}

const outputIds = (response: object) =>
  ((response as { output?: Array<{ id?: unknown }> }).output ?? []).flatMap((item) =>
    typeof item.id === 'string' && ITEM_ID.test(item.id) ? [item.id] : [],
  );

const encoder = new TextEncoder();
const byteLength = (text: string) => encoder.encode(text).length;

/** Rows one sweep deletes at most (batches of {@link SWEEP_BATCH}); the next sweep takes the rest. */
const SWEEP_MAX = 10_000;

/**
 * The periodic sweep's part (Node's timer, the Workers Cron Trigger): deletes responses past their
 * deadline, and those older than the retention now configured (a lowered RESPONSES_RETENTION_DAYS,
 * or 0, applies to rows kept before it). Returns how many went.
 */
export async function sweepResponses(sql: Sql, retentionDays: number): Promise<number> {
  let deleted = 0;
  while (deleted < SWEEP_MAX) {
    const rows = await sql`
      delete from llm_responses where id in (
        select id from llm_responses
        where expires_at < now() or created_at < now() - ${retentionDays} * interval '1 day'
        limit ${SWEEP_BATCH}
      ) returning id`;
    deleted += rows.length;
    if (rows.length < SWEEP_BATCH) break;
  }
  return deleted;
}
