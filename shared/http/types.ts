import type { Principal } from '../identity.js';
import type { Logger } from '../log/index.js';
import type { Services } from '../services.js';

/** A route's body limit and what sets it, for the 413's hint. */
export interface BodyLimit {
  bytes: number;
  /** The setting (or rule) the limit comes from, named in the hint of every 413. */
  setting: string;
}

/** Hono's environment for every MYCA Edge app: what middleware puts on the context. */
export interface AppEnv {
  Variables: {
    services: Services;
    correlationId: string;
    /** Request-scoped logger carrying the correlation id. */
    logger: Logger;
    /** Set by the auth middleware under /v1. */
    principal: Principal;
    /** An unexpected error, for the wide log line. */
    error: Error;
    /** The approvals page's per-session CSRF token (set for signed-in page requests). */
    csrfToken: string;
    /** Extra fields handlers add to the request's wide log line. */
    logFields: Record<string, unknown>;
    /** `x-correlation-id` and `traceparent` for the response (set by the observe middleware). */
    traceHeaders: Record<string, string>;
    /** The response tracedResponse built with those headers in it. */
    tracedResponse: Response;
    /** The body limit of this request's route (set by the observe middleware for requests with a body). */
    bodyLimit: BodyLimit;
  };
}
