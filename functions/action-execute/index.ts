import { type Context, Hono } from 'hono';
import { z } from 'zod';
import { canonicalJson, sha256 } from '../../shared/audit/hash.js';
import type { Principal } from '../../shared/http/auth.js';
import { ApiError, type ErrorCode, problemResponse } from '../../shared/http/errors.js';
import type { AppEnv } from '../../shared/http/types.js';
import { isUuid, readJson } from '../../shared/http/validate.js';
import type { Logger } from '../../shared/log/index.js';
import type { Services } from '../../shared/services.js';
import { currentTraceparent } from '../../shared/telemetry/correlation.js';
import { CATALOG } from './actions/index.js';
import { ActionError } from './actions/types.js';
import { decide } from './policy.js';
import { actionContext, executeClaimed, toolLabel } from './run.js';
import { type ActionRow, actionDigest, expireDue, findAction, findByIdempotencyKey, insertAction, present, STATUSES } from './store.js';

export const SubmitActionSchema = z.strictObject({
  type: z.string().min(1).max(128),
  input: z.record(z.string(), z.unknown()),
  agent_id: z.string().regex(/^[A-Za-z0-9._-]{1,64}$/, 'agent ids are 1-64 of A-Z a-z 0-9 . _ -'),
  run_id: z.string().min(1).max(128).optional(),
});
export type SubmitAction = z.infer<typeof SubmitActionSchema>;

const MAX_BODY = 256 * 1024;
const MAX_DEPTH = 16;

function depthOf(value: unknown, depth = 0): number {
  if (depth > MAX_DEPTH || value === null || typeof value !== 'object') return depth;
  let deepest = depth;
  for (const item of Object.values(value)) deepest = Math.max(deepest, depthOf(item, depth + 1));
  return deepest;
}

/** The `:id` of an action route, or 404 for anything that cannot be one (never a database error). */
export function actionIdParam(id: string): string {
  if (!isUuid(id)) throw new ApiError('NOT_FOUND', { detail: `No action ${id}` });
  return id;
}

export function requireDb(services: Services) {
  if (!services.db)
    throw new ApiError('UNAVAILABLE', {
      detail: 'Actions need the audit database',
      hint: 'set DATABASE_URL (npm start provides an embedded one)',
    });
  return services.db;
}

/** A failure to write the audit record: nothing was executed. */
export function auditUnavailable(error: unknown): ApiError {
  return new ApiError('UNAVAILABLE', {
    detail: 'The audit store is unavailable; nothing was executed',
    hint: 'retry with the same Idempotency-Key',
    headers: { 'retry-after': '1' },
    cause: error,
  });
}

const isDbFault = (error: unknown) => !(error instanceof ApiError) && !(error instanceof ActionError);

/** The error code of a denial's or a failed action's HTTP status. */
function denialCode(status: number): ErrorCode {
  const codes: Record<number, ErrorCode> = {
    400: 'VALIDATION_FAILED',
    403: 'FORBIDDEN',
    404: 'NOT_FOUND',
    409: 'CONFLICT',
    413: 'PAYLOAD_TOO_LARGE',
    502: 'BAD_GATEWAY',
    503: 'UNAVAILABLE',
    504: 'GATEWAY_TIMEOUT',
  };
  return codes[status] ?? 'UNPROCESSABLE';
}

/**
 * The HTTP answer for an action: JSON when it executed or waits, problem+json when it failed (like
 * every other error), still carrying the action's fields — its id, links, audit fields — with its
 * state as `action_status` (`status` is the HTTP status there).
 */
export function actionReply(c: Context<AppEnv>, status: number, body: Record<string, unknown>): Response {
  if (status < 400) return c.json(body, status as 200);
  type Failure = { detail?: string; hint?: string };
  const { status: actionStatus, problem, ...fields } = body as { status?: string; problem?: Failure } & Record<string, unknown>;
  const stored = (fields.outputs as { problem?: Failure } | null | undefined)?.problem;
  const self = (fields.links as { self?: string } | undefined)?.self ?? '/v1/actions/<id>';
  const failure = new ApiError(denialCode(status), {
    detail:
      problem?.detail ?? stored?.detail ?? (typeof fields.error === 'string' ? fields.error : `The action ${actionStatus ?? 'failed'}`),
    hint:
      problem?.hint ??
      stored?.hint ??
      `the attempt is recorded (GET ${self}); fix the input or the target and submit again with a new Idempotency-Key`,
    extra: { ...fields, action_status: actionStatus, ...(problem ? { problem } : {}) },
  });
  return problemResponse(c, failure);
}

