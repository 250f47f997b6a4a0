import type { Context } from 'hono';
import { HTTPException } from 'hono/http-exception';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import type { AppEnv } from './types.js';

/** The closed set of error codes the API returns. Adding one is an API change: document it. */
export const ERROR_CODES = {
  BAD_REQUEST: { status: 400, title: 'Bad request' },
  MALFORMED_JSON: { status: 400, title: 'Malformed JSON body' },
  VALIDATION_FAILED: { status: 400, title: 'Validation failed' },
  UNAUTHENTICATED: { status: 401, title: 'Authentication required' },
  FORBIDDEN: { status: 403, title: 'Forbidden' },
  NOT_FOUND: { status: 404, title: 'Not found' },
  METHOD_NOT_ALLOWED: { status: 405, title: 'Method not allowed' },
  CONFLICT: { status: 409, title: 'Conflict' },
  PAYLOAD_TOO_LARGE: { status: 413, title: 'Payload too large' },
  UNSUPPORTED_MEDIA_TYPE: { status: 415, title: 'Unsupported media type' },
  UNPROCESSABLE: { status: 422, title: 'Unprocessable request' },
  RATE_LIMITED: { status: 429, title: 'Too many requests' },
  TOKENS_EXHAUSTED: { status: 429, title: 'Token limit reached' },
  BUDGET_EXCEEDED: { status: 429, title: 'Budget exceeded' },
  INTERNAL: { status: 500, title: 'Internal error' },
  BAD_GATEWAY: { status: 502, title: 'Upstream failed' },
  UNAVAILABLE: { status: 503, title: 'Service unavailable' },
  GATEWAY_TIMEOUT: { status: 504, title: 'Upstream timed out' },
} as const satisfies Record<string, { status: ContentfulStatusCode; title: string }>;

export type ErrorCode = keyof typeof ERROR_CODES;

/** The hint an error gets when the code that threw it gave none: every error says what to do next. */
export const DEFAULT_HINTS: Record<ErrorCode, string> = {
  BAD_REQUEST: 'check the request against GET /openapi.json',
  MALFORMED_JSON: 'send a valid JSON body with content-type: application/json',
  VALIDATION_FAILED: 'fix the fields named in detail (GET /openapi.json has the schema)',
  UNAUTHENTICATED: 'send Authorization: Bearer <API key>',
  FORBIDDEN: 'use a key whose role may do this (agent, approver or admin)',
  NOT_FOUND: 'check the id or path (GET /openapi.json lists the endpoints)',
  METHOD_NOT_ALLOWED: 'use a method listed in the Allow header',
  CONFLICT: 'read the current state (GET it) and decide again',
  PAYLOAD_TOO_LARGE: 'send a smaller body',
  UNSUPPORTED_MEDIA_TYPE: 'send content-type: application/json',
  UNPROCESSABLE: 'fix what detail names and send again',
  RATE_LIMITED: 'wait as Retry-After says, then retry',
  TOKENS_EXHAUSTED: 'wait as Retry-After says (resets_at), or send a smaller max_tokens',
  BUDGET_EXCEEDED: 'wait until resets_at, or ask an admin to raise the key’s budget',
  INTERNAL: 'retry; if it persists, report the correlation_id',
  BAD_GATEWAY: 'an upstream failed: retry later, or check its configuration',
  UNAVAILABLE: 'retry later; GET /ready names what is down',
  GATEWAY_TIMEOUT: 'an upstream was too slow: retry later',
};

/** Body of every error response (RFC 9457 problem+json, plus our code and correlation id). */
export interface Problem {
  type: string;
  title: string;
  status: number;
  detail: string;
  code: ErrorCode;
  correlation_id: string;
  hint?: string;
  /** The same in OpenAI's error shape, so OpenAI clients show it. */
  error: { message: string; type: string; code: ErrorCode };
  [extension: string]: unknown;
}

