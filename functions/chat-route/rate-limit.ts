import type { MiddlewareHandler } from 'hono';
import { keyDirectory } from '../../shared/governance/directory.js';
import { KEY_ID } from '../../shared/governance/keys.js';
import { counterKeys, windowsAt } from '../../shared/governance/limits.js';
import { ApiError } from '../../shared/http/errors.js';
import type { AppEnv } from '../../shared/http/types.js';
import { sharedCounter } from '../../shared/kv/counter.js';

const limited = (limit: number, now: number, windowEnd: number) => {
  const retryAfter = Math.max(1, Math.ceil((windowEnd - now) / 1000));
  return new ApiError('RATE_LIMITED', {
    detail: `This key made more than ${limit} requests this minute`,
    hint: `retry after ${retryAfter} s`,
    headers: { 'retry-after': String(retryAfter) },
  });
};

const storeDown = (error: unknown) =>
  new ApiError('UNAVAILABLE', {
    detail: 'The key’s limits cannot be checked now (the key-value store or the database did not answer)',
    hint: 'retry shortly',
    headers: { 'retry-after': '1' },
    cause: error,
  });

/**
 * Per-key request limit, counted in the shared key-value store (see SharedCounter for how exact it is).
 * Keys made through POST /v1/keys have their own `rpm`, counted exactly on one counter: their chat,
 * Responses and embeddings calls (POST) by the key gate (governance.ts), their other requests here
 * (reading and deleting stored responses) on the same counter, so the two together never pass it.
 */
export const rateLimit: MiddlewareHandler<AppEnv> = async function rateLimitMiddleware(c, next) {
  const services = c.get('services');
  const principalId = c.get('principal').id;
  const now = services.clock.now();
  if (KEY_ID.test(principalId)) {
    if (c.req.method === 'POST') return next();
    const policy = await keyDirectory(services.kv)
      .policy(services, principalId)
      .catch((error: unknown) => {
        throw storeDown(error);
      });
    const rpm = policy ? (policy.rpm ?? services.config.llm.routing.rate_limit.requests_per_minute) : 0;
    if (policy && rpm > 0) {
      const windows = windowsAt(now, policy.budget_period);
      const answer = await services.kv
        .addWithin([{ key: counterKeys(policy.id, windows).requests, by: 1, max: rpm, ttlMs: windows.minuteEnd - now + 1000 }])
        .catch((error: unknown) => {
          throw storeDown(error);
        });
      if (!answer.ok) throw limited(rpm, now, windows.minuteEnd);
    }
    return next();
  }
  const limit = services.config.llm.routing.rate_limit.requests_per_minute;
  if (limit > 0) {
    const window = Math.floor(now / 60_000);
    const count = sharedCounter(services.kv).hit(`myca:rl:${principalId}:${window}`, 61_000, now);
    if (count > limit) throw limited(limit, now, (window + 1) * 60_000);
  }
  await next();
};
