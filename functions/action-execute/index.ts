import { Hono } from 'hono';
import { z } from 'zod';
import { ApiError } from '../../shared/http/errors.js';
import { scopeOf } from '../../shared/http/scope.js';
import type { AppEnv } from '../../shared/http/types.js';
import { queryLimit, readJson, readQuery } from '../../shared/http/validate.js';
import {
  actionBodyLimit,
  actionIdParam,
  actionReply,
  listActions,
  present,
  requireDb,
  STATUSES,
  SubmitActionSchema,
  submitAction,
  viewAction,
} from '../actions/index.js';

const ListActionsQuery = z.object({
  status: z.enum(STATUSES, { error: `one of ${STATUSES.join(', ')}` }).optional(),
  limit: queryLimit(),
});

/**
 * action-execute: `POST /v1/actions` hands the request to the actions domain (validate, classify,
 * decide by policy, write the audit record, execute at once (200) or hold for an approver (202)).
 * Also lists and shows actions, as they stand now (reads write nothing).
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
    const body = await readJson(c, SubmitActionSchema, { limit: actionBodyLimit(services.config.actions.max_file_bytes).bytes });
    const submitted = await submitAction(scopeOf(c), idempotencyKey, body);
    if (submitted.logFields) c.set('logFields', { ...c.get('logFields'), ...submitted.logFields });
    return actionReply(c, submitted.status, submitted.body);
  });

  app.get('/v1/actions', async (c) => {
    const db = requireDb(c.get('services'));
    const { status, limit } = readQuery(c, ListActionsQuery);
    const principal = c.get('principal');
    // Agents see what they requested; approvers and admins see everything.
    const rows = await listActions(db.sql, { status, requestedBy: principal.role === 'agent' ? principal.id : null, limit });
    return c.json({ data: rows.map(present) });
  });

  app.get('/v1/actions/:id', async (c) => {
    const db = requireDb(c.get('services'));
    const id = actionIdParam(c.req.param('id'));
    const row = await viewAction(db.sql, id);
    const principal = c.get('principal');
    if (!row || (principal.role === 'agent' && row.requested_by !== principal.id))
      throw new ApiError('NOT_FOUND', { detail: `No action ${id}` });
    return c.json(present(row));
  });

  return app;
}
