import { Hono } from 'hono';
import { ApiError } from '../../shared/http/errors.js';
import type { AppEnv } from '../../shared/http/types.js';

/** `GET /metrics`: Prometheus text, served by the app itself (no second port). */
export function createMetricsRoute() {
  return new Hono<AppEnv>().get('/metrics', async (c) => {
    const render = c.get('services').renderMetrics;
    if (!render) {
      throw new ApiError('NOT_FOUND', {
        detail: 'This runtime does not keep Prometheus metrics',
        hint: 'scrape the Node server; in workerd metrics state is per isolate, so traces carry the signal there',
      });
    }
    return c.body(await render(), 200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8', 'cache-control': 'no-store' });
  });
}
