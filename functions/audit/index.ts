import { Hono } from 'hono';
import { verifyChain } from '../../shared/audit/chain.js';
import { requireAuth } from '../../shared/http/auth.js';
import type { AppEnv } from '../../shared/http/types.js';
import { requireDb } from '../actions/index.js';

/** `GET /v1/audit/verify` (admin): recomputes the event chain and names the first broken link. */
export function createAudit() {
  const app = new Hono<AppEnv>();
  app.get('/v1/audit/verify', requireAuth({ roles: ['admin'] }), async (c) => {
    const services = c.get('services');
    const result = await verifyChain(requireDb(services).sql, { kv: services.kv, logger: c.get('logger') });
    return c.json(result, result.ok ? 200 : 409);
  });
  return app;
}
