import { Hono } from 'hono';
import type { RequestScope } from '../../shared/http/scope.js';
import type { AppEnv } from '../../shared/http/types.js';
import { isUuid } from '../../shared/http/validate.js';
import { agentRoutes } from './agents.js';
import { resumeQuietly } from './loop.js';
import { runRoutes } from './runs.js';
import { startRoutes } from './start.js';

export { checkAgents } from './agents.js';
export { resumeDueRuns } from './loop.js';
export { StartRunSchema } from './start.js';

/**
 * Resumes the run an action belongs to, after its decision, without holding up the decision's
 * answer (`scope.background`: Workers' waitUntil; Node runs it on). Does nothing for actions
 * outside runs. The actions domain calls it through its `onDecided` hook, wired in functions/app.ts.
 */
export function resumeAfterDecision(scope: RequestScope, runId: string | null, trigger: 'approved' | 'rejected'): void {
  const { services } = scope;
  if (!isUuid(runId) || Object.keys(services.config.agents.agents).length === 0) return;
  scope.background(resumeQuietly({ services, logger: services.logger }, runId, trigger));
}

/**
 * agent-run: durable agent runs. `POST /v1/agents/:name/runs` starts one; it thinks through
 * chat-route and acts through the actions domain (the approval gate); it waits (persisted) when an
 * action is held and resumes when the action is decided. `GET /v1/runs/:id` shows it, `/events`
 * streams its progress.
 */
export function createAgentRun() {
  const app = new Hono<AppEnv>();
  app.route('/', agentRoutes());
  app.route('/', startRoutes());
  app.route('/', runRoutes());
  return app;
}
