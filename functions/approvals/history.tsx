import { Hono } from 'hono';
import { verifyChain } from '../../shared/audit/chain.js';
import type { AppEnv } from '../../shared/http/types.js';
import { decidedActions, requireDb } from '../actions/index.js';
import { HistoryPage } from './views/index.js';

/** `GET /approvals/history`: decided actions, newest first; `?verify=1` also checks the audit chain. */
export function historyRoutes() {
  const app = new Hono<AppEnv>();
  app.get('/approvals/history', async (c) => {
    const services = c.get('services');
    const sql = requireDb(services).sql;
    const rows = await decidedActions(sql, 200);
    let verify: { ok: boolean; text: string } | undefined;
    if (c.req.query('verify')) {
      const result = await verifyChain(sql, { kv: services.kv });
      verify = result.ok
        ? { ok: true, text: `The audit chain holds: ${result.events} events, head ${result.head?.slice(0, 16)}…` }
        : { ok: false, text: `The audit chain is broken at event ${result.broken?.seq}: ${result.broken?.reason}` };
    }
    return c.html(<HistoryPage rows={rows} principal={c.get('principal')} csrf={c.get('csrfToken')} verify={verify} />);
  });
  return app;
}
