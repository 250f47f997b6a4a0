import { type Context, Hono } from 'hono';
import { ApiError } from '../../shared/http/errors.js';
import { scopeOf } from '../../shared/http/scope.js';
import type { AppEnv } from '../../shared/http/types.js';
import { isUuid, readForm } from '../../shared/http/validate.js';
import {
  type ActionRow,
  actionEvents,
  approveAction,
  type DecisionHooks,
  rejectAction,
  requireDb,
  reviewFacts,
  viewAction,
} from '../actions/index.js';
import { page } from './layout.js';
import { DetailPage, type RunContext } from './views/index.js';

type PageNotice = { kind: 'ok' | 'error'; text: string };

/** The detail page of one action as it stands now, with an optional notice (a decision's result or refusal). */
async function detail(
  c: Context<AppEnv>,
  id: string,
  notice?: PageNotice | ((row: ActionRow) => PageNotice | undefined),
  status: 200 | 400 | 403 | 409 = 200,
) {
  const services = c.get('services');
  const sql = requireDb(services).sql;
  const row = isUuid(id) ? await viewAction(sql, id) : undefined;
  if (!row) return page(c, 404, 'Not found', `There is no action ${id}.`);
  const events = await actionEvents(sql, id);
  let run: RunContext | null = null;
  if (row.agent_run_id && isUuid(row.agent_run_id)) {
    [run = null] = await sql<RunContext[]>`select id, agent_name, status, input, step from agent_runs where id = ${row.agent_run_id}`;
  }
  const querySql = row.action_type === 'db.query' ? services.config.policy.queries[String(row.inputs.query)]?.sql : undefined;
  const facts = await reviewFacts(sql, row);
  return c.html(
    <DetailPage
      row={row}
      facts={facts}
      events={events}
      run={run}
      principal={c.get('principal')}
      csrf={c.get('csrfToken')}
      now={services.clock.now()}
      notice={typeof notice === 'function' ? notice(row) : notice}
      {...(querySql ? { querySql } : {})}
    />,
    status,
  );
}

function outcomeNotice(done: 'approved' | 'rejected', row: ActionRow): PageNotice {
  if (done === 'rejected') return { kind: 'ok', text: 'Rejected. The agent is told your reason.' };
  if (row.status === 'executed') return { kind: 'ok', text: 'Approved and executed.' };
  if (row.status === 'failed') return { kind: 'error', text: `Approved, but the action failed: ${row.error ?? 'unknown error'}` };
  return { kind: 'ok', text: `Approved (now ${row.status}).` };
}

/**
 * One action: `GET /approvals/actions/:id` to review it, `POST …/approve` and `…/reject` to decide
 * it through the same domain functions as the API (claim, digest, separation of duties,
 * exactly-once execution); `hooks.onDecided` lets the run that asked go on.
 */
export function actionRoutes(hooks: DecisionHooks) {
  const app = new Hono<AppEnv>();

  app.get('/approvals/actions/:id', async (c) => {
    const done = c.req.query('done');
    // After a decision: what came of it, told from the row the page shows (one read, not two).
    return detail(c, c.req.param('id'), done === 'approved' || done === 'rejected' ? (row) => outcomeNotice(done, row) : undefined);
  });

  const decide = async (c: Context<AppEnv>, verb: 'approve' | 'reject') => {
    const id = c.req.param('id') ?? '';
    if (!isUuid(id)) return page(c, 404, 'Not found', `There is no action ${id}.`);
    const form = await readForm(c);
    try {
      if (verb === 'approve') {
        const digest = String(form.digest ?? '');
        if (!/^[0-9a-f]{64}$/.test(digest))
          return detail(c, id, { kind: 'error', text: 'The form did not carry the digest you reviewed.' }, 400);
        const comment = String(form.comment ?? '').trim();
        await approveAction(scopeOf(c), id, { digest, ...(comment ? { comment: comment.slice(0, 2000) } : {}) }, hooks);
      } else {
        const reason = String(form.reason ?? '').trim();
        if (!reason) return detail(c, id, { kind: 'error', text: 'Say why you reject it: the agent is told the reason.' }, 400);
        await rejectAction(scopeOf(c), id, { reason: reason.slice(0, 2000) }, hooks);
      }
    } catch (error) {
      if (!(error instanceof ApiError)) throw error;
      // A stale page: decided elsewhere, expired, changed, or the approver's own request.
      const status = error.status === 403 ? 403 : 409;
      return detail(
        c,
        id,
        { kind: 'error', text: `Your decision was not recorded: ${error.message}.${error.hint ? ` (${error.hint})` : ''}` },
        status,
      );
    }
    return c.redirect(`/approvals/actions/${id}?done=${verb === 'approve' ? 'approved' : 'rejected'}`, 303);
  };
  app.post('/approvals/actions/:id/approve', (c) => decide(c, 'approve'));
  app.post('/approvals/actions/:id/reject', (c) => decide(c, 'reject'));

  return app;
}
