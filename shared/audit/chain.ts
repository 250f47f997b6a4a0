import type { Sql, TransactionSql } from 'postgres';
import type { KeyValueStore } from '../kv/index.js';
import type { Logger } from '../log/index.js';
import { redact, redactString } from '../redact/index.js';
import { anchorHead, readAnchor } from './anchor.js';
import { canonicalJson, sha256 } from './hash.js';

/** A lone surrogate as `JSON.stringify` writes it (a pair is written as itself), after an even run of backslashes. */
const LONE_ESCAPE = /(?<!\\)((?:\\\\)*)\\ud[89a-f][0-9a-f]{2}/g;
/** A NUL as `JSON.stringify` writes it, after an even run of backslashes (the text `\\u0000` is not one). */
const NUL_ESCAPE = /(?<!\\)((?:\\\\)*)\\u0000/g;

/**
 * What the audit tables may hold: secrets masked, NUL characters (which Postgres text and jsonb
 * refuse) kept as the visible escape `\\u0000`, and half a surrogate pair (which jsonb refuses) as
 * U+FFFD, so a hostile input is recorded instead of failing the write.
 */
export const storable = <T>(value: T): T =>
  JSON.parse(
    JSON.stringify(redact(value) ?? null)
      .replace(NUL_ESCAPE, '$1\\\\u0000')
      .replace(LONE_ESCAPE, '$1\\ufffd'),
  ) as T;

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

