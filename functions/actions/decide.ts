import type { Link } from '@opentelemetry/api';
import type { z } from 'zod';
import { ApiError } from '../../shared/http/errors.js';
import type { RequestScope } from '../../shared/http/scope.js';
import type { Services } from '../../shared/services.js';
import { parseTraceparent } from '../../shared/telemetry/correlation.js';
import { CATALOG } from './catalog/index.js';
import type { ActionDefinition } from './catalog/types.js';
import { auditUnavailable, requireDb } from './errors.js';
import { isRerunnable } from './recovery.js';
import { executeClaimed, toolLabel } from './run.js';
import type { ApproveSchema, RejectSchema } from './schemas.js';
import { type ActionRow, actionDigest, findAction, readSnapshot, transition } from './store.js';

/** A decision that was recorded: what the domain tells whoever waits for it (an agent run). */
export interface Decided {
  actionId: string;
  /** The agent run the action belongs to, as stored (may be null, or not a run id at all). */
  runId: string | null;
  decision: 'approved' | 'rejected';
}

/**
 * What the domain calls after a decision, wired in the composition root (functions/app.ts): the
 * run that asked for the action goes on with the result. A hook only schedules work
 * (`scope.background`); it never holds up or fails the decision's answer.
 */
export interface DecisionHooks {
  onDecided?(decided: Decided, scope: RequestScope): void;
}

function decided(scope: RequestScope, hooks: DecisionHooks, event: Decided): void {
  try {
    hooks.onDecided?.(event, scope);
  } catch (error) {
    scope.logger.error('a decision hook failed', { action_id: event.actionId, error: error as Error });
  }
}

/** Why a claim failed, told as precisely as the row allows (the claim itself already said no). */
async function refusal(scope: RequestScope, sql: Parameters<typeof findAction>[0], id: string, digest: string | null): Promise<ApiError> {
  const { principal, correlationId } = scope;
  const row = await findAction(sql, id);
  if (!row) return new ApiError('NOT_FOUND', { detail: `No action ${id}` });
  if (row.requested_by === principal.id) {
    return new ApiError('FORBIDDEN', {
      detail: 'An approver cannot decide an action its own principal requested',
      hint: 'separation of duties: ask another approver',
    });
  }
  if (row.status === 'pending' && row.expires_at && row.expires_at.getTime() <= scope.services.clock.now()) {
    await transition(sql, id, ['pending'], 'expired', { event: 'expired', actor: 'system', correlationId, data: {} }).catch(
      () => undefined,
    );
    return new ApiError('CONFLICT', { detail: 'The action expired before it was decided', extra: { id, action_status: 'expired' } });
  }
  if (row.status === 'pending' && digest !== null && row.digest !== digest) {
    return new ApiError('CONFLICT', {
      detail: 'The digest does not match the pending action',
      hint: 'GET the action again and review what it will do',
      extra: { id, action_status: row.status },
    });
  }
  return new ApiError('CONFLICT', { detail: `The action is already ${row.status}`, extra: { id, action_status: row.status } });
}

/** A span link to the W3C traceparent stored with the action, when it is a valid one. */
function linkTo(traceparent: string | null): Link | undefined {
  const parent = parseTraceparent(traceparent);
  if (!parent) return undefined;
  return {
    context: { traceId: parent.traceId, spanId: parent.spanId, traceFlags: parent.flags, isRemote: true },
    attributes: { 'myca.link': 'requested_by' },
  };
}

/** How long the action waited for its decision. */
function recordLatency(services: Services, row: ActionRow, decision: 'approved' | 'rejected'): void {
  const seconds = ((row.decided_at ?? new Date(services.clock.now())).getTime() - row.created_at.getTime()) / 1000;
  services.metrics.approvalLatency.record(Math.max(0, seconds), { action_type: toolLabel(row.action_type), decision });
}

/**
 * Approves a held action and executes its frozen snapshot, exactly once: the claim is one
 * conditional update (pending, not expired, the digest the approver saw, not the requester's own).
 * Refusals are thrown as {@link ApiError} saying why (expired, decided, changed, own request).
 */
