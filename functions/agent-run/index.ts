import { randomUUID } from 'node:crypto';
import { Hono } from 'hono';
import { streamSSE } from 'hono/streaming';
import { z } from 'zod';
import { canonicalJson, sha256 } from '../../shared/audit/hash.js';
import { AGENT_ID, agentsBoundTo } from '../../shared/config/agents.js';
import { ConfigError, modelKnown } from '../../shared/config/index.js';
import { inBackground } from '../../shared/http/background.js';
import { ApiError } from '../../shared/http/errors.js';
import type { AppEnv } from '../../shared/http/types.js';
import { isUuid, queryLimit, querySeq, readJson, readQuery } from '../../shared/http/validate.js';
import type { Services } from '../../shared/services.js';
import { auditUnavailable, requireDb } from '../action-execute/index.js';
import { advanceRun, leaseMsFor, resumeQuietly } from './loop.js';
import { createRun, findRun, findRunByKey, isTerminal, presentRun, RUN_STATUSES, type RunRow, readEvents } from './store.js';
import { unknownAgentActions } from './tools.js';

export const StartRunSchema = z.strictObject({
  input: z.string().min(1, 'say what the agent should do').max(32_000),
  idempotency_key: z.string().min(1).max(255).optional(),
});

function runIdParam(id: string): string {
  if (!isUuid(id)) throw new ApiError('NOT_FOUND', { detail: `No run ${id}` });
  return id;
}

/** How long the start request waits: `Prefer: respond-async` → not at all, `Prefer: wait=N` → N s, else the configured time. */
function waitMs(prefer: string | undefined, configured: number): number {
  if (!prefer) return configured;
  if (/\brespond-async\b/i.test(prefer)) return 0;
  const wait = /\bwait=(\d+)/i.exec(prefer);
  return wait?.[1] ? Math.min(Number(wait[1]) * 1000, configured) : configured;
}

/** Agents may see their own runs; approvers and admins see all. */
async function visibleRun(services: Services, principal: { id: string; role: string }, id: string): Promise<RunRow> {
  const run = await findRun(requireDb(services).sql, id);
  if (!run || (principal.role === 'agent' && run.requested_by !== principal.id))
    throw new ApiError('NOT_FOUND', { detail: `No run ${id}` });
  return run;
}

/** Why an agent cannot run now (its model is not in models.yaml), or undefined. */
function unavailable(services: Services, model: string): string | undefined {
  return modelKnown(services.config.llm, model)
    ? undefined
    : `its model "${model}" is not in models.yaml (aliases: ${Object.keys(services.config.llm.models).join(', ') || 'none'})`;
}

/**
 * Fails the start when an agent names an action the catalog lacks (config/agents.yaml); warns about
 * agents whose model the models configuration does not have (they are listed as unavailable).
 */
export function checkAgents(services: Services): void {
  for (const [name, agent] of Object.entries(services.config.agents.agents)) {
    const reason = unavailable(services, agent.model);
    if (reason) services.logger.warn('agent unavailable', { agent: name, reason });
  }
  const unknown = unknownAgentActions(services.config.agents.agents);
  if (unknown.length > 0) {
    throw new ConfigError(
      'agents.yaml',
      unknown.map(({ agent, action }) => ({ key: `agents.${agent}.actions`, env: [], message: `no action "${action}" in the catalog` })),
    );
  }
}

/**
 * Resumes the run an action belongs to, after its decision, without holding up the decision's
 * answer (Workers: waitUntil; Node: in the background). Does nothing for actions outside runs.
 */
export function resumeAfterDecision(
  c: Parameters<typeof inBackground>[0],
  services: Services,
  runId: string | null,
  trigger: 'approved' | 'rejected',
): void {
  if (!isUuid(runId) || Object.keys(services.config.agents.agents).length === 0) return;
  inBackground(c, resumeQuietly({ services, logger: services.logger }, runId, trigger));
}

/**
 * agent-run: durable agent runs. `POST /v1/agents/:name/runs` starts one; it thinks through
 * chat-route and acts through the approval gate; it waits (persisted) when an action is held and
 * resumes when the action is decided. `GET /v1/runs/:id` shows it, `/events` streams its progress.
 */
