import { randomUUID } from 'node:crypto';
import type { Sql } from 'postgres';
import { noteChainHead } from '../../shared/audit/anchor.js';
import { type AuditEventInput, prepareEvents, storable, storableText } from '../../shared/audit/chain.js';
import { canonicalJson, sha256 } from '../../shared/audit/hash.js';
import { groupCommit } from '../../shared/db/group-commit.js';
import { redact } from '../../shared/redact/index.js';

export const STATUSES = ['pending', 'approved', 'rejected', 'expired', 'executing', 'executed', 'failed', 'denied'] as const;
export type ActionStatus = (typeof STATUSES)[number];

/** One row of action_audit_logs as the API shows it (inputs and outputs are stored redacted). */
export interface ActionRow {
  id: string;
  correlation_id: string;
  traceparent: string | null;
  agent_id: string;
  agent_run_id: string | null;
  requested_by: string;
  action_type: string;
  action_category: string;
  inputs: Record<string, unknown>;
  outputs: Record<string, unknown> | null;
  status: ActionStatus;
  error: string | null;
  approved_by: string | null;
  approval_required: boolean;
  created_at: Date;
  decided_at: Date | null;
  executed_at: Date | null;
  duration_ms: number | null;
  digest: string;
  idempotency_key: string | null;
  request_hash: string | null;
  expires_at: Date | null;
  policy_version: string;
  policy_rule: string;
  decision_comment: string | null;
  rejection_reason: string | null;
  /** Until when the worker that moved it to `approved` or `executing` owns it (then the recovery sweep does). */
  lease_until: Date | null;
  /** How many times the recovery sweep ran it again after its worker was gone. */
  recovery_attempts: number;
  /** The chain's head (`seq:hash`) after the write that returned this row (not stored; see shared/audit/anchor.ts). */
  chain_head?: string | null;
}

/**
 * The digest an approval binds to: SHA-256 of the canonical JSON of the validated, defaulted input
 * plus type, agent, run and policy version. Computed at submission and again before an approved
 * snapshot executes.
 */
export function actionDigest(action: {
  type: string;
  input: unknown;
  agentId: string;
  runId: string | null;
  policyVersion: string;
}): string {
  return sha256(
    canonicalJson({
      type: action.type,
      input: action.input,
      agent_id: action.agentId,
      run_id: action.runId,
      policy_version: action.policyVersion,
    }),
  );
}

/** ACTION_LEASE_S's default, for callers without the configuration at hand. */
export const DEFAULT_LEASE_S = 300;

/** The longest an audit write may take before the caller gets 503 (the driver can stall on a cut connection). */
const AUDIT_WRITE_TIMEOUT_MS = 10_000;

