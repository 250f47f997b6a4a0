import type { Sql } from 'postgres';
import { storable, storableText } from '../../shared/audit/chain.js';
import type { ChatMessage } from './model.js';

export const RUN_STATUSES = ['running', 'waiting_approval', 'succeeded', 'failed'] as const;
export type RunStatus = (typeof RUN_STATUSES)[number];
/** A run that has ended: it never moves again. */
export const isTerminal = (status: RunStatus) => status === 'succeeded' || status === 'failed';

/** A held action the run waits for, and the tool call whose answer it becomes. */
export interface PendingAction {
  action_id: string;
  tool_call_id: string;
  type: string;
}

export interface RunUsage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
}

/** One model call of a run and what came of it. */
export interface RunStep {
  n: number;
  model: string;
  provider: string;
  started_at: string;
  usage: RunUsage;
  cost_usd: number | null;
  tool_calls: Array<{ id: string; name: string; action_type: string | null; action_id: string | null; status: string }>;
  final: boolean;
}

export interface RunRow {
  id: string;
  agent_name: string;
  status: RunStatus;
  requested_by: string;
  correlation_id: string;
  idempotency_key: string | null;
  request_hash: string | null;
  input: string;
  messages: ChatMessage[];
  pending: PendingAction[];
  step: number;
  steps: RunStep[];
  usage: RunUsage;
  cost_usd: number;
  output: string | null;
  error: string | null;
  lease_owner: string | null;
  lease_until: Date | null;
  events: number;
  created_at: Date;
  updated_at: Date;
  finished_at: Date | null;
}

/** What a run reports as it goes (GET /v1/runs/:id/events). */
export interface RunEvent {
  type:
    | 'started'
    | 'resumed'
    | 'step_started'
    | 'tool_call'
    | 'action_pending'
    | 'action_executed'
    | 'action_failed'
    | 'action_denied'
    | 'action_rejected'
    | 'action_expired'
    | 'waiting_approval'
    | 'final'
    | 'failed';
  data: Record<string, unknown>;
}

const eventRows = (events: ReadonlyArray<RunEvent>) => events.map((event) => ({ type: event.type, data: storable(event.data) }));

/**
 * Creates a run that `owner` holds the lease of, with its first event, in one statement. Returns
 * null when the idempotency key was used before by the same principal.
 */
export async function createRun(
  sql: Sql,
  run: {
    agentName: string;
    requestedBy: string;
    correlationId: string;
    idempotencyKey: string | null;
    requestHash: string;
    input: string;
    messages: ChatMessage[];
    owner: string;
    leaseMs: number;
  },
  event: RunEvent,
): Promise<RunRow | null> {
  const [row] = await sql<RunRow[]>`
    with inserted as (
      insert into agent_runs (agent_name, status, requested_by, correlation_id, idempotency_key, request_hash, input, messages,
                              lease_owner, lease_until, events)
      values (${run.agentName}, 'running', ${run.requestedBy}, ${run.correlationId}, ${run.idempotencyKey}, ${run.requestHash},
              ${storableText(run.input) ?? ''}, ${sql.json(storable(run.messages) as never)}, ${run.owner},
              now() + ${run.leaseMs} * interval '1 millisecond', 1)
      on conflict (requested_by, idempotency_key) do nothing
      returning *
    ), event as (
      insert into agent_run_events (run_id, seq, type, data)
      select id, 1, ${event.type}, ${sql.json(storable(event.data) as never)} from inserted
    )
    select * from inserted`;
  return row ?? null;
}

export async function findRun(sql: Sql, id: string): Promise<RunRow | undefined> {
  const [row] = await sql<RunRow[]>`select * from agent_runs where id = ${id}`;
  return row;
}

export async function findRunByKey(sql: Sql, requestedBy: string, key: string): Promise<RunRow | undefined> {
  const [row] = await sql<RunRow[]>`select * from agent_runs where requested_by = ${requestedBy} and idempotency_key = ${key}`;
  return row;
}

/**
 * Takes the run's lease when nobody holds a live one: of any number of racing resumes, exactly one
 * gets the row and advances the run; the others see undefined.
 */
export async function claimRun(sql: Sql, id: string, owner: string, leaseMs: number): Promise<RunRow | undefined> {
  const [row] = await sql<RunRow[]>`
    update agent_runs set lease_owner = ${owner}, lease_until = now() + ${leaseMs} * interval '1 millisecond', updated_at = now()
    where id = ${id} and status in ('running', 'waiting_approval') and (lease_until is null or lease_until < now())
    returning *`;
  return row;
}