export function createAgentRun() {
  const app = new Hono<AppEnv>();

  app.get('/v1/agents', (c) => {
    const services = c.get('services');
    return c.json({
      data: Object.entries(services.config.agents.agents).map(([name, agent]) => {
        const reason = unavailable(services, agent.model);
        return {
          name,
          description: agent.description,
          model: agent.model,
          actions: agent.actions,
          max_steps: agent.max_steps,
          max_tokens: agent.max_tokens,
          max_cost_usd: agent.max_cost_usd,
          available: !reason,
          ...(reason ? { reason } : {}),
        };
      }),
    });
  });

  app.post('/v1/agents/:name/runs', async (c) => {
    const services = c.get('services');
    const principal = c.get('principal');
    if (principal.role === 'approver')
      throw new ApiError('FORBIDDEN', { detail: 'Approvers decide actions; agents run', hint: 'use an agent key' });
    const name = c.req.param('name');
    // Own properties only: `__proto__` or `constructor` is no agent (a 404, not an object member).
    const agent = Object.hasOwn(services.config.agents.agents, name) ? services.config.agents.agents[name] : undefined;
    if (!agent) {
      throw new ApiError('NOT_FOUND', {
        detail: `No agent "${name}"`,
        hint: `configured agents: ${Object.keys(services.config.agents.agents).join(', ') || 'none'} (config/agents.yaml)`,
      });
    }
    // Identity binds authority: a key runs only the agents it is bound to (its tool calls then act as that agent).
    const bound = agentsBoundTo(services.config.agents, principal.id);
    if (!bound.includes(name)) {
      c.get('logger').warn('a key tried to run an agent it is not bound to', { principal: principal.id, agent: name });
      throw new ApiError('FORBIDDEN', {
        detail: `The key "${principal.id}" may not run the agent "${name}"`,
        hint:
          bound.length > 0
            ? `this key acts as: ${bound.join(', ')}`
            : `use the ${name} key, or list this key under agents.${name}.keys in config/agents.yaml`,
      });
    }
    const reason = unavailable(services, agent.model);
    if (reason)
      throw new ApiError('UNAVAILABLE', { detail: `The agent "${name}" cannot run: ${reason}`, hint: 'fix model in config/agents.yaml' });
    const body = await readJson(c, StartRunSchema);
    const idempotencyKey = body.idempotency_key ?? c.req.header('idempotency-key') ?? null;
    const sql = requireDb(services).sql;
    const requestHash = sha256(canonicalJson({ agent: name, input: body.input }));
    const logger = c.get('logger');

    const replay = async (run: RunRow) => {
      if (run.request_hash !== requestHash)
        throw new ApiError('UNPROCESSABLE', { detail: 'This idempotency key was used with a different run', hint: 'use a new key' });
      return c.json({ ...presentRun(run), replayed: true }, isTerminal(run.status) ? 200 : 202);
    };
    if (idempotencyKey) {
      const existing = await findRunByKey(sql, principal.id, idempotencyKey).catch((error: unknown) => {
        throw auditUnavailable(error);
      });
      if (existing) return replay(existing);
    }
    const run = await createRun(
      sql,
      {
        agentName: name,
        requestedBy: principal.id,
        correlationId: c.get('correlationId'),
        idempotencyKey,
        requestHash,
        input: body.input,
        messages: [
          { role: 'system', content: agent.system_prompt },
          { role: 'user', content: body.input },
        ],
        owner: randomUUID(),
        leaseMs: leaseMsFor(services),
      },
      { type: 'started', data: { agent: name, input: body.input, by: principal.id } },
    ).catch((error: unknown) => {
      throw auditUnavailable(error);
    });
    if (!run) {
      const winner = idempotencyKey ? await findRunByKey(sql, principal.id, idempotencyKey) : undefined;
      if (!winner) throw auditUnavailable(new Error('run idempotency conflict without a row'));
      return replay(winner);
    }
    c.set('logFields', { ...c.get('logFields'), run_id: run.id, agent: name });
    logger.info('agent run started', { run_id: run.id, agent: name });

    const advancing = advanceRun({ services, logger }, run.id, { trigger: 'start', claimed: run });
    inBackground(
      c,
      advancing.catch(() => undefined),
    );
    const wait = waitMs(c.req.header('prefer'), services.config.agents.runs.wait_ms);
    const location = { location: `/v1/runs/${run.id}` };
    // Prefer: respond-async means now, whatever the run manages meanwhile.
    if (wait === 0)
      return c.json({ ...presentRun(run), status: 'running' as const }, 202, { ...location, 'preference-applied': 'respond-async' });
    let timer: ReturnType<typeof setTimeout> | undefined;
    const settled = await Promise.race([
      advancing.catch(() => undefined),
      new Promise<undefined>((resolve) => {
        timer = setTimeout(() => resolve(undefined), wait);
      }),
    ]).finally(() => clearTimeout(timer));
    const current = settled ?? (await findRun(sql, run.id)) ?? run;
    return c.json(presentRun(current), isTerminal(current.status) ? 200 : 202, location);
  });

  const ListRunsQuery = z.object({
    status: z.enum(RUN_STATUSES, { error: `one of ${RUN_STATUSES.join(', ')}` }).optional(),
    agent: z.string().regex(AGENT_ID, 'agent names are 1-64 of A-Z a-z 0-9 . _ -').optional(),
    limit: queryLimit(),
  });
  app.get('/v1/runs', async (c) => {
    const services = c.get('services');
    const sql = requireDb(services).sql;
    const query = readQuery(c, ListRunsQuery);
    const status = query.status;
    const agent = query.agent ?? null;
    const limit = query.limit;
    const principal = c.get('principal');
    const mine = principal.role === 'agent' ? principal.id : null;
    const rows = await sql<RunRow[]>`
      select * from agent_runs
      where (${status ?? null}::text is null or status = ${status ?? null})
        and (${agent}::text is null or agent_name = ${agent})
        and (${mine}::text is null or requested_by = ${mine})
      order by created_at desc limit ${limit}`;
    return c.json({ data: rows.map(presentRun) });
  });

  app.get('/v1/runs/:id', async (c) => {
    const run = await visibleRun(c.get('services'), c.get('principal'), runIdParam(c.req.param('id')));
    return c.json(presentRun(run));
  });

  app.post('/v1/runs/:id/resume', async (c) => {
    const services = c.get('services');
    const id = runIdParam(c.req.param('id'));
    const run = await visibleRun(services, c.get('principal'), id);
    if (isTerminal(run.status))
      throw new ApiError('CONFLICT', { detail: `The run already ${run.status}`, extra: { id, run_status: run.status } });
    const advanced = (await advanceRun({ services, logger: c.get('logger') }, id, { trigger: 'resume' })) ?? run;
    return c.json(presentRun(advanced), isTerminal(advanced.status) ? 200 : 202);
  });

  const EventsQuery = z.object({ after: querySeq.optional() });
  app.get('/v1/runs/:id/events', async (c) => {
    const services = c.get('services');
    const id = runIdParam(c.req.param('id'));
    await visibleRun(services, c.get('principal'), id);
    const sql = requireDb(services).sql;
    let after = eventsAfter(c.req.header('last-event-id'), readQuery(c, EventsQuery).after);
    const logger = c.get('logger');
    return streamSSE(
      c,
      async (stream) => {
        let aborted = false;
        stream.onAbort(() => {
          aborted = true;
        });
        const deadline = Date.now() + 10 * 60_000; // then the client reconnects with Last-Event-ID
        let quietSince = Date.now();
        while (!aborted && Date.now() < deadline) {
          const events = await readEvents(sql, id, after);
          for (const event of events) {
            await stream.writeSSE({
              id: String(event.seq),
              event: event.type,
              data: JSON.stringify({ seq: event.seq, type: event.type, at: event.created_at, ...(event.data as object) }),
            });
            after = event.seq;
            quietSince = Date.now();
            if (event.type === 'final' || event.type === 'failed') return;
          }
          if (events.length === 0) {
            const run = await findRun(sql, id);
            if (!run || (isTerminal(run.status) && run.events <= after)) return;
            if (Date.now() - quietSince > 15_000) {
              await stream.write(': keep-alive\n\n');
              quietSince = Date.now();
            }
            await stream.sleep(250);
          }
        }
      },
      async (error) => {
        // Once the stream has begun its status is sent: the failure goes to the log (redacted), not stderr.
        logger.error('run events stream failed', { run_id: id, error: error as Error });
      },
    );
  });

  return app;
}

/** Where an events stream starts: `Last-Event-ID` (a reconnect), else `?after`, else the beginning. */
function eventsAfter(lastEventId: string | undefined, after: number | undefined): number {
  if (lastEventId === undefined) return after ?? 0;
  const parsed = querySeq.safeParse(lastEventId.trim());
  if (!parsed.success)
    throw new ApiError('VALIDATION_FAILED', {
      detail: 'Last-Event-ID: expected the id of an event (a whole number)',
      hint: 'send back the id of the last event you received',
    });
  return parsed.data;
}
