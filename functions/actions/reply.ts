import type { Context } from 'hono';
import { ApiError, problemResponse } from '../../shared/http/errors.js';
import type { AppEnv } from '../../shared/http/types.js';
import { isUuid } from '../../shared/http/validate.js';
import { denialCode } from './errors.js';

/** The `:id` of an action route, or 404 for anything that cannot be one (never a database error). */
export function actionIdParam(id: string): string {
  if (!isUuid(id)) throw new ApiError('NOT_FOUND', { detail: `No action ${id}` });
  return id;
}

/**
 * The HTTP answer for an action: JSON when it executed or waits, problem+json when it failed (like
 * every other error), still carrying the action's fields — its id, links, audit fields — with its
 * state as `action_status` (`status` is the HTTP status there).
 */
export function actionReply(c: Context<AppEnv>, status: number, body: Record<string, unknown>): Response {
  if (status < 400) return c.json(body, status as 200);
  type Failure = { detail?: string; hint?: string };
  const { status: actionStatus, problem, ...fields } = body as { status?: string; problem?: Failure } & Record<string, unknown>;
  const stored = (fields.outputs as { problem?: Failure } | null | undefined)?.problem;
  const self = (fields.links as { self?: string } | undefined)?.self ?? '/v1/actions/<id>';
  const failure = new ApiError(denialCode(status), {
    detail:
      problem?.detail ?? stored?.detail ?? (typeof fields.error === 'string' ? fields.error : `The action ${actionStatus ?? 'failed'}`),
    hint:
      problem?.hint ??
      stored?.hint ??
      `the attempt is recorded (GET ${self}); fix the input or the target and submit again with a new Idempotency-Key`,
    extra: { ...fields, action_status: actionStatus, ...(problem ? { problem } : {}) },
  });
  return problemResponse(c, failure);
}