/** An `action_audit_events` row as postgres.js returns it. */
export interface EventRow {
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

/** Appends events in the caller's transaction or statement context; returns the chain's new head (`seq:hash`). */
export async function appendEvents(sql: Sql | TransactionSql, events: ReadonlyArray<AuditEventInput>): Promise<string | null> {
  if (events.length === 0) return null;
  const [row] = await sql<{ head: string | null }[]>`select myca_append_audit_events(${sql.json(prepareEvents(events) as never)}) as head`;
  return row?.head ?? null;
}

export interface VerifyResult {
  ok: boolean;
  events: number;
  /** The first link that does not hold, with why (and the action, when a row disagrees with its events). */
  broken?: { seq: number; reason: string; action_id?: string };
  head?: string;
  /** The head anchored outside the database that this check held the chain to (null: none yet or no store). */
  anchored?: { seq: number; hash: string } | null;
  /** The latest checkpoint the check started from (null: nothing archived), and how many events the segments hold. */
  checkpoint?: { last_seq: number; last_hash: string; segments: number; archived_events: number } | null;
}

/**
 * Recomputes the whole chain in order, in one snapshot. An edited event fails its own hash; a
 * deleted or reordered event breaks the next one's link; deleting the newest events is caught by
 * the head anchored in the key-value store (`kv`, shared/audit/anchor.ts); an action row whose
 * status or recorded request disagrees with its events was changed outside a transition.
 */
export async function verifyChain(sql: Sql, options: { kv?: KeyValueStore; logger?: Pick<Logger, 'warn'> } = {}): Promise<VerifyResult> {
  // Read before the snapshot is taken: whatever was anchored by now was committed before it.
  const anchored = options.kv ? ((await readAnchor(options.kv, sql)) ?? null) : null;
  const result = await sql.begin('isolation level repeatable read read only', async (tx) => {
    // Archived events (shared/audit/archive.ts) left a checkpoint chain: genesis -> ... -> the latest,
    // from which the events in Postgres continue. npm run audit:verify-archive re-checks the segments.
    const checkpoints = await checkpointChain(tx);
    const checkpoint = checkpoints.latest;
    let prev = checkpoint?.last_hash ?? GENESIS_HASH;
    let count = 0;
    let lastSeq = checkpoint?.last_seq ?? 0;
    let broken: VerifyResult['broken'] = checkpoints.broken;
    if (broken) return { ok: false, events: 0, broken, anchored, checkpoint };
    await tx<
      EventRow[]
    >`select seq, action_id, event, actor, correlation_id, data, created_at, prev_hash, hash from action_audit_events order by seq`.cursor(
      500,
      (rows) => {
        for (const row of rows) {
          count++;
          const seq = Number(row.seq);
          if (row.prev_hash !== prev) {
            broken =
              count === 1 && checkpoint
                ? { seq, reason: `the oldest event does not continue the latest checkpoint (ending at ${checkpoint.last_seq})` }
                : { seq, reason: 'prev_hash does not match the hash of the row before it (a row was deleted, inserted or reordered)' };
            return sql.CLOSE;
          }
          const expected = eventHash(prev, row);
          if (expected !== row.hash) {
            broken = { seq, reason: 'the row does not match its hash (it was edited)' };
            return sql.CLOSE;
          }
          if (anchored && seq === anchored.seq && row.hash !== anchored.hash) {
            broken = { seq, reason: 'the event at the anchored head has another hash (the chain was rewritten)' };
            return sql.CLOSE;
          }
          prev = row.hash;
          lastSeq = seq;
        }
        return undefined;
      },
    );
    if (!broken && anchored && anchored.seq > lastSeq) {
      broken = {
        seq: anchored.seq,
        reason: `the chain ends at ${lastSeq}, before its anchored head ${anchored.seq} (events were deleted from the end)`,
      };
    }
    if (!broken && anchored && checkpoint && anchored.seq === checkpoint.last_seq && anchored.hash !== checkpoint.last_hash) {
      broken = { seq: anchored.seq, reason: 'the checkpoint at the anchored head has another hash (the chain was rewritten)' };
    }
    broken ??= await rowDisagreement(tx);
    return broken
      ? { ok: false, events: count, broken, anchored, checkpoint }
      : { ok: true, events: count, head: prev, lastSeq, anchored, checkpoint };
  });
  const lastSeq = 'lastSeq' in result ? (result.lastSeq ?? 0) : 0;
  if (result.ok && options.kv && lastSeq > 0)
    await anchorHead(options.kv, sql, { seq: lastSeq, hash: result.head as string }, options.logger);
  const { lastSeq: _lastSeq, ...shown } = result as VerifyResult & { lastSeq?: number };
  return shown;
}

interface CheckpointRow {
  first_seq: string;
  last_seq: string;
  prev_hash: string;
  last_hash: string;
  events: number;
}

/** The checkpoints must link to one another from genesis (migration 0008 writes them in order). */
async function checkpointChain(tx: TransactionSql): Promise<{
  latest: NonNullable<VerifyResult['checkpoint']> | null;
  broken?: VerifyResult['broken'];
}> {
  const rows = await tx<CheckpointRow[]>`select first_seq, last_seq, prev_hash, last_hash, events from audit_checkpoints order by last_seq`;
  let prev = GENESIS_HASH;
  let archived = 0;
  for (const row of rows) {
    if (row.prev_hash !== prev)
      return {
        latest: null,
        broken: {
          seq: Number(row.first_seq),
          reason: 'the checkpoint does not continue the one before it (a checkpoint was deleted or edited)',
        },
      };
    prev = row.last_hash;
    archived += row.events;
  }
  const last = rows[rows.length - 1];
  return {
    latest: last ? { last_seq: Number(last.last_seq), last_hash: last.last_hash, segments: rows.length, archived_events: archived } : null,
  };
}

/**
 * The first action row that its events contradict: its status is not what its last event says, or
 * its type, agent, run, digest or policy rule differ from what the events recorded.
 */
async function rowDisagreement(tx: TransactionSql): Promise<VerifyResult['broken']> {
  const [status] = await tx<{ id: string; status: string; event: string | null; seq: string | null }[]>`
    select a.id, a.status, e.event, e.seq from action_audit_logs a
    left join lateral (select event, seq from action_audit_events where action_id = a.id order by seq desc limit 1) e on true
    where e.event is null or a.status <> case when e.event in ('requested', 'decided') then 'pending' when e.event = 'interrupted' then 'failed' else e.event end
    limit 1`;
  if (status) {
    return {
      seq: Number(status.seq ?? 0),
      action_id: status.id,
      reason: status.event
        ? `the action's row says "${status.status}" but its last event is "${status.event}" (the row was changed outside a transition)`
        : 'the action has no events (its row was written outside the chain)',
    };
  }
  const [orphan] = await tx<{ action_id: string; seq: string }[]>`
    select e.action_id, min(e.seq) as seq from action_audit_events e
    where not exists (select 1 from action_audit_logs a where a.id = e.action_id)
    group by e.action_id order by 2 limit 1`;
  if (orphan) {
    return { seq: Number(orphan.seq), action_id: orphan.action_id, reason: "the action's events have no row (the row was deleted)" };
  }
  const [fields] = await tx<{ id: string; seq: string; event: string }[]>`
    select a.id, e.seq, e.event from action_audit_logs a join action_audit_events e on e.action_id = a.id
    where (e.event = 'requested' and (e.data->>'type' is distinct from a.action_type
            or e.data->>'run_id' is distinct from a.agent_run_id
            or (e.data->>'agent_id' is distinct from a.agent_id and position('***' in coalesce(e.data->>'agent_id', '')) = 0)))
       or (e.event = 'decided' and (e.data->>'digest' is distinct from a.digest or e.data->>'rule' is distinct from a.policy_rule))
       or (e.event = 'denied' and e.data->>'rule' is distinct from a.policy_rule)
    order by e.seq limit 1`;
  if (fields) {
    return {
      seq: Number(fields.seq),
      action_id: fields.id,
      reason: `the action's row differs from its "${fields.event}" event (type, agent, run, digest or policy rule was changed)`,
    };
  }
  return undefined;
}