/** What a replayed Idempotency-Key gets: the stored outcome, never a second execution. */
function replay(row: ActionRow, requestHash: string): { status: number; body: Record<string, unknown> } {
  if (row.request_hash !== requestHash) {
    throw new ApiError('UNPROCESSABLE', {
      detail: 'This Idempotency-Key was used with a different request',
      hint: 'use a new key for a new request',
    });
  }
  if (row.status === 'executing' || row.status === 'approved') {
    throw new ApiError('CONFLICT', {
      detail: 'The request with this Idempotency-Key is still running',
      hint: 'GET the action later',
      extra: { id: row.id },
    });
  }
  if (row.status === 'denied') {
    const status = (row.outputs as { problem?: { status?: number } } | null)?.problem?.status ?? 403;
    throw new ApiError(denialCode(status), {
      detail: row.error ?? 'The action was denied',
      extra: { id: row.id, action_status: 'denied', replayed: true },
    });
  }
  const problem = (row.outputs as { problem?: { status?: number } } | null)?.problem;
  const status = row.status === 'pending' ? 202 : row.status === 'failed' ? (problem?.status ?? 502) : 200;
  return { status, body: { ...present(row), replayed: true } };
}

/** Who submits an action, and the request it belongs to. */
export interface Submitter {
  services: Services;
  principal: Principal;
  idempotencyKey: string;
  correlationId: string;
  logger: Logger;
}

export interface Submitted {
  /** 200 executed, 202 held for approval, or the failed action's status; replays keep theirs. */
  status: number;
  body: Record<string, unknown>;
  /** Fields for the request's wide log line. */
  logFields?: Record<string, unknown>;
}

/**
 * What `POST /v1/actions` does after authentication: validate, classify, decide, write the audit
 * record, execute or hold. Refusals are recorded and thrown as {@link ApiError}. Agent runs call it
 * in-process so that their tool calls take exactly the same path.
 */
export async function submitAction(submitter: Submitter, body: SubmitAction): Promise<Submitted> {
  const { services, principal, idempotencyKey, correlationId, logger } = submitter;
  if (depthOf(body.input) > MAX_DEPTH) throw new ApiError('BAD_REQUEST', { detail: `The input is nested deeper than ${MAX_DEPTH} levels` });
  const db = requireDb(services);
  const requestHash = sha256(canonicalJson(body));
  const policy = services.config.policy;
  // What every audit row of this request shares, refused or not.
  const request = {
    correlationId,
    traceparent: currentTraceparent() ?? null,
    agentId: body.agent_id,
    runId: body.run_id ?? null,
    requestedBy: principal.id,
    idempotencyKey,
    requestHash,
  };

  // No look-up first: the insert itself finds an earlier request with this Idempotency-Key (on
  // conflict it writes nothing), and only then is the earlier one read and replayed.
  const replayEarlier = async (): Promise<Submitted> => {
    const winner = await findByIdempotencyKey(db.sql, principal.id, idempotencyKey).catch((error: unknown) => {
      throw auditUnavailable(error);
    });
    if (!winner) throw auditUnavailable(new Error('idempotency conflict without a row'));
    return replay(winner, requestHash);
  };

  // Refusals are recorded too (an audit trail of what agents tried), then answered with a 4xx. A
  // request whose key was used before is answered as that earlier request was.
  const deny = async (
    status: 400 | 403 | 404 | 413 | 422 | 503,
    category: string,
    message: string,
    rule: string,
    extra: Record<string, unknown> = {},
    hint?: string,
  ) => {
    const row = await insertAction(
      db.sql,
      {
        ...request,
        type: body.type,
        category,
        input: body.input,
        status: 'denied',
        error: message,
        outputs: { problem: { status, detail: message } },
        approvalRequired: false,
        digest: actionDigest({ ...request, type: body.type, input: body.input, policyVersion: policy.version }),
        expiresAt: null,
        policyVersion: policy.version,
        policyRule: rule,
      },
      [{ event: 'denied', actor: principal.id, correlationId, data: { reason: message, rule } }],
    ).catch((error: unknown) => {
      throw auditUnavailable(error);
    });
    if (!row) return replayEarlier();
    services.metrics.actionAuditLogs.add(1, { action_type: toolLabel(body.type), status: 'denied' });
    throw new ApiError(denialCode(status), {
      detail: message,
      ...(hint ? { hint } : {}),
      extra: { ...extra, id: row.id, action_status: 'denied' },
    });
  };

  const action = CATALOG.get(body.type);
  if (!action) {
    return deny(400, 'unknown', `Unknown action type "${body.type}"`, 'catalog', {}, `known: ${[...CATALOG.keys()].join(', ')}`);
  }
  const parsed = action.inputSchema.safeParse(body.input);
  if (!parsed.success) {
    const issues = parsed.error.issues.slice(0, 20).map((issue) => ({ path: issue.path.join('.'), message: issue.message }));
    return deny(
      400,
      action.category,
      `Invalid input for ${action.name}: ${issues.map((i) => `${i.path || '(input)'}: ${i.message}`).join('; ')}`,
      'schema',
      { issues },
    );
  }
  const input = parsed.data as Record<string, unknown>;
  try {
    action.check?.(actionContext(services, new AbortController().signal), input as never);
  } catch (error) {
    if (error instanceof ActionError) return deny(error.status as 400, action.category, error.message, 'check', {}, error.hint);
    throw error;
  }

  const tracer = services.tracerProvider.getTracer('myca-actions');
  const decision = tracer.startActiveSpan('action.decide', (span) => {
    const result = decide(policy, services.config.actions.approval_required, action, body.agent_id, input);
    span.setAttributes({ 'myca.action.type': action.name, 'myca.policy.rule': result.rule, 'myca.policy.mode': result.mode });
    span.end();
    return result;
  });
  if (decision.mode === 'deny') return deny(403, action.category, `Policy denies ${action.name} for ${body.agent_id}`, decision.rule);

  // The approval binds to this digest: the validated, defaulted input and who/what/which policy.
  const digest = actionDigest({ ...request, type: action.name, input, policyVersion: policy.version });
  const held = decision.mode === 'approval';
  let row: ActionRow | null;
  try {
    row = await insertAction(
      db.sql,
      {
        ...request,
        type: action.name,
        category: action.category,
        input,
        status: held ? 'pending' : 'executing',
        approvalRequired: held,
        digest,
        expiresAt: held ? new Date(services.clock.now() + services.config.actions.pending_ttl_s * 1000) : null,
        policyVersion: decision.version,
        policyRule: decision.rule,
      },
      [
        {
          event: 'requested',
          actor: principal.id,
          correlationId,
          data: { type: action.name, agent_id: body.agent_id, run_id: body.run_id ?? null },
        },
        {
          event: 'decided',
          actor: 'policy',
          correlationId,
          data: { mode: decision.mode, rule: decision.rule, version: decision.version, digest },
        },
        ...(held ? [] : [{ event: 'executing' as const, actor: principal.id, correlationId, data: {} }]),
      ],
    );
  } catch (error) {
    if (isDbFault(error)) throw auditUnavailable(error);
    throw error;
  }
  // The key was used before (a retry, or a request racing this one): answer as that one was.
  if (!row) return replayEarlier();
  services.metrics.actionAuditLogs.add(1, { action_type: action.name, status: row.status });
  const logFields = { action_id: row.id, action_type: action.name, decision: decision.mode };
  if (held) return { status: 202, body: { ...present(row), status: 'pending' }, logFields };

  const executed = await executeClaimed(services, db.sql, row, action, input, principal.id, correlationId, logger);
  return { status: executed.status, body: executed.body, logFields };
}

