import type { Link } from '@opentelemetry/api';
import { Hono } from 'hono';
import { z } from 'zod';
import { requireAuth } from '../../shared/http/auth.js';
import { ApiError } from '../../shared/http/errors.js';
import type { AppEnv } from '../../shared/http/types.js';
import { readJson } from '../../shared/http/validate.js';
import { CATALOG } from '../action-execute/actions/index.js';
import { actionIdParam, auditUnavailable, requireDb } from '../action-execute/index.js';
import { executeClaimed, toolLabel } from '../action-execute/run.js';
import { actionDigest, findAction, present, readSnapshot, transition } from '../action-execute/store.js';
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
    const db = requireDb(services);
    const id = actionIdParam(c.req.param('id'));
    const principal = c.get('principal');
    const correlationId = c.get('correlationId');
    const body = await readJson(c, ApproveSchema);

    // The claim: one conditional update. Of any number of racing approvals exactly one gets a row.
    const approved = await transition(
      db.sql,
      id,
      ['pending'],
      'approved',
      { event: 'approved', actor: principal.id, correlationId, data: { digest: body.digest, comment: body.comment ?? null } },
      { approvedBy: principal.id, comment: body.comment ?? null, decision: { digest: body.digest, decidedBy: principal.id } },
    ).catch((error: unknown) => {
      throw auditUnavailable(error);
    });
    if (!approved) throw await refusal(db.sql, id, principal.id, body.digest, correlationId);
    services.metrics.actionAuditLogs.add(1, { action_type: toolLabel(approved.action_type), status: 'approved' });

    const action = CATALOG.get(approved.action_type);
    const executing = await transition(db.sql, id, ['approved'], 'executing', {
      event: 'executing',
      actor: principal.id,
      correlationId,
      data: {},
    });
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
    c.set('logFields', {
      ...c.get('logFields'),
      action_id: id,
      action_type: approved.action_type,
      decision: 'approved',
      original_correlation_id: approved.correlation_id,
    });
    // The approval's execution is traced under this request, linked to the request that asked for it.
    const tracer = services.tracerProvider.getTracer('myca-actions');
    const link = linkTo(approved.traceparent);
    const executed = await tracer.startActiveSpan(
      'action.approve',
      { attributes: { 'myca.action.id': id, 'myca.original_correlation_id': approved.correlation_id }, links: link ? [link] : [] },
      async (span) => {
        try {
          return await executeClaimed(services, db.sql, executing, action, input, principal.id, correlationId, c.get('logger'));
        } finally {
          span.end();
        }
      },
    );
    // The run that asked for it (if any) goes on with the result.
    resumeAfterDecision(c, services, approved.agent_run_id, 'approved');
    return c.json(executed.body, executed.status as 200);
  });

  app.post('/v1/actions/:id/reject', async (c) => {
    const services = c.get('services');
    const db = requireDb(services);
    const id = actionIdParam(c.req.param('id'));
    const principal = c.get('principal');
    const correlationId = c.get('correlationId');
    const body = await readJson(c, RejectSchema);
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
    // The run that asked for it (if any) hears the reason and goes on.
    resumeAfterDecision(c, services, rejected.agent_run_id, 'rejected');
    return c.json(present(rejected));
  });

  return app;
}
