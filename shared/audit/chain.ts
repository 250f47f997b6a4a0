import type { Sql, TransactionSql } from 'postgres';
import { redact, redactString } from '../redact/index.js';
import { canonicalJson, sha256 } from './hash.js';

/**
 * What the audit tables may hold: secrets masked, and NUL characters (which Postgres text and jsonb
 * refuse) kept as the visible escape `\\u0000`, so a hostile input is recorded instead of failing the write.
 */
export const storable = <T>(value: T): T => JSON.parse(JSON.stringify(redact(value) ?? null).replaceAll('\\u0000', '\\\\u0000')) as T;

/** The same for a single text column. */
export const storableText = (text: string | null | undefined): string | null =>
  text == null ? null : redactString(text).replaceAll('\u0000', '\\u0000');

export const GENESIS_HASH = '0'.repeat(64);

export type AuditEventName =
  | 'requested'
  | 'decided'
  | 'approved'
  | 'rejected'
  | 'expired'
  | 'executing'
  | 'executed'
  | 'failed'
  | 'denied'
  | 'interrupted';

export interface AuditEventInput {
  actionId: string;
  event: AuditEventName;
  actor: string;
  correlationId: string;
  data?: Record<string, unknown>;
}

interface EventRow {
  seq: string;
  action_id: string;
  event: string;
  actor: string;
  correlation_id: string;
  data: Record<string, unknown>;
  created_at: Date;
  prev_hash: string;
  hash: string;
}

/** The canonical text a link's hash covers (everything but seq, prev_hash and the hash itself). */
export function eventBody(row: {
  action_id: string;
  event: string;
  actor: string;
  correlation_id: string;
  data: unknown;
  created_at: Date;
}): string {
  return canonicalJson({
    action_id: row.action_id,
    event: row.event,
    actor: row.actor,
    correlation_id: row.correlation_id,
    data: row.data,
    created_at: row.created_at.toISOString(),
  });
}

/** SHA-256(prev_hash || body): computed by Postgres on append, by the verifier here. */
export function eventHash(prevHash: string, row: Parameters<typeof eventBody>[0]): string {
  return sha256(prevHash + eventBody(row));
}

/** An event ready for the chain: its stored fields and the canonical text its hash covers. */
export interface PreparedEvent {
  action_id: string;
  event: AuditEventName;
  actor: string;
  correlation_id: string;
  data: Record<string, unknown>;
  created_at: string;
  body: string;
}

/**
 * Prepares events for `myca_append_audit_events` (migration 0003), which links and inserts them in
 * one statement under the chain lock. Data is redacted first; timestamps have millisecond precision
 * (what a JavaScript Date holds), so the verifier recomputes exactly the same text.
 */
export function prepareEvents(events: ReadonlyArray<AuditEventInput>, now = Date.now()): PreparedEvent[] {
  const createdAt = new Date(now);
  return events.map((input) => {
    const row = {
      action_id: input.actionId,
      event: input.event,
      actor: input.actor,
      correlation_id: input.correlationId,
      data: storable(input.data ?? {}),
      created_at: createdAt,
    };
    return { ...row, created_at: createdAt.toISOString(), body: eventBody(row) };
  });
}

/** Appends events in the caller's transaction or statement context. */
export async function appendEvents(sql: Sql | TransactionSql, events: ReadonlyArray<AuditEventInput>): Promise<void> {
  if (events.length === 0) return;
  await sql`select myca_append_audit_events(${sql.json(prepareEvents(events) as never)})`;
}

export interface VerifyResult {
  ok: boolean;
  events: number;
  /** The first link that does not hold, with why. */
  broken?: { seq: number; reason: string };
  head?: string;
}

/**
 * Recomputes the whole chain in order. An edited row fails its own hash; a deleted or reordered row
 * breaks the next row's link to it.
 */
export async function verifyChain(sql: Sql): Promise<VerifyResult> {
  let prev = GENESIS_HASH;
  let count = 0;
  let broken: VerifyResult['broken'];
  await sql<
    EventRow[]
  >`select seq, action_id, event, actor, correlation_id, data, created_at, prev_hash, hash from action_audit_events order by seq`.cursor(
    500,
    (rows) => {
      for (const row of rows) {
        count++;
        if (row.prev_hash !== prev) {
          broken = {
            seq: Number(row.seq),
            reason: 'prev_hash does not match the hash of the row before it (a row was deleted, inserted or reordered)',
          };
          return sql.CLOSE;
        }
        const expected = eventHash(prev, row);
        if (expected !== row.hash) {
          broken = { seq: Number(row.seq), reason: 'the row does not match its hash (it was edited)' };
          return sql.CLOSE;
        }
        prev = row.hash;
      }
      return undefined;
    },
  );
  return broken ? { ok: false, events: count, broken } : { ok: true, events: count, head: prev };
}
