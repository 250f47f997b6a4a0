import { randomUUID } from 'node:crypto';
import { context, type Link, SpanStatusCode } from '@opentelemetry/api';
import type { Sql } from 'postgres';
import type { AgentConfig } from '../../shared/config/index.js';
import type { WorkScope } from '../../shared/http/scope.js';
import type { Logger } from '../../shared/log/index.js';
import type { Services } from '../../shared/services.js';
import { findActions, requireDb } from '../actions/index.js';
import { addUsage, LeaseLost, leaseMsFor, preview, runContext } from './context.js';
import { ACTIVE_ACTION, settle } from './settle.js';
import {
  claimRun,
  findRun,
  type RunEvent,
  type RunPatch,
  type RunRow,
  type RunStatus,
  renewLease,
  runsToResume,
  saveRun,
} from './store.js';
import { think } from './think.js';
import { toolsFor } from './tools.js';

/**
 * Advances a run as far as it can go now: settles its held actions, then thinks (chat-route,
 * in-process) and acts (the action path of POST /v1/actions) step by step until it answers, must
 * wait for an approver, or fails. All state is read from and written to Postgres; the lease makes
 * sure two resumes racing never run a step twice. Returns the run as it was left (or as another
 * holder has it). Throws only when the store itself fails; the run is then resumed later.
 */
export async function advanceRun(
  env: WorkScope,
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
async function recheck(env: WorkScope, sql: Sql, run: RunRow): Promise<RunRow> {
  const actions = await findActions(
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
      const settled = await settle(sql, run.correlation_id, pending, messages, events);
      if (settled.kind === 'expired') {
        pending = [];
        const { item } = settled;
        return finish('failed', { error: `the approval of ${item.type} (action ${item.action_id}) expired before anyone decided` });
      }
      pending = settled.open;
      if (pending.length > 0) {
        events.push({ type: 'waiting_approval', data: { pending_action_ids: pending.map((item) => item.action_id) } });
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
          const renew = async () => {
            if (!(await renewLease(sql, run.id, owner, leaseMs))) throw new LeaseLost();
          };
          return await think(services, logger, run, agent, n, messages, tools, byName, events, pending, renew);
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

/** Fire-and-log: a resume whose failure is recorded, never thrown into a request that is already answered. */
export function resumeQuietly(env: WorkScope, runId: string, trigger: string): Promise<void> {
  return advanceRun(env, runId, { trigger }).then(
    () => undefined,
    (error: unknown) => env.logger.error('resuming an agent run failed', { run_id: runId, error: error as Error }),
  );
}

/**
 * The runs' share of the periodic sweep (after the actions domain's: sweepActions, see
 * functions/app.ts): resume the runs that can move on (decided or expired actions, leases of
 * stopped instances). Returns how many runs it resumed.
 */
export async function resumeDueRuns(env: WorkScope): Promise<number> {
  if (Object.keys(env.services.config.agents.agents).length === 0) return 0;
  const ids = await runsToResume(requireDb(env.services).sql);
  for (const id of ids) await resumeQuietly(env, id, 'sweep');
  return ids.length;
}
