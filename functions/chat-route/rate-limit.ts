import type { MiddlewareHandler } from 'hono';
import { keyDirectory } from '../../shared/governance/directory.js';
import { KEY_ID } from '../../shared/governance/keys.js';
import { ApiError } from '../../shared/http/errors.js';
import type { AppEnv } from '../../shared/http/types.js';
import { sharedCounter } from '../../shared/kv/counter.js';

/**
 * Per-key request limit, counted in the shared key-value store (see SharedCounter for how exact it is).
 * Chat, Responses and embeddings calls (POST) of keys made through POST /v1/keys are counted exactly
 * by their own policy instead (governance.ts); their other requests here (reading and deleting stored
 * responses) count against the key's own `rpm` on this counter.
 */
export const rateLimit: MiddlewareHandler<AppEnv> = async function rateLimitMiddleware(c, next) {
  const services = c.get('services');
  const principalId = c.get('principal').id;
  const apiKey = KEY_ID.test(principalId);
  if (apiKey && c.req.method === 'POST') return next();
  const limit = apiKey
    ? ((await keyDirectory(services.kv).policy(services, principalId))?.rpm ?? services.config.llm.routing.rate_limit.requests_per_minute)
    : services.config.llm.routing.rate_limit.requests_per_minute;
  if (limit > 0) {
    const now = services.clock.now();
    const window = Math.floor(now / 60_000);
    const count = sharedCounter(services.kv).hit(`myca:rl:${c.get('principal').id}:${window}`, 61_000, now);
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
