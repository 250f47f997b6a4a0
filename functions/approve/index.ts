import type { Link } from '@opentelemetry/api';
import { type Context, Hono } from 'hono';
import { z } from 'zod';
import { type Principal, requireAuth } from '../../shared/http/auth.js';
import { ApiError } from '../../shared/http/errors.js';
import type { AppEnv } from '../../shared/http/types.js';
import { readJson } from '../../shared/http/validate.js';
import type { Logger } from '../../shared/log/index.js';
import type { Services } from '../../shared/services.js';
import { CATALOG } from '../action-execute/actions/index.js';
import { actionIdParam, actionReply, auditUnavailable, requireDb } from '../action-execute/index.js';
import { executeClaimed, toolLabel } from '../action-execute/run.js';
import { type ActionRow, actionDigest, findAction, present, readSnapshot, transition } from '../action-execute/store.js';
import { resumeAfterDecision } from '../agent-run/index.js';

export const ApproveSchema = z.strictObject({
  digest: z.string().regex(/^[0-9a-f]{64}$/, 'the digest shown with the pending action (64 hex characters)'),
  comment: z.string().max(2000).optional(),
});
export const RejectSchema = z.strictObject({ reason: z.string().min(1, 'say why, so the agent can learn from it').max(2000) });

/** Why a claim failed, told as precisely as the row allows (the claim itself already said no). */
async function refusal(
  sql: Parameters<typeof findAction>[0],
  id: string,
  principalId: string,
  digest: string | null,
  correlationId: string,
): Promise<ApiError> {
  const row = await findAction(sql, id);
  if (!row) return new ApiError('NOT_FOUND', { detail: `No action ${id}` });
  if (row.requested_by === principalId) {
    return new ApiError('FORBIDDEN', {
      detail: 'An approver cannot decide an action its own principal requested',
      hint: 'separation of duties: ask another approver',
    });
  }
  if (row.status === 'pending' && row.expires_at && row.expires_at.getTime() <= Date.now()) {
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
  const match = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/.exec(traceparent ?? '');
  if (!match?.[1] || !match[2]) return undefined;
  return {
    context: { traceId: match[1], spanId: match[2], traceFlags: Number.parseInt(match[3] ?? '01', 16), isRemote: true },
    attributes: { 'myca.link': 'requested_by' },
  };
}

/** How long the action waited for its decision. */
function recordLatency(services: Services, row: ActionRow, decision: 'approved' | 'rejected'): void {
  const seconds = ((row.decided_at ?? new Date(services.clock.now())).getTime() - row.created_at.getTime()) / 1000;
  services.metrics.approvalLatency.record(Math.max(0, seconds), { action_type: toolLabel(row.action_type), decision });
}

/** Who decides, and the request the decision arrives in. */
export interface Decider {
  services: Services;
  principal: Principal;
  correlationId: string;
  logger: Logger;
}

/** The decider of a request under /v1 or the approvals page. */
export const decider = (c: Context<AppEnv>): Decider => ({
  services: c.get('services'),
  principal: c.get('principal'),
  correlationId: c.get('correlationId'),
  logger: c.get('logger'),
});

/**
 * Approves a held action and executes its frozen snapshot, exactly once: the claim is one
 * conditional update (pending, not expired, the digest the approver saw, not the requester's own).
 * Refusals are thrown as {@link ApiError} saying why (expired, decided, changed, own request).
 */
export async function approveAction(
  decider: Decider,
  id: string,
  body: z.output<typeof ApproveSchema>,
): Promise<{ row: ActionRow; status: number; body: Record<string, unknown>; logFields: Record<string, unknown> }> {
  const { services, principal, correlationId, logger } = decider;
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
  if (!approved) throw await refusal(db.sql, id, principal.id, body.digest, correlationId);
  services.metrics.actionAuditLogs.add(1, { action_type: toolLabel(approved.action_type), status: 'approved' });
  recordLatency(services, approved, 'approved');

  const action = CATALOG.get(approved.action_type);
  const executing = await transition(
    db.sql,
    id,
    ['approved'],
    'executing',
    { event: 'executing', actor: principal.id, correlationId, data: {} },
    { leaseS: services.config.actions.lease_s },
  );
  if (!action || !executing) throw new ApiError('CONFLICT', { detail: 'The action could not be started', extra: { id } });
  // Execute exactly what was approved: the snapshot must still hash to the digest.
  const input = await readSnapshot(db.sql, id);
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
  return { row: executed.row, status: executed.status, body: executed.body, logFields };
}

/** Rejects a held action with a reason (the agent, or its run's model, is told it). */
export async function rejectAction(decider: Decider, id: string, body: z.output<typeof RejectSchema>): Promise<ActionRow> {
  const { services, principal, correlationId } = decider;
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
  if (!rejected) throw await refusal(db.sql, id, principal.id, null, correlationId);
  services.metrics.actionAuditLogs.add(1, { action_type: toolLabel(rejected.action_type), status: 'rejected' });
  recordLatency(services, rejected, 'rejected');
  return rejected;
}

/**
 * approve: a human (approver key) approves or rejects a held action. The claim is one conditional
 * update (pending, not expired, same digest, not the requester's own), so of many racing decisions
 * exactly one wins; an approved action executes its frozen snapshot exactly once.
 */
export function createApprove() {
  const app = new Hono<AppEnv>();
  app.use('/v1/actions/:id/approve', requireAuth({ roles: ['approver'] }));
  app.use('/v1/actions/:id/reject', requireAuth({ roles: ['approver'] }));

  app.post('/v1/actions/:id/approve', async (c) => {
    const services = c.get('services');
    const id = actionIdParam(c.req.param('id'));
    const body = await readJson(c, ApproveSchema);
    const decided = await approveAction(decider(c), id, body);
    c.set('logFields', { ...c.get('logFields'), ...decided.logFields });
    // The run that asked for it (if any) goes on with the result.
    resumeAfterDecision(c, services, decided.row.agent_run_id, 'approved');
    return actionReply(c, decided.status, decided.body);
  });

  app.post('/v1/actions/:id/reject', async (c) => {
    const services = c.get('services');
    const id = actionIdParam(c.req.param('id'));
    const body = await readJson(c, RejectSchema);
    const rejected = await rejectAction(decider(c), id, body);
    // The run that asked for it (if any) hears the reason and goes on.
    resumeAfterDecision(c, services, rejected.agent_run_id, 'rejected');
    return c.json(present(rejected));
  });

  return app;
}