/**
 * action-execute: `POST /v1/actions` validates, classifies, decides by policy, writes the audit
 * record, then executes at once (200) or holds the action for an approver (202). Also lists and
 * shows actions.
 */
export function createActionExecute() {
  const app = new Hono<AppEnv>();

  app.post('/v1/actions', async (c) => {
    const services = c.get('services');
    const principal = c.get('principal');
    if (principal.role === 'approver')
      throw new ApiError('FORBIDDEN', { detail: 'Approvers decide actions; agents request them', hint: 'use an agent key' });
    const idempotencyKey = c.req.header('idempotency-key');
    if (!idempotencyKey || idempotencyKey.length > 255) {
      throw new ApiError('BAD_REQUEST', {
        detail: 'An Idempotency-Key header (1-255 characters) is required',
        hint: 'send a fresh UUID per distinct request',
      });
    }
    const body = await readJson(c, SubmitActionSchema, { limit: MAX_BODY });
    const submitted = await submitAction(
      { services, principal, idempotencyKey, correlationId: c.get('correlationId'), logger: c.get('logger') },
      body,
    );
    if (submitted.logFields) c.set('logFields', { ...c.get('logFields'), ...submitted.logFields });
    return actionReply(c, submitted.status, submitted.body);
  });

  app.get('/v1/actions', async (c) => {
    const services = c.get('services');
    const db = requireDb(services);
    const status = c.req.query('status');
    if (status && !(STATUSES as readonly string[]).includes(status))
      throw new ApiError('BAD_REQUEST', { detail: `Unknown status "${status}"`, hint: `one of ${STATUSES.join(', ')}` });
    const limit = Math.min(Math.max(Number(c.req.query('limit') ?? 50) || 50, 1), 500);
    await expireDue(db.sql, c.get('correlationId')).catch(() => 0);
    const principal = c.get('principal');
    // Agents see what they requested; approvers and admins see everything.
    const mine = principal.role === 'agent' ? principal.id : null;
    const rows = await db.sql<ActionRow[]>`
      select * from action_audit_logs
      where (${status ?? null}::text is null or status = ${status ?? null})
        and (${mine}::text is null or requested_by = ${mine})
      order by created_at desc limit ${limit}`;
    return c.json({ data: rows.map(present) });
  });

  app.get('/v1/actions/:id', async (c) => {
    const services = c.get('services');
    const db = requireDb(services);
    const id = actionIdParam(c.req.param('id'));
    await expireDue(db.sql, c.get('correlationId')).catch(() => 0);
    const row = await findAction(db.sql, id);
    const principal = c.get('principal');
    if (!row || (principal.role === 'agent' && row.requested_by !== principal.id))
      throw new ApiError('NOT_FOUND', { detail: `No action ${id}` });
    return c.json(present(row));
  });

  return app;
}
