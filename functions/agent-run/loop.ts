import { randomUUID } from 'node:crypto';
import { type Context, context, type Link, SpanStatusCode, trace } from '@opentelemetry/api';
import type { Sql } from 'postgres';
import type { AgentConfig } from '../../shared/config/index.js';
import { ApiError } from '../../shared/http/errors.js';
import type { Logger } from '../../shared/log/index.js';
import { redact } from '../../shared/redact/index.js';
import type { Services } from '../../shared/services.js';
import { randomHex, withCorrelation } from '../../shared/telemetry/correlation.js';
import { requireDb, submitAction } from '../action-execute/index.js';
import { recoverStuckActions } from '../action-execute/recovery.js';
import { type ActionRow, expireDue } from '../action-execute/store.js';
import type { ChatMessage, ChatRequest } from '../chat-route/contract.js';
import { completeChat } from '../chat-route/index.js';
import {
  claimRun,
  findRun,
  type PendingAction,
  type RunEvent,
  type RunPatch,
  type RunRow,
  type RunStatus,
  type RunStep,
  runsToResume,
  saveRun,
} from './store.js';
import { toolsFor } from './tools.js';

/**
 * How long one holder may keep a run before another instance may take it over: a whole model call
 * (the chat deadline) plus the longest action. A crashed instance's run is resumed after this.
 */
export const leaseMsFor = (services: Services) => services.config.llm.routing.deadline_ms + 70_000;

/** The run's lease went to someone else (it expired mid-step): stop without writing anything. */
class LeaseLost extends Error {}

/** What a run needs besides its row. */
export interface RunEnv {
  services: Services;
  logger: Logger;
}

/**
 * The context a run's work happens in: the run's correlation id (actions, log lines, outbound
 * headers carry it), and its spans in the run's trace. Inside the request that started the run
 * they are children of its span; resumed from elsewhere they start a new root in the run's trace,
 * linked to the span of whatever resumed it.
 */
function runContext(run: RunRow): { ctx: Context; links: Link[] } {
  const active = trace.getSpanContext(context.active());
  const traceId = /^[0-9a-f]{32}$/.test(run.correlation_id) ? run.correlation_id : undefined;
  if (active && traceId && active.traceId === traceId) {
    return { ctx: withCorrelation(context.active(), { id: run.correlation_id, traceId, continued: true }), links: [] };
  }
  const base = trace.deleteSpan(context.active());
  return {
    ctx: withCorrelation(base, { id: run.correlation_id, traceId: traceId ?? randomHex(16), continued: false }),
    links: active ? [{ context: active, attributes: { 'myca.link': 'resumed_by' } }] : [],
  };
}

const ACTIVE_ACTION = new Set(['pending', 'approved', 'executing']);

async function actionsById(sql: Sql, ids: string[]): Promise<Map<string, ActionRow>> {
  if (ids.length === 0) return new Map();
  const rows = await sql<ActionRow[]>`select * from action_audit_logs where id = any(string_to_array(${ids.join(',')}, ',')::uuid[])`;
  return new Map(rows.map((row) => [row.id, row]));
}

/** A tool result as the model reads it: compact JSON, secrets already masked. */
const toolMessage = (toolCallId: string, result: Record<string, unknown>): ChatMessage => ({
  role: 'tool',
  tool_call_id: toolCallId,
  content: JSON.stringify(redact(result)),
});

const addUsage = (a: RunRow['usage'], b: { prompt_tokens?: number; completion_tokens?: number; total_tokens?: number } | undefined) => ({
  prompt_tokens: a.prompt_tokens + (b?.prompt_tokens ?? 0),
  completion_tokens: a.completion_tokens + (b?.completion_tokens ?? 0),
  total_tokens: a.total_tokens + (b?.total_tokens ?? 0),
});

const preview = (text: string | null | undefined, max = 2000) => (text && text.length > max ? `${text.slice(0, max)}…` : (text ?? ''));

/**
 * Advances a run as far as it can go now: settles its held actions, then thinks (chat-route,
 * in-process) and acts (the action path of POST /v1/actions) step by step until it answers, must
 * wait for an approver, or fails. All state is read from and written to Postgres; the lease makes
 * sure two resumes racing never run a step twice. Returns the run as it was left (or as another
 * holder has it). Throws only when the store itself fails; the run is then resumed later.
 */
