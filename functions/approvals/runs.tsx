import { Hono } from 'hono';
import type { AppEnv } from '../../shared/http/types.js';
import { isUuid } from '../../shared/http/validate.js';
import { requireDb } from '../actions/index.js';
import { page } from './layout.js';
import { type RunEventView, RunPage, type RunRowView, RunsPage } from './views/index.js';

/** `GET /approvals/runs` (agent runs, newest first) and `/approvals/runs/:id` (one run and its events). */
export function runsRoutes() {
  const app = new Hono<AppEnv>();

  app.get('/approvals/runs', async (c) => {
    const services = c.get('services');
    const runs = await requireDb(services).sql<RunRowView[]>`
      select id, agent_name, status, requested_by, input, step, pending, output, error, created_at, updated_at
      from agent_runs order by created_at desc limit 100`;
    return c.html(<RunsPage runs={runs} principal={c.get('principal')} csrf={c.get('csrfToken')} now={services.clock.now()} />);
  });

  app.get('/approvals/runs/:id', async (c) => {
    const sql = requireDb(c.get('services')).sql;
    const id = c.req.param('id');
    const [run] = isUuid(id)
      ? await sql<RunRowView[]>`
          select id, agent_name, status, requested_by, input, step, pending, output, error, created_at, updated_at
          from agent_runs where id = ${id}`
      : [];
    if (!run) return page(c, 404, 'Not found', `There is no run ${id}.`);
    const events = await sql<RunEventView[]>`select seq, type, data, created_at from agent_run_events where run_id = ${id} order by seq`;
    return c.html(<RunPage run={run} events={events} principal={c.get('principal')} csrf={c.get('csrfToken')} />);
  });

  return app;
}
