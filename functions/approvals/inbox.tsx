import { Hono } from 'hono';
import { CATEGORIES } from '../../shared/config/index.js';
import type { AppEnv } from '../../shared/http/types.js';
import { pendingActions, pendingAgents, requireDb } from '../actions/index.js';
import { InboxPage, InboxTable } from './views/index.js';

/**
 * `GET /approvals`: what waits for a decision now, filtered by category and agent; the live update
 * asks for the table alone (`x-myca-fragment: inbox`). An action past its deadline is not shown
 * (the sweep records its expiry; this read writes nothing).
 */
export function inboxRoutes() {
  const app = new Hono<AppEnv>();
  app.get('/approvals', async (c) => {
    const services = c.get('services');
    const sql = requireDb(services).sql;
    const category = (CATEGORIES as readonly string[]).includes(c.req.query('category') ?? '') ? (c.req.query('category') as string) : '';
    const agent = /^[A-Za-z0-9._-]{1,64}$/.test(c.req.query('agent') ?? '') ? (c.req.query('agent') as string) : '';
    const rows = await pendingActions(sql, { category, agent });
    const now = services.clock.now();
    if (c.req.header('x-myca-fragment') === 'inbox') return c.html(<InboxTable rows={rows} now={now} />);
    const agents = await pendingAgents(sql);
    return c.html(
      <InboxPage
        rows={rows}
        now={now}
        principal={c.get('principal')}
        csrf={c.get('csrfToken')}
        filters={{ category, agent }}
        agents={[...new Set([...agents, ...(agent ? [agent] : [])])]}
        categories={CATEGORIES}
      />,
    );
  });
  return app;
}
