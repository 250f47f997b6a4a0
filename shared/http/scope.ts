import type { Context } from 'hono';
import type { Principal } from '../identity.js';
import type { Logger } from '../log/index.js';
import type { Services } from '../services.js';
import { inBackground } from './background.js';
import type { AppEnv } from './types.js';

/**
 * The one request scope: who acts, in which request, with what. An HTTP handler makes it with
 * {@link scopeOf}; an agent run makes its own (the run's key, its correlation id). What works on
 * behalf of nobody in particular (a sweep, a resumed run) needs only `services` and `logger`
 * ({@link WorkScope}).
 */
export interface RequestScope {
  services: Services;
  principal: Principal;
  correlationId: string;
  logger: Logger;
  /**
   * Lets work go on after the answer: Workers through the request's `waitUntil`, Node simply runs
   * it on. The promise must handle its own errors.
   */
  background(work: Promise<unknown>): void;
}

/** The part of a request scope that work outside any request (a sweep, a resumed run) has. */
export type WorkScope = Pick<RequestScope, 'services' | 'logger'>;

/** The scope of a request under /v1 or the approvals page (after its principal is known). */
export const scopeOf = (c: Context<AppEnv>): RequestScope => ({
  services: c.get('services'),
  principal: c.get('principal'),
  correlationId: c.get('correlationId'),
  logger: c.get('logger'),
  background: (work) => inBackground(c, work),
});

/** Work outside a request: it simply runs on (the caller keeps the process or isolate alive). */
export const runOn = (work: Promise<unknown>): void => {
  void work;
};
