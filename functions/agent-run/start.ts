import { randomUUID } from 'node:crypto';
import { Hono } from 'hono';
import { z } from 'zod';
import { canonicalJson, sha256 } from '../../shared/audit/hash.js';
import { boundAgents } from '../../shared/governance/directory.js';
import { inBackground } from '../../shared/http/background.js';
import { ApiError } from '../../shared/http/errors.js';
import type { AppEnv } from '../../shared/http/types.js';
import { readJson } from '../../shared/http/validate.js';
import { auditUnavailable, requireDb } from '../actions/index.js';
import { unavailable } from './agents.js';
import { leaseMsFor } from './context.js';
import { advanceRun } from './loop.js';
import { createRun, findRun, findRunByKey, isTerminal, presentRun, type RunRow } from './store.js';

export const StartRunSchema = z.strictObject({
  input: z.string().min(1, 'say what the agent should do').max(32_000),
  idempotency_key: z.string().min(1).max(255).optional(),
});

/** How long the start request waits: `Prefer: respond-async` → not at all, `Prefer: wait=N` → N s, else the configured time. */
function waitMs(prefer: string | undefined, configured: number): number {
  if (!prefer) return configured;
  if (/\brespond-async\b/i.test(prefer)) return 0;
  const wait = /\bwait=(\d+)/i.exec(prefer);
  return wait?.[1] ? Math.min(Number(wait[1]) * 1000, configured) : configured;
}

/** `POST /v1/agents/:name/runs`: starts a run, and waits for it as long as `Prefer` (or the configuration) says. */
export function startRoutes() {
  const app = new Hono<AppEnv>();
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
    const bound = await boundAgents(services, principal.id);
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
    const why = unavailable(services, agent.model, agent.actions.length > 0);
    if (why) throw new ApiError('UNAVAILABLE', { detail: `The agent "${name}" cannot run: ${why.reason}`, hint: why.hint });
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
  return app;
}
