import { Hono } from 'hono';
import { sweepSpend } from '../shared/governance/retention.js';
import { authenticate, requireAuth } from '../shared/http/auth.js';
import { BodyBudget, type BodyGuard } from '../shared/http/body-guard.js';
import { notFound, onError } from '../shared/http/errors.js';
import { observe } from '../shared/http/middleware.js';
import type { WorkScope } from '../shared/http/scope.js';
import type { AppEnv } from '../shared/http/types.js';
import type { BodyLimit } from '../shared/http/validate.js';
import type { Services } from '../shared/services.js';
import { createActionExecute } from './action-execute/index.js';
import { actionBodyLimit, type DecisionHooks, sweepActions } from './actions/index.js';
import { checkAgents, createAgentRun, resumeAfterDecision, resumeDueRuns } from './agent-run/index.js';
import { createApprovals } from './approvals/index.js';
import { createApprove } from './approve/index.js';
import { createAudit } from './audit/index.js';
import { createChatRoute, sweepChat } from './chat-route/index.js';
import { createHealth } from './health/index.js';
import { createKeys, querySpend } from './keys/index.js';
import { createMetricsRoute } from './metrics/index.js';
import { createOpenApi } from './openapi/index.js';
import { createReady } from './ready/index.js';

/**
 * Composes MYCA Edge from one sub-app per function. Runtime-neutral: both entry points (workerd and
 * Node) hand it their Services and serve what it returns. `perRequest` gives each request its own
 * Services (workerd: a database client per request); the app itself is built once.
 *
 * @example
 * const app = createApp(services);
 * const response = await app.request('/health');
 */
export function createApp(services: Services, perRequest?: () => Services) {
  checkAgents(services);
  // A decision lets the run that asked for the action (if any) go on with the result.
  const hooks: DecisionHooks = { onDecided: (decided, scope) => resumeAfterDecision(scope, decided.runId, decided.decision) };
  const app = new Hono<AppEnv>();
  app.use(
    observe({
      services,
      perRequest,
      tracerProvider: services.tracerProvider,
      serviceName: services.config.telemetry.service_name,
      serviceVersion: services.version,
      body: bodyGuard(services),
    }),
  );

  // Open: probes and scraping.
  app.route('/', createHealth());
  app.route('/', createReady());
  app.route('/', createMetricsRoute());
  app.route('/', createOpenApi());
  // The approvals page signs people in with its own session cookie; its spend page reads keys' report.
  app.route('/', createApprovals(hooks, { spend: querySpend }));

  // Everything under /v1 needs a key.
  app.use('/v1/*', requireAuth());
  app.get('/v1/whoami', (c) => c.json(c.get('principal')));
  app.route('/', createChatRoute());
  app.route('/', createActionExecute());
  app.route('/', createApprove(hooks));
  app.route('/', createAudit());
  app.route('/', createAgentRun());
  app.route('/', createKeys());

  app.onError(onError);
  app.notFound((c) => notFound(c, (path) => allowedMethods(app.routes, path)));
  return app;
}

export type App = ReturnType<typeof createApp>;

/**
 * One run of the periodic sweep (Node: every ACTION_SWEEP_INTERVAL_S; Workers: the Cron Trigger):
 * the actions domain expires overdue approvals and recovers stuck actions, then the runs that can
 * move on are resumed; stored responses and spend rows past their retention are deleted. Expiry runs
 * here and on write paths, never in a read.
 */
export async function sweep(scope: WorkScope): Promise<number> {
  await sweepActions(scope);
  await sweepChat(scope);
  const resumed = await resumeDueRuns(scope);
  // Housekeeping last: runs waiting to go on are not held up by deletions.
  await sweepSpend(scope);
  return resumed;
}

/** chat-route's own limit of chat, Responses and embeddings requests (images travel inline). */
const CHAT_BODY_BYTES = 8 * 1024 * 1024;

/** The approvals page's forms (sign-in, approve, reject): small, and sent before any key is checked. */
const FORM_BODY_BYTES = 64 * 1024;

/**
 * Each route's body limit, enforced before routing and authentication (see observe); /v1 bodies are
 * read only after the key is checked; all bodies together stay within HTTP_MAX_INFLIGHT_BODY_BYTES.
 */
function bodyGuard(services: Services): BodyGuard {
  const actions = actionBodyLimit(services.config.actions.max_file_bytes);
  const chat: BodyLimit = { bytes: CHAT_BODY_BYTES, setting: 'fixed for chat, responses and embeddings' };
  const forms: BodyLimit = { bytes: FORM_BODY_BYTES, setting: 'fixed for bodies without a key: the approvals forms' };
  const other: BodyLimit = { bytes: services.config.server.max_body_bytes, setting: 'HTTP_MAX_BODY_BYTES' };
  return {
    limitOf: (method, path) => {
      if (method === 'POST' && path === '/v1/actions') return actions;
      if (method === 'POST' && (path === '/v1/chat/completions' || path === '/v1/responses' || path === '/v1/embeddings')) return chat;
      // Outside /v1 bodies come without a key: the only ones taken are the approvals forms.
      return path.startsWith('/v1/') ? other : forms;
    },
    needsKey: (path) => path.startsWith('/v1/'),
    authenticate,
    budget: new BodyBudget(services.config.server.max_inflight_body_bytes),
  };
}

/** Methods registered for `path` by real handlers (not middleware), for 405 and `Allow`. */
function allowedMethods(routes: ReadonlyArray<{ method: string; path: string }>, path: string): string[] {
  const methods = new Set<string>();
  for (const route of routes) {
    if (route.method === 'ALL' || route.path.includes('*')) continue;
    const pattern = new RegExp(`^${route.path.replace(/[.+?^${}()|[\]\\]/g, '\\$&').replace(/\/:[^/]+/g, '/[^/]+')}/?$`);
    if (pattern.test(path)) methods.add(route.method);
  }
  if (methods.has('GET')) methods.add('HEAD');
  return [...methods];
}
