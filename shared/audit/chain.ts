import type { Sql, TransactionSql } from 'postgres';
import { redact, redactString } from '../redact/index.js';

/**
 * What the audit tables may hold: secrets masked, and NUL characters (which Postgres text and jsonb
 * refuse) kept as the visible escape `\\u0000`, so a hostile input is recorded instead of failing the write.
 */
export const storable = <T>(value: T): T => JSON.parse(JSON.stringify(redact(value) ?? null).replaceAll('\\u0000', '\\\\u0000')) as T;

import { canonicalJson, sha256 } from './hash.js';

/** The same for a single text column. */
export const storableText = (text: string | null | undefined): string | null =>
  text == null ? null : redactString(text).replaceAll('\u0000', '\\u0000');

export const GENESIS_HASH = '0'.repeat(64);
/** One chain for the whole table: appends take this lock so each row links to the one before it. */
const CHAIN_LOCK = 727_361_002;

export type AuditEventName = 'requested' | 'decided' | 'approved' | 'rejected' | 'expired' | 'executing' | 'executed' | 'failed' | 'denied';

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

/** What each link's hash covers (everything but seq and the hash itself). */
export function eventHash(
  prevHash: string,
  row: { action_id: string; event: string; actor: string; correlation_id: string; data: unknown; created_at: Date },
): string {
  return sha256(
    prevHash +
      canonicalJson({
        action_id: row.action_id,
        event: row.event,
        actor: row.actor,
        correlation_id: row.correlation_id,
        data: row.data,
        created_at: row.created_at.toISOString(),
      }),
  );
}

/**
 * Appends events inside the caller's transaction (so a state change and its event commit together or
 * not at all). Data is redacted before it is stored or hashed.
 */
export async function appendEvents(tx: TransactionSql, events: ReadonlyArray<AuditEventInput>): Promise<void> {
  if (events.length === 0) return;
  await tx`select pg_advisory_xact_lock(${CHAIN_LOCK})`;
  const [last] = await tx<{ hash: string }[]>`select hash from action_audit_events order by seq desc limit 1`;
  let prev = last?.hash ?? GENESIS_HASH;
  for (const input of events) {
    // Millisecond precision, as JavaScript dates hold it, so the verifier recomputes the same text.
    const createdAt = new Date(Math.floor(Date.now()));
    const row = {
      action_id: input.actionId,
      event: input.event,
      actor: input.actor,
      correlation_id: input.correlationId,
      data: storable(input.data ?? {}),
      created_at: createdAt,
    };
    const hash = eventHash(prev, row);
    await tx`
      insert into action_audit_events (action_id, event, actor, correlation_id, data, created_at, prev_hash, hash)
      values (${row.action_id}, ${row.event}, ${row.actor}, ${row.correlation_id}, ${tx.json(row.data as never)}, ${createdAt}, ${prev}, ${hash})`;
    prev = hash;
  }
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
