import { canonicalJson, sha256 } from '../../shared/audit/hash.js';
import { boundAgents } from '../../shared/governance/directory.js';
import { ApiError } from '../../shared/http/errors.js';
import type { RequestScope } from '../../shared/http/scope.js';
import { currentTraceparent } from '../../shared/telemetry/correlation.js';
import { CATALOG } from './catalog/index.js';
import { ActionError } from './catalog/types.js';
import { auditUnavailable, denialCode, requireDb } from './errors.js';
import { asSeen } from './expire.js';
import { decide } from './policy.js';
import { actionContext, executeClaimed, toolLabel } from './run.js';
import type { SubmitAction } from './schemas.js';
import { type ActionRow, actionDigest, findByIdempotencyKey, insertAction, links, present } from './store.js';

const MAX_DEPTH = 16;

function depthOf(value: unknown, depth = 0): number {
  if (depth > MAX_DEPTH || value === null || typeof value !== 'object') return depth;
  let deepest = depth;
  for (const item of Object.values(value)) deepest = Math.max(deepest, depthOf(item, depth + 1));
  return deepest;
}

const isDbFault = (error: unknown) => !(error instanceof ApiError) && !(error instanceof ActionError);

/** What a replayed Idempotency-Key gets: the stored outcome, never a second execution. */
function replay(row: ActionRow, requestHash: string, now: number): { status: number; body: Record<string, unknown> } {
  if (row.request_hash !== requestHash) {
    throw new ApiError('UNPROCESSABLE', {
      detail: 'This Idempotency-Key was used with a different request',
      hint: 'use a new key for a new request',
    });
  }
  if (row.status === 'executing' || row.status === 'approved') {
    // Its worker owns it until lease_until; after that the recovery sweep finishes it (see recovery.ts).
    const seconds = row.lease_until ? Math.max(1, Math.ceil((row.lease_until.getTime() - now) / 1000)) : 1;
    throw new ApiError('CONFLICT', {
      detail: 'The request with this Idempotency-Key is still running',
      hint: `retry with the same Idempotency-Key after ${row.lease_until?.toISOString() ?? 'a while'}: by then it has finished, or the recovery sweep has run it again or ended it as failed (interrupted)`,
      headers: { 'retry-after': String(seconds) },
      extra: { id: row.id, action_status: row.status, lease_until: row.lease_until?.toISOString() ?? null },
    });
  }
  if (row.status === 'denied') {
    // The same refusal as the first time: its status, words and hint (kept in the row's outputs).
    const problem = (row.outputs as { problem?: { status?: number; hint?: string } } | null)?.problem;
    throw new ApiError(denialCode(problem?.status ?? 403), {
      detail: row.error ?? 'The action was denied',
      ...(problem?.hint ? { hint: problem.hint } : {}),
      extra: { id: row.id, links: links(row), action_status: 'denied', replayed: true },
    });
  }
  const problem = (row.outputs as { problem?: { status?: number } } | null)?.problem;
  const status = row.status === 'pending' ? 202 : row.status === 'failed' ? (problem?.status ?? 502) : 200;
  return { status, body: { ...present(row), replayed: true } };
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
export async function submitAction(scope: RequestScope, idempotencyKey: string, body: SubmitAction): Promise<Submitted> {
  const { services, principal, correlationId, logger } = scope;
  if (depthOf(body.input) > MAX_DEPTH) throw new ApiError('BAD_REQUEST', { detail: `The input is nested deeper than ${MAX_DEPTH} levels` });
  const db = requireDb(services);
  const requestHash = sha256(canonicalJson(body));
  const policy = services.config.policy;
  // Identity binds authority: the key acts only as the agents it is bound to, and the policy, the
  // digest and the audit row use that agent. A claim of any other agent is refused (and recorded).
  const bound = await boundAgents(services, principal.id);
  const agentId = body.agent_id ?? (bound.includes(principal.id) ? principal.id : bound.length === 1 ? bound[0] : undefined);
  const identityProblem =
    principal.role === 'approver'
      ? 'Approvers decide actions; they cannot request them as an agent'
      : agentId === undefined
        ? bound.length === 0
          ? `The key "${principal.id}" acts as no agent`
          : `The key "${principal.id}" acts as several agents (${bound.join(', ')}); name one in agent_id`
        : !bound.includes(agentId)
          ? `The key "${principal.id}" may not act as the agent "${agentId}"`
          : undefined;
  // What every audit row of this request shares, refused or not.
  const request = {
    correlationId,
    traceparent: currentTraceparent() ?? null,
    agentId: agentId ?? principal.id,
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
    // Held past its deadline: answered as expired, as a read shows it (the sweep records it soon).
    return replay(asSeen(winner), requestHash, services.clock.now());
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
        outputs: { problem: { status, detail: message, ...(hint ? { hint } : {}) } },
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
      extra: { ...extra, id: row.id, links: links(row), action_status: 'denied' },
    });
  };

  if (identityProblem) {
    return deny(
      agentId !== undefined || bound.length === 0 ? 403 : 400,
      CATALOG.get(body.type)?.category ?? 'unknown',
      identityProblem,
      'identity',
      {},
      bound.length > 0
        ? `this key acts as: ${bound.join(', ')}`
        : "use the agent's own key (its id is the agent's name) or list this key under the agent's keys: in config/agents.yaml",
    );
  }
  // A configured agent acts only through the actions its agents.yaml entry lists (as its runs do).
  const agentConfig = Object.hasOwn(services.config.agents.agents, request.agentId)
    ? services.config.agents.agents[request.agentId]
    : undefined;
  if (agentConfig && !agentConfig.actions.includes(body.type)) {
    return deny(
      403,
      CATALOG.get(body.type)?.category ?? 'unknown',
      `The agent "${request.agentId}" may not use ${body.type}`,
      'agent-actions',
      {},
      agentConfig.actions.length > 0
        ? `its actions (config/agents.yaml): ${agentConfig.actions.join(', ')}`
        : 'its agents.yaml entry lists no actions',
    );
  }
  // A run id names one of this agent's runs started by this key: an action cannot join another's run.
  if (body.run_id !== undefined) {
    const [run] = await db.sql<{ agent_name: string; requested_by: string }[]>`
      select agent_name, requested_by from agent_runs where id = ${body.run_id}`.catch((error: unknown) => {
      throw auditUnavailable(error);
    });
    if (!run || run.agent_name !== request.agentId || run.requested_by !== principal.id) {
      return deny(
        404,
        CATALOG.get(body.type)?.category ?? 'unknown',
        `No run ${body.run_id} of the agent "${request.agentId}" started by this key`,
        'run',
        {},
        'omit run_id, or give the id of a run this key started as this agent',
      );
    }
  }
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
  const context = actionContext(services, new AbortController().signal, request.agentId);
  try {
    action.check?.(context, input as never);
  } catch (error) {
    if (error instanceof ActionError) return deny(error.status as 400, action.category, error.message, 'check', {}, error.hint);
    throw error;
  }
  const category = action.categoryOf?.(context, input as never) ?? action.category;

  const tracer = services.tracerProvider.getTracer('myca-actions');
  const decision = tracer.startActiveSpan('action.decide', (span) => {
    const result = decide(policy, services.config.actions.approval_required, { name: action.name, category }, request.agentId, input);
    span.setAttributes({ 'myca.action.type': action.name, 'myca.policy.rule': result.rule, 'myca.policy.mode': result.mode });
    span.end();
    return result;
  });
  if (decision.mode === 'deny') return deny(403, category, `Policy denies ${action.name} for ${request.agentId}`, decision.rule);

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
        category,
        input,
        status: held ? 'pending' : 'executing',
        approvalRequired: held,
        digest,
        expiresAt: held ? new Date(services.clock.now() + services.config.actions.pending_ttl_s * 1000) : null,
        policyVersion: decision.version,
        policyRule: decision.rule,
        leaseS: services.config.actions.lease_s,
      },
      [
        {
          event: 'requested',
          actor: principal.id,
          correlationId,
          data: { type: action.name, agent_id: request.agentId, run_id: body.run_id ?? null },
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
