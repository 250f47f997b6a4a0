import type { MiddlewareHandler } from 'hono';
import { KEY_ID } from '../../shared/governance/keys.js';
import { ApiError } from '../../shared/http/errors.js';
import type { AppEnv } from '../../shared/http/types.js';
import { sharedCounter } from '../../shared/kv/counter.js';
import { countRequest } from './governance.js';

/**
 * Per-key request limit, counted in the shared key-value store (see SharedCounter for how exact it is).
 * Keys made through POST /v1/keys have their own `rpm`, counted exactly on one counter: their chat,
 * Responses and embeddings calls (POST) by the key gate (governance.ts), their other requests here
 * (reading and deleting stored responses) on the same counter (countRequest), so together they never pass it.
 */
export const rateLimit: MiddlewareHandler<AppEnv> = async function rateLimitMiddleware(c, next) {
  const services = c.get('services');
  const principalId = c.get('principal').id;
  if (KEY_ID.test(principalId)) {
    if (c.req.method !== 'POST') await countRequest(services, principalId);
    return next();
  }
  const limit = services.config.llm.routing.rate_limit.requests_per_minute;
  if (limit > 0) {
    const now = services.clock.now();
    const window = Math.floor(now / 60_000);
    const count = sharedCounter(services.kv).hit(`myca:rl:${principalId}:${window}`, 61_000, now);
    if (count > limit) {
      const retryAfter = Math.max(1, Math.ceil(((window + 1) * 60_000 - now) / 1000));
      throw new ApiError('RATE_LIMITED', {
        detail: `This key made more than ${limit} requests this minute`,
        hint: `retry after ${retryAfter} s`,
        headers: { 'retry-after': String(retryAfter) },
      });
    }
  }
  await next();
};