export async function advanceRun(
  env: RunEnv,
  runId: string,
  options: { trigger: string; claimed?: RunRow } = { trigger: 'resume' },
): Promise<RunRow | undefined> {
  const { services } = env;
  const sql = requireDb(services).sql;
  const leaseMs = leaseMsFor(services);
  const claimed = options.claimed ?? (await claimRun(sql, runId, randomUUID(), leaseMs));
  if (!claimed?.lease_owner) return findRun(sql, runId);
  const owner = claimed.lease_owner;
  const { ctx, links } = runContext(claimed);
  const logger = env.logger.child({ correlation_id: claimed.correlation_id, run_id: claimed.id, agent: claimed.agent_name });
  try {
    const run = await context.with(ctx, () => runLoop(services, sql, logger, claimed, owner, leaseMs, options.trigger, links));
    if (run.status === 'waiting_approval') return await recheck(env, sql, run);
    return run;
  } catch (error) {
    if (error instanceof LeaseLost) {
      logger.warn('the run was taken over by another instance (lease expired); this one stopped');
      return findRun(sql, runId);
    }
    logger.error('the run could not be advanced; it is resumed later', { error: error as Error });
    throw error;
  }
}

/** A decision that landed while this instance still held the lease would find nobody to resume it. */
async function recheck(env: RunEnv, sql: Sql, run: RunRow): Promise<RunRow> {
  const actions = await actionsById(
    sql,
    run.pending.map((item) => item.action_id),
  );
  const decided = run.pending.some((item) => !ACTIVE_ACTION.has(actions.get(item.action_id)?.status ?? 'missing'));
  if (!decided) return run;
  return (await advanceRun(env, run.id, { trigger: 'decided' })) ?? run;
}

async function runLoop(
  services: Services,
  sql: Sql,
  logger: Logger,
  start: RunRow,
  owner: string,
  leaseMs: number,
  trigger: string,
  links: Link[],
): Promise<RunRow> {
  let run = start;
  const agent: AgentConfig | undefined = services.config.agents.agents[run.agent_name];
  const messages = [...run.messages];
  let pending = [...run.pending];
  let step = run.step;
  const steps = [...run.steps];
  let usage = run.usage;
  let cost = run.cost_usd;
  const events: RunEvent[] = [];
  const tracer = services.tracerProvider.getTracer('myca-agent-run');

  const save = async (patch: RunPatch) => {
    const saved = await saveRun(sql, run.id, owner, leaseMs, patch, events.splice(0));
    if (!saved) throw new LeaseLost();
    run = saved;
    return saved;
  };
  const finish = async (status: Extract<RunStatus, 'succeeded' | 'failed'>, fields: { output?: string; error?: string }) => {
    events.push(
      status === 'succeeded'
        ? { type: 'final', data: { output: preview(fields.output) } }
        : { type: 'failed', data: { error: fields.error } },
    );
    const saved = await save({ status, messages, pending, step, steps, usage, costUsd: cost, ...fields, release: true });
    const labels = { agent_name: saved.agent_name };
    services.metrics.agentRuns.add(1, { ...labels, status });
    services.metrics.agentRunDuration.record((services.clock.now() - saved.created_at.getTime()) / 1000, labels);
    if (status === 'failed') logger.warn('agent run failed', { error: fields.error, steps: step });
    else logger.info('agent run finished', { steps: step, usage, cost_usd: cost });
    return saved;
  };

  if (!agent) return finish('failed', { error: `the agent "${run.agent_name}" is no longer configured` });
  if (trigger !== 'start') events.push({ type: 'resumed', data: { trigger } });
  const { tools, byName } = toolsFor(agent);

  for (;;) {
    // 1. Settle what the run waits for: each decided action becomes the answer to its tool call.
    if (pending.length > 0) {
      await expireDue(sql, run.correlation_id).catch(() => 0);
      const actions = await actionsById(
        sql,
        pending.map((item) => item.action_id),
      );
      const open: PendingAction[] = [];
      for (const item of pending) {
        const action = actions.get(item.action_id);
        const base = { action_id: item.action_id, type: item.type };
        if (action && ACTIVE_ACTION.has(action.status)) {
          open.push(item);
        } else if (action?.status === 'executed') {
          messages.push(toolMessage(item.tool_call_id, { status: 'executed', ...base, output: action.outputs }));
          events.push({ type: 'action_executed', data: { ...base, approved_by: action.approved_by } });
        } else if (action?.status === 'rejected') {
          const reason = action.rejection_reason ?? 'no reason given';
          messages.push(toolMessage(item.tool_call_id, { status: 'rejected', ...base, reason, rejected_by: action.approved_by }));
          events.push({ type: 'action_rejected', data: { ...base, reason, rejected_by: action.approved_by } });
        } else if (action?.status === 'expired') {
          events.push({ type: 'action_expired', data: base });
          pending = [];
          return finish('failed', { error: `the approval of ${item.type} (action ${item.action_id}) expired before anyone decided` });
        } else {
          const error = action?.error ?? (action ? `the action ended ${action.status}` : 'the action is missing from the audit log');
          messages.push(toolMessage(item.tool_call_id, { status: action?.status ?? 'missing', ...base, error }));
          events.push({ type: 'action_failed', data: { ...base, error } });
        }
      }
      pending = open;
      if (open.length > 0) {
        events.push({ type: 'waiting_approval', data: { pending_action_ids: open.map((item) => item.action_id) } });
        return save({ status: 'waiting_approval', messages, pending, release: true });
      }
    }

    // 2. Limits, checked before each model call.
    if (step >= agent.max_steps)
      return finish('failed', { error: `stopped after ${agent.max_steps} steps without a final answer (max_steps)` });
    if (usage.total_tokens >= agent.max_tokens)
      return finish('failed', { error: `used ${usage.total_tokens} tokens, the budget is ${agent.max_tokens} (max_tokens)` });
    if (agent.max_cost_usd > 0 && cost >= agent.max_cost_usd)
      return finish('failed', { error: `cost $${cost.toFixed(4)}, the budget is $${agent.max_cost_usd} (max_cost_usd)` });

    // 3. Think, then act on every tool call; one span per step.
    const n = step + 1;
    events.push({ type: 'step_started', data: { step: n, model: agent.model } });
    const outcome = await tracer.startActiveSpan(
      'agent.step',
      {
        attributes: { 'myca.run.id': run.id, 'myca.agent': run.agent_name, 'myca.run.step': n, 'myca.correlation_id': run.correlation_id },
        links,
      },
      async (span) => {
        try {
          return await think(services, logger, run, agent, n, messages, tools, byName, events, pending);
        } catch (error) {
          span.setStatus({ code: SpanStatusCode.ERROR, message: (error as Error).message });
          throw error;
        } finally {
          span.end();
        }
      },
    );
    if (outcome.kind === 'model_failed') {
      step = n;
      return finish('failed', { error: outcome.error });
    }
    step = n;
    usage = addUsage(usage, outcome.step.usage);
    cost += outcome.step.cost_usd ?? 0;
    steps.push(outcome.step);
    if (outcome.final !== undefined) return finish('succeeded', { output: outcome.final });
    await save({ status: 'running', messages, pending, step, steps, usage, costUsd: cost });
  }
}

