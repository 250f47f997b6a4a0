import { Hono } from 'hono';
import type { AppEnv } from '../../shared/http/types.js';
import type { DecisionHooks } from '../actions/index.js';
import { actionRoutes } from './action.js';
import { signInRoutes, signOutRoutes } from './auth.js';
import { historyRoutes } from './history.js';
import { inboxRoutes } from './inbox.js';
import { guard, signedIn } from './layout.js';
import { runsRoutes } from './runs.js';
import { type SpendQuery, spendRoutes } from './spend.js';

export type { SpendQuery } from './spend.js';

/**
 * The approvals inbox: a server-rendered page (Hono JSX) where a person signs in with an approver
 * credential, sees held actions, reviews one and approves or rejects it through the same domain
 * functions as the API (claim, digest, separation of duties, exactly-once execution). One module
 * per page: layout (headers, Origin and session checks), auth (sign-in/out), inbox, action,
 * history, runs, spend (admins; its report is keys' query, handed in by the composition root as
 * `spend`); the markup is in views/.
 */
export function createApprovals(hooks: DecisionHooks = {}, reports: { spend?: SpendQuery } = {}) {
  const app = new Hono<AppEnv>();
  guard(app);
  app.route('/', signInRoutes());

  for (const path of [
    '/approvals',
    '/approvals/actions/*',
    '/approvals/history',
    '/approvals/runs',
    '/approvals/runs/*',
    '/approvals/spend',
    '/approvals/logout',
  ])
    app.use(path, signedIn);

  app.route('/', signOutRoutes());
  app.route('/', inboxRoutes());
  app.route('/', actionRoutes(hooks));
  app.route('/', historyRoutes());
  app.route('/', runsRoutes());
  app.route('/', spendRoutes(reports.spend));
  return app;
}