/** Bounds a database promise: a stalled audit write becomes an error the handler answers with 503. */
function bounded<T>(promise: Promise<T>, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} took longer than ${AUDIT_WRITE_TIMEOUT_MS} ms`)), AUDIT_WRITE_TIMEOUT_MS);
  });
  return Promise.race([promise, deadline]).finally(() => clearTimeout(timer));
}

export interface NewAction {
  correlationId: string;
  /** The requesting request's span (W3C traceparent), for linking the approval's trace to it. */
  traceparent: string | null;
  agentId: string;
  runId: string | null;
  requestedBy: string;
  type: string;
  category: string;
  input: unknown;
  status: Extract<ActionStatus, 'pending' | 'executing' | 'denied'>;
  error?: string;
  /** A denial's answer (`{problem: {status, …}}`), so a replayed Idempotency-Key gets the same one. */
  outputs?: Record<string, unknown>;
  approvalRequired: boolean;
  digest: string;
  idempotencyKey: string | null;
  requestHash: string | null;
  expiresAt: Date | null;
  policyVersion: string;
  policyRule: string;
  /** Seconds the submitting worker owns an `executing` row (ACTION_LEASE_S). */
  leaseS?: number;
}

/**
 * Writes a new action with its first events in one statement (so one round trip and one commit; fail
 * closed: nothing runs unless this commits). Returns null when the Idempotency-Key was used before
 * (the caller replays). A held action's unredacted input is kept apart in action_snapshots until it
 * is decided.
 */
export async function insertAction(
  sql: Sql,
  action: NewAction,
  events: Array<Omit<AuditEventInput, 'actionId'>>,
): Promise<ActionRow | null> {
  const id = randomUUID();
  const prepared = prepareEvents(events.map((event) => ({ ...event, actionId: id })));
  // One statement (group-committed with whatever other audit writes are waiting): fail closed.
  const [row] = await bounded(
    groupCommit(sql).run(
      (sql) => sql<ActionRow[]>`
    with inserted as (
      insert into action_audit_logs (
        id, correlation_id, traceparent, agent_id, agent_run_id, requested_by, action_type, action_category, inputs, outputs, status, error,
        approval_required, digest, idempotency_key, request_hash, expires_at, policy_version, policy_rule, lease_until
      ) values (
        ${id}, ${action.correlationId}, ${action.traceparent}, ${action.agentId}, ${action.runId}, ${action.requestedBy}, ${storableText(action.type)}, ${action.category},
        ${sql.json(storable(action.input) as never)}, ${action.outputs ? sql.json(storable(action.outputs) as never) : null}, ${action.status}, ${storableText(action.error)}, ${action.approvalRequired}, ${action.digest},
        ${action.idempotencyKey}, ${action.requestHash}, ${action.expiresAt}, ${action.policyVersion}, ${action.policyRule},
        case when ${action.status} = 'executing' then now() + make_interval(secs => ${action.leaseS ?? DEFAULT_LEASE_S}) end
      )
      on conflict (requested_by, idempotency_key) do nothing
      returning *
    ), snapshot as (
      insert into action_snapshots (action_id, input)
      select id, ${JSON.stringify(action.input)} from inserted where ${action.status === 'pending'}
    ), chained as (
      -- A CTE that is only selected from runs only when referenced: the final WHERE references it.
      select myca_append_audit_events(${sql.json(prepared as never)}) as appended from inserted
    )
    select inserted.*, (select appended from chained) as chain_head from inserted where exists (select 1 from chained)`,
    ),
    'writing the audit record',
  );
  await noteChainHead(sql, row?.chain_head);
  return row ?? null;
}

/** The earlier request with this key, with `overdue` (held past its deadline) for the replay to show it as reads do. */
export async function findByIdempotencyKey(
  sql: Sql,
  requestedBy: string,
  key: string,
): Promise<(ActionRow & { overdue?: boolean }) | undefined> {
  const [row] = await sql<Array<ActionRow & { overdue: boolean }>>`
    select *, (status = 'pending' and expires_at <= now()) as overdue
    from action_audit_logs where requested_by = ${requestedBy} and idempotency_key = ${key}`;
  return row;
}

export async function findAction(sql: Sql, id: string): Promise<ActionRow | undefined> {
  const [row] = await sql<ActionRow[]>`select * from action_audit_logs where id = ${id}`;
  return row;
}

/**
 * Moves an action from one of `from` to `to` with one conditional update and records the event in
 * the same statement. Returns the updated row, or undefined when the action was not in `from`
 * (someone else got there first): the claim that makes approvals execute at most once.
 */
export async function transition(
  sql: Sql,
  id: string,
  from: ReadonlyArray<ActionStatus>,
  to: ActionStatus,
  event: Omit<AuditEventInput, 'actionId'>,
  patch: {
    outputs?: unknown;
    error?: string | null;
    approvedBy?: string;
    comment?: string | null;
    reason?: string;
    durationMs?: number;
    /** Claim conditions of a decision: not expired, the digest the approver saw, not the requester. */
    decision?: { digest?: string; decidedBy: string };
    /** Seconds the caller owns the row when `to` is `approved` or `executing` (ACTION_LEASE_S). */
    leaseS?: number;
    /** The recovery sweep's claim: only a row whose lease ran out, and it counts a re-run. */
    recovery?: { rerun: boolean };
  } = {},
): Promise<ActionRow | undefined> {
  const prepared = prepareEvents([{ ...event, actionId: id }]);
  const terminal = ['executed', 'failed', 'rejected', 'expired'].includes(to);
  const [row] = await bounded(
    groupCommit(sql).run(
      (sql) => sql<ActionRow[]>`
    with updated as (
      update action_audit_logs set
        status = ${to},
        outputs = coalesce(${patch.outputs === undefined ? null : sql.json(storable(patch.outputs) as never)}, outputs),
        error = coalesce(${storableText(patch.error)}, error),
        approved_by = coalesce(${patch.approvedBy ?? null}, approved_by),
        decision_comment = coalesce(${storableText(patch.comment)}, decision_comment),
        rejection_reason = coalesce(${storableText(patch.reason)}, rejection_reason),
        decided_at = case when ${to} in ('approved', 'rejected', 'expired') then now() else decided_at end,
        executed_at = case when ${to} in ('executed', 'failed') then now() else executed_at end,
        duration_ms = coalesce(${patch.durationMs ?? null}, duration_ms),
        lease_until = case when ${to} in ('approved', 'executing') then now() + make_interval(secs => ${patch.leaseS ?? DEFAULT_LEASE_S}) end,
        recovery_attempts = recovery_attempts + ${patch.recovery?.rerun ? 1 : 0}
      where id = ${id} and status = any(string_to_array(${from.join(',')}, ','))
        and (${!patch.recovery}::boolean or lease_until is null or lease_until <= now())
        and (${!patch.decision}::boolean or (
          expires_at > now()
          and requested_by <> ${patch.decision?.decidedBy ?? ''}
          and (${patch.decision?.digest ?? null}::text is null or digest = ${patch.decision?.digest ?? null})))
      returning *
    ), dropped as (
      delete from action_snapshots where action_id = ${id} and ${terminal} and exists (select 1 from updated)
    ), chained as (
      select myca_append_audit_events(${sql.json(prepared as never)}) as appended from updated
    )
    select updated.*, (select appended from chained) as chain_head from updated where exists (select 1 from chained)`,
    ),
    'recording the state change',
  );
  await noteChainHead(sql, row?.chain_head);
  return row;
}

export async function readSnapshot(sql: Sql, id: string): Promise<unknown> {
  const [row] = await sql<{ input: string }[]>`select input from action_snapshots where action_id = ${id}`;
  return row ? (JSON.parse(row.input) as unknown) : undefined;
}

/** What a person reviewing an action must know of the input it runs, without seeing a secret of it. */
export interface ReviewFacts {
  /** Parts of the input were masked as secrets in what the page shows (the action runs them as submitted). */
  masked: boolean;
  /** The UTF-8 size of the content a write puts in place (`content` or `body`), as submitted. */
  contentBytes: number | null;
}

/** {@link ReviewFacts} from the action's exact input (its snapshot), or from the stored one when there is none. */
export async function reviewFacts(sql: Sql, row: Pick<ActionRow, 'id' | 'inputs'>): Promise<ReviewFacts> {
  const exact = ((await readSnapshot(sql, row.id)) ?? row.inputs) as Record<string, unknown> | null;
  const content = exact?.content ?? exact?.body;
  return {
    masked: exact !== null && canonicalJson(redact(exact)) !== canonicalJson(exact),
    contentBytes: typeof content === 'string' ? new TextEncoder().encode(content).byteLength : null,
  };
}

/** The API's view of a row: dates as ISO strings, nothing internal (request hash). */
export function present(row: ActionRow) {
  const { request_hash: _hash, lease_until: _lease, recovery_attempts: _attempts, chain_head: _head, ...rest } = row;
  return {
    ...rest,
    created_at: row.created_at.toISOString(),
    decided_at: row.decided_at?.toISOString() ?? null,
    executed_at: row.executed_at?.toISOString() ?? null,
    expires_at: row.expires_at?.toISOString() ?? null,
    links: links(row),
  };
}

/** Where an action is read, and — only while it waits for a person — where it is decided. */
export function links(row: Pick<ActionRow, 'id' | 'status'>): Record<string, string> {
  const self = `/v1/actions/${row.id}`;
  return row.status === 'pending' ? { self, approve: `${self}/approve`, reject: `${self}/reject` } : { self };
}
