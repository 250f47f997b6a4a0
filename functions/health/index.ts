import { Hono } from 'hono';
import { z } from 'zod';
import type { AppEnv } from '../../shared/http/types.js';

export const HealthResponseSchema = z.object({
  status: z.literal('ok'),
  version: z.string(),
  uptime_s: z.number().nonnegative(),
});
export type HealthResponse = z.infer<typeof HealthResponseSchema>;

/**
 * `GET /health`: liveness. No I/O, so it answers even when every dependency is down.
 *
 * @example
 * app.route('/', createHealth());
 */
export function createHealth() {
  return new Hono<AppEnv>().get('/health', (c) => {
    const services = c.get('services');
    const body: HealthResponse = {
      status: 'ok',
      version: services.version,
      uptime_s: Math.max(0, Math.round((services.clock.now() - services.startedAt) / 1000)),
    };
    return c.json(body);
  });
}