type Thought = { kind: 'model_failed'; error: string } | { kind: 'step'; step: RunStep; final?: string };

/** One step: a model call, then each tool call through the action path. Mutates messages, events, pending. */
async function think(
  services: Services,
  logger: Logger,
  run: RunRow,
  agent: AgentConfig,
  n: number,
  messages: ChatMessage[],
  tools: ReturnType<typeof toolsFor>['tools'],
  byName: Map<string, string>,
  events: RunEvent[],
  pending: PendingAction[],
): Promise<Thought> {
  const request = {
    model: agent.model,
    messages,
    ...(tools.length > 0 ? { tools, tool_choice: 'auto' as const } : {}),
    ...(agent.temperature !== undefined ? { temperature: agent.temperature } : {}),
  } as ChatRequest;
  let chat: Awaited<ReturnType<typeof completeChat>>;
  const startedAt = new Date(services.clock.now()).toISOString();
  try {
    // The run's key pays: its limits, budget and spend row apply to the run's model calls too.
    chat = await completeChat(services, request, agent.model, undefined, {
      keyId: run.requested_by,
      agent: run.agent_name,
      runId: run.id,
      correlationId: run.correlation_id,
    });
  } catch (error) {
    if (!(error instanceof ApiError)) throw error;
    return { kind: 'model_failed', error: `the model call of step ${n} failed: ${error.message}` };
  }
  const message = chat.completion.choices[0]?.message;
  const calls = (message?.tool_calls ?? []).filter((call) => call.type === 'function');
  messages.push({
    role: 'assistant',
    content: message?.content ?? null,
    ...(calls.length > 0 ? { tool_calls: calls.map((call) => ({ id: call.id, type: 'function' as const, function: call.function })) } : {}),
  });
  const step: RunStep = {
    n,
    model: chat.attempt.model,
    provider: chat.attempt.provider,
    started_at: startedAt,
    usage: addUsage({ prompt_tokens: 0, completion_tokens: 0, total_tokens: 0 }, chat.completion.usage),
    cost_usd: chat.costUsd ?? null,
    tool_calls: [],
    final: calls.length === 0,
  };
  if (calls.length === 0) return { kind: 'step', step, final: message?.content ?? '' };

  for (const [index, call] of calls.entries()) {
    const type = byName.get(call.function.name) ?? null;
    let input: unknown;
    try {
      input = JSON.parse(call.function.arguments || '{}');
    } catch {
      input = undefined;
    }
    events.push({
      type: 'tool_call',
      data: { step: n, tool_call_id: call.id, name: call.function.name, action_type: type, input: input ?? null },
    });
    const record = { id: call.id, name: call.function.name, action_type: type, action_id: null as string | null, status: 'error' };
    step.tool_calls.push(record);
    if (!type) {
      const error = `no tool named ${call.function.name}; this agent may use ${[...byName.keys()].join(', ') || 'none'}`;
      messages.push(toolMessage(call.id, { status: 'error', error }));
      events.push({ type: 'action_denied', data: { tool_call_id: call.id, error } });
      continue;
    }
    if (input === null || typeof input !== 'object' || Array.isArray(input)) {
      const error = 'the arguments were not a JSON object';
      messages.push(toolMessage(call.id, { status: 'error', error }));
      events.push({ type: 'action_denied', data: { tool_call_id: call.id, error } });
      continue;
    }
    try {
      const submitted = await submitAction(
        {
          services,
          principal: { id: run.requested_by, role: 'agent' },
          // The same tool call always maps to the same action: a repeated step replays, never re-executes.
          idempotencyKey: `run:${run.id}:${n}:${index}`,
          correlationId: run.correlation_id,
          logger,
        },
        { type, input: input as Record<string, unknown>, agent_id: run.agent_name, run_id: run.id },
      );
      const body = submitted.body as {
        id: string;
        status: string;
        output?: unknown;
        outputs?: unknown;
        problem?: unknown;
        expires_at?: string;
      };
      record.action_id = body.id;
      record.status = body.status;
      const base = { action_id: body.id, type };
      if (body.status === 'pending') {
        pending.push({ action_id: body.id, tool_call_id: call.id, type });
        events.push({ type: 'action_pending', data: { ...base, expires_at: body.expires_at ?? null } });
      } else if (body.status === 'executed') {
        messages.push(toolMessage(call.id, { status: 'executed', ...base, output: body.output ?? body.outputs }));
        events.push({ type: 'action_executed', data: base });
      } else {
        messages.push(toolMessage(call.id, { status: body.status, ...base, problem: body.problem ?? null }));
        events.push({ type: 'action_failed', data: { ...base, problem: body.problem ?? null } });
      }
    } catch (error) {
      // The audit store being down stops the run here (it is resumed later); any other refusal is
      // the model's to read and act on.
      if (!(error instanceof ApiError) || error.code === 'UNAVAILABLE') throw error;
      const actionId = typeof error.extra?.id === 'string' ? error.extra.id : null;
      record.action_id = actionId;
      record.status = 'denied';
      messages.push(toolMessage(call.id, { status: 'denied', action_id: actionId, type, error: error.message, hint: error.hint ?? null }));
      events.push({ type: 'action_denied', data: { action_id: actionId, type, error: error.message } });
    }
  }
  return { kind: 'step', step };
}

/** Fire-and-log: a resume whose failure is recorded, never thrown into a request that is already answered. */
export function resumeQuietly(env: RunEnv, runId: string, trigger: string): Promise<void> {
  return advanceRun(env, runId, { trigger }).then(
    () => undefined,
    (error: unknown) => env.logger.error('resuming an agent run failed', { run_id: runId, error: error as Error }),
  );
}

/**
 * What a periodic sweep does: expire overdue approvals, recover actions whose worker is gone, then
 * resume the runs that can move on (decided or expired actions, leases of stopped instances).
 * Returns how many runs it resumed.
 */
export async function resumeDueRuns(env: RunEnv): Promise<number> {
  const sql = requireDb(env.services).sql;
  await expireDue(sql, 'expiry-sweep');
  await recoverStuckActions(env.services, sql, env.logger);
  if (Object.keys(env.services.config.agents.agents).length === 0) return 0;
  const ids = await runsToResume(sql);
  for (const id of ids) await resumeQuietly(env, id, 'sweep');
  return ids.length;
}