export async function approveAction(
  scope: RequestScope,
  id: string,
  body: z.output<typeof ApproveSchema>,
  hooks: DecisionHooks = {},
): Promise<{ row: ActionRow; status: number; body: Record<string, unknown>; logFields: Record<string, unknown> }> {
  const { services, principal, correlationId, logger } = scope;
  const db = requireDb(services);
  // The claim: one conditional update. Of any number of racing approvals exactly one gets a row.
  const approved = await transition(
    db.sql,
    id,
    ['pending'],
    'approved',
    { event: 'approved', actor: principal.id, correlationId, data: { digest: body.digest, comment: body.comment ?? null } },
    {
      approvedBy: principal.id,
      comment: body.comment ?? null,
      decision: { digest: body.digest, decidedBy: principal.id },
      leaseS: services.config.actions.lease_s,
    },
  ).catch((error: unknown) => {
    throw auditUnavailable(error);
  });
  if (!approved) throw await refusal(scope, db.sql, id, body.digest);
  services.metrics.actionAuditLogs.add(1, { action_type: toolLabel(approved.action_type), status: 'approved' });
  recordLatency(services, approved, 'approved');

  const action = CATALOG.get(approved.action_type);
  // The approval is recorded: a database that stops answering now leaves it with its lease, and the
  // recovery sweep takes it over when the lease ends. The approver hears what the sweep will do, not a 500.
  const rerun = action !== undefined && isRerunnable(action as ActionDefinition<never, unknown>, approved);
  const unstarted = (status: 'approved' | 'executing') => (error: unknown) =>
    new ApiError('UNAVAILABLE', {
      detail: 'The approval is recorded, but the action could not be started now (the database did not answer); nothing ran',
      hint: rerun
        ? `once its lease ends the recovery sweep runs it (GET /v1/actions/${id} shows the outcome)`
        : `once its lease ends the recovery sweep ends it failed (interrupted) without running it: ${approved.action_type} is never run again unseen; submit it anew then`,
      headers: { 'retry-after': String(services.config.actions.lease_s) },
      extra: { id, action_status: status },
      cause: error,
    });
  const executing = await transition(
    db.sql,
    id,
    ['approved'],
    'executing',
    { event: 'executing', actor: principal.id, correlationId, data: {} },
    { leaseS: services.config.actions.lease_s },
  ).catch((error: unknown) => {
    throw unstarted('approved')(error);
  });
  if (!action || !executing) throw new ApiError('CONFLICT', { detail: 'The action could not be started', extra: { id } });
  // Execute exactly what was approved: the snapshot must still hash to the digest. (Unreadable now:
  // the row is `executing` with its lease, and the sweep takes it over.)
  const input = await readSnapshot(db.sql, id).catch((error: unknown) => {
    throw unstarted('executing')(error);
  });
  const digest = actionDigest({
    type: approved.action_type,
    input,
    agentId: approved.agent_id,
    runId: approved.agent_run_id,
    policyVersion: approved.policy_version,
  });
  if (input === undefined || digest !== approved.digest) {
    await transition(
      db.sql,
      id,
      ['executing'],
      'failed',
      { event: 'failed', actor: 'system', correlationId, data: { error: 'snapshot does not match the approved digest' } },
      { error: 'snapshot does not match the approved digest' },
    );
    throw new ApiError('CONFLICT', {
      detail: 'The stored request no longer matches what was approved; nothing was executed',
      extra: { id },
    });
  }
  const logFields = {
    action_id: id,
    action_type: approved.action_type,
    decision: 'approved',
    original_correlation_id: approved.correlation_id,
  };
  // The approval's execution is traced under this request, linked to the request that asked for it.
  const tracer = services.tracerProvider.getTracer('myca-actions');
  const link = linkTo(approved.traceparent);
  const executed = await tracer.startActiveSpan(
    'action.approve',
    { attributes: { 'myca.action.id': id, 'myca.original_correlation_id': approved.correlation_id }, links: link ? [link] : [] },
    async (span) => {
      try {
        return await executeClaimed(services, db.sql, executing, action, input, principal.id, correlationId, logger);
      } finally {
        span.end();
      }
    },
  );
  decided(scope, hooks, { actionId: id, runId: executed.row.agent_run_id, decision: 'approved' });
  return { row: executed.row, status: executed.status, body: executed.body, logFields };
}

/** Rejects a held action with a reason (the agent, or its run's model, is told it). */
export async function rejectAction(
  scope: RequestScope,
  id: string,
  body: z.output<typeof RejectSchema>,
  hooks: DecisionHooks = {},
): Promise<ActionRow> {
  const { services, principal, correlationId } = scope;
  const db = requireDb(services);
  const rejected = await transition(
    db.sql,
    id,
    ['pending'],
    'rejected',
    { event: 'rejected', actor: principal.id, correlationId, data: { reason: body.reason } },
    { reason: body.reason, approvedBy: principal.id, decision: { decidedBy: principal.id } },
  ).catch((error: unknown) => {
    throw auditUnavailable(error);
  });
  if (!rejected) throw await refusal(scope, db.sql, id, null);
  services.metrics.actionAuditLogs.add(1, { action_type: toolLabel(rejected.action_type), status: 'rejected' });
  recordLatency(services, rejected, 'rejected');
  decided(scope, hooks, { actionId: id, runId: rejected.agent_run_id, decision: 'rejected' });
  return rejected;
}