/**
 * The one error class handlers throw. `hint` tells the caller how to fix it; `extra` adds
 * documented extension members (e.g. `attempts`, `issues`).
 *
 * @example
 * throw new ApiError('FORBIDDEN', { detail: 'agents cannot approve', hint: 'use an approver key' });
 */
export class ApiError extends Error {
  readonly status: ContentfulStatusCode;
  readonly hint: string | undefined;
  readonly extra: Record<string, unknown> | undefined;
  readonly headers: Record<string, string> | undefined;

  constructor(
    readonly code: ErrorCode,
    options: { detail?: string; hint?: string; extra?: Record<string, unknown>; headers?: Record<string, string>; cause?: unknown } = {},
  ) {
    super(options.detail ?? ERROR_CODES[code].title, { cause: options.cause });
    this.name = 'ApiError';
    this.status = ERROR_CODES[code].status;
    this.hint = options.hint;
    this.extra = options.extra;
    this.headers = options.headers;
  }
}

const TYPE_BASE = 'https://myca.dev/problems/';

/** Builds a problem+json response for `error` in the request's context. */
export function problemResponse(c: Context<AppEnv>, error: ApiError): Response {
  const hint = error.hint ?? DEFAULT_HINTS[error.code];
  const body: Problem = {
    // Extension members first: they never overwrite the standard ones.
    ...error.extra,
    type: `${TYPE_BASE}${error.code.toLowerCase().replaceAll('_', '-')}`,
    title: ERROR_CODES[error.code].title,
    status: error.status,
    detail: error.message,
    code: error.code,
    correlation_id: c.get('correlationId') ?? '',
    hint,
    // OpenAI's SDKs read `error.message`: with this member their exceptions carry our detail.
    error: { message: `${error.message} (${hint})`, type: error.code.toLowerCase(), code: error.code },
  };
  const headers = new Headers(error.headers);
  headers.set('content-type', 'application/problem+json');
  return new Response(JSON.stringify(body), { status: error.status, headers });
}

/**
 * Three tiers: our ApiError as is; Hono's HTTPException mapped by status (malformed JSON from the
 * validator is a 400, never a 500); anything else is a 500 whose detail hides internals.
 */
export function onError(error: Error, c: Context<AppEnv>): Response {
  if (error instanceof ApiError) {
    if (error.status >= 500) c.set('error', error);
    return problemResponse(c, error);
  }
  if (error instanceof HTTPException) {
    const code = codeForStatus(error.status);
    const malformed = /json/i.test(error.message) && error.status === 400;
    return problemResponse(
      c,
      new ApiError(malformed ? 'MALFORMED_JSON' : code, {
        detail: error.message || ERROR_CODES[code].title,
        ...(malformed ? { hint: 'send a valid JSON body with content-type: application/json' } : {}),
      }),
    );
  }
  c.set('error', error);
  return problemResponse(
    c,
    new ApiError('INTERNAL', { detail: 'An unexpected error occurred; it has been logged with this correlation id.' }),
  );
}

function codeForStatus(status: number): ErrorCode {
  const entry = Object.entries(ERROR_CODES).find(([, value]) => value.status === status);
  return (entry?.[0] as ErrorCode | undefined) ?? (status >= 500 ? 'INTERNAL' : 'BAD_REQUEST');
}

/** 404 for unknown paths; 405 (with `Allow`) when the path exists under another method. */
export function notFound(c: Context<AppEnv>, allowedMethods: (path: string) => string[]): Response {
  const allowed = allowedMethods(c.req.path);
  if (allowed.length > 0) {
    return problemResponse(
      c,
      new ApiError('METHOD_NOT_ALLOWED', {
        detail: `${c.req.method} is not allowed on ${c.req.path}`,
        hint: `use ${allowed.join(' or ')}`,
        headers: { allow: allowed.join(', ') },
      }),
    );
  }
  return problemResponse(
    c,
    new ApiError('NOT_FOUND', {
      detail: `No route for ${c.req.method} ${c.req.path}`,
      hint: 'see docs/ for the endpoints this service offers',
    }),
  );
}
