import { Hono } from 'hono';
import { requireAuth } from '../../shared/http/auth.js';
import { scopeOf } from '../../shared/http/scope.js';
import type { AppEnv } from '../../shared/http/types.js';
import { readJson } from '../../shared/http/validate.js';
import {
  ApproveSchema,
  actionIdParam,
  actionReply,
  approveAction,
  type DecisionHooks,
  present,
  RejectSchema,
  rejectAction,
} from '../actions/index.js';

/**
 * approve: a human (approver key) approves or rejects a held action. The actions domain makes the
 * claim one conditional update (pending, not expired, same digest, not the requester's own), so of
 * many racing decisions exactly one wins; an approved action executes its frozen snapshot exactly
 * once. `hooks.onDecided` (wired in functions/app.ts) lets the run that asked for it go on.
 */
export function createApprove(hooks: DecisionHooks = {}) {
  const app = new Hono<AppEnv>();
  app.use('/v1/actions/:id/approve', requireAuth({ roles: ['approver'] }));
  app.use('/v1/actions/:id/reject', requireAuth({ roles: ['approver'] }));

  app.post('/v1/actions/:id/approve', async (c) => {
    const id = actionIdParam(c.req.param('id'));
    const body = await readJson(c, ApproveSchema);
    const decided = await approveAction(scopeOf(c), id, body, hooks);
    c.set('logFields', { ...c.get('logFields'), ...decided.logFields });
    return actionReply(c, decided.status, decided.body);
  });

  app.post('/v1/actions/:id/reject', async (c) => {
    const id = actionIdParam(c.req.param('id'));
    const body = await readJson(c, RejectSchema);
    const rejected = await rejectAction(scopeOf(c), id, body, hooks);
    return c.json(present(rejected));
  });

  return app;
}