export interface RunPatch {
  status?: RunStatus;
  messages?: ChatMessage[];
  pending?: PendingAction[];
  step?: number;
  steps?: RunStep[];
  usage?: RunUsage;
  costUsd?: number;
  output?: string | null;
  error?: string | null;
  /** Give the lease up (the run waits or is finished). Otherwise it is extended by `leaseMs`. */
  release?: boolean;
}

/**
 * Saves a run's progress and appends its events in one statement, fenced by the lease: when
 * `owner` no longer holds it (it expired and another instance took over) nothing is written and
 * undefined is returned.
 */
export async function saveRun(
  sql: Sql,
  id: string,
  owner: string,
  leaseMs: number,
  patch: RunPatch,
  events: ReadonlyArray<RunEvent>,
): Promise<RunRow | undefined> {
  const rows = eventRows(events);
  const [row] = await sql<RunRow[]>`
    with updated as (
      update agent_runs set
        status = coalesce(${patch.status ?? null}, status),
        messages = coalesce(${patch.messages ? sql.json(storable(patch.messages) as never) : null}, messages),
        pending = coalesce(${patch.pending ? sql.json(patch.pending as never) : null}, pending),
        step = coalesce(${patch.step ?? null}, step),
        steps = coalesce(${patch.steps ? sql.json(storable(patch.steps) as never) : null}, steps),
        usage = coalesce(${patch.usage ? sql.json(patch.usage as never) : null}, usage),
        cost_usd = coalesce(${patch.costUsd ?? null}, cost_usd),
        output = coalesce(${storableText(patch.output)}, output),
        error = coalesce(${storableText(patch.error)}, error),
        lease_owner = case when ${patch.release ?? false} then null else lease_owner end,
        lease_until = case when ${patch.release ?? false} then null else now() + ${leaseMs} * interval '1 millisecond' end,
        events = events + ${rows.length},
        updated_at = now(),
        finished_at = case when ${patch.status ?? null} in ('succeeded', 'failed') then now() else finished_at end
      where id = ${id} and lease_owner = ${owner}
      returning *
    ), appended as (
      insert into agent_run_events (run_id, seq, type, data)
      select updated.id, updated.events - ${rows.length} + item.ord::int, item.value->>'type', item.value->'data'
      from updated cross join jsonb_array_elements(${sql.json(rows as never)}) with ordinality as item(value, ord)
    )
    select * from updated`;
  return row;
}

/**
 * Extends the run's lease by `leaseMs` from now while `owner` holds it (a step with many slow tool
 * calls must not outlive its lease and be taken over mid-way); false when it no longer holds it.
 */
export async function renewLease(sql: Sql, id: string, owner: string, leaseMs: number): Promise<boolean> {
  const rows = await sql`
    update agent_runs set lease_until = now() + ${leaseMs} * interval '1 millisecond'
    where id = ${id} and lease_owner = ${owner}
    returning id`;
  return rows.length > 0;
}

export async function readEvents(
  sql: Sql,
  runId: string,
  after: number,
  limit = 200,
): Promise<Array<{ seq: number; type: string; data: unknown; created_at: Date }>> {
  return sql`
    select seq, type, data, created_at from agent_run_events
    where run_id = ${runId} and seq > ${after} order by seq limit ${limit}`;
}

/**
 * Runs that can move on without anyone asking: waiting ones whose held actions were all decided
 * (or expired), and running ones whose lease ran out (their instance stopped mid-step).
 */
export async function runsToResume(sql: Sql, limit = 20): Promise<string[]> {
  const rows = await sql<{ id: string }[]>`
    select r.id from agent_runs r
    where (r.status = 'running' and r.lease_until < now())
       or (r.status = 'waiting_approval' and r.lease_owner is null and not exists (
             select 1 from jsonb_array_elements(r.pending) p
             join action_audit_logs a on a.id = (p.value->>'action_id')::uuid
             where a.status in ('pending', 'approved', 'executing')))
    order by r.updated_at limit ${limit}`;
  return rows.map((row) => row.id);
}

/** The API's view of a run: dates as ISO strings, no lease or request hash, links to follow. */
export function presentRun(row: RunRow) {
  const { request_hash: _hash, lease_owner: _owner, lease_until: _until, messages: _messages, events: _events, ...rest } = row;
  return {
    ...rest,
    pending_action_ids: row.pending.map((item) => item.action_id),
    created_at: row.created_at.toISOString(),
    updated_at: row.updated_at.toISOString(),
    finished_at: row.finished_at?.toISOString() ?? null,
    links: { self: `/v1/runs/${row.id}`, events: `/v1/runs/${row.id}/events`, resume: `/v1/runs/${row.id}/resume` },
  };
}
