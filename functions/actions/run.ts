import { SpanStatusCode } from '@opentelemetry/api';
import type { Sql } from 'postgres';
import { ApiError } from '../../shared/http/errors.js';
import type { Logger } from '../../shared/log/index.js';
import type { Services } from '../../shared/services.js';
import { CATALOG } from './catalog/index.js';
import { type ActionContext, type ActionDefinition, ActionError } from './catalog/types.js';
import { type ActionRow, present, transition } from './store.js';

/** Everything an action may touch, for one execution. */
export function actionContext(services: Services, signal: AbortSignal, agentId: string): ActionContext {
  const { config } = services;
  return {
    signal,
    agentId,
    files: services.files,
    httpFetch: services.actionFetch,
    http: config.policy.http,
    db: services.db,
    queries: config.policy.queries,
    maxFileBytes: config.actions.max_file_bytes,
    integrations: services.integrations,
  };
}

/** The catalog name as a metric label, or `unknown` (labels never carry caller text). */
export const toolLabel = (type: string) => (CATALOG.has(type) ? type : 'unknown');

export interface Executed {
  row: ActionRow;
  /** The HTTP status the caller gets: 200 when executed, the action's error status when it failed. */
  status: number;
  body: Record<string, unknown>;
}

/**
 * Runs a claimed action (its row is `executing`) and records the outcome. The audit row was
 * committed before this is called; if recording the outcome fails the row stays `executing`,
 * which says "outcome unknown" rather than losing the execution.
 */
export async function executeClaimed(
  services: Services,
  sql: Sql,
  row: ActionRow,
  action: ActionDefinition<never, unknown>,
  input: unknown,
  actor: string,
  correlationId: string,
  logger: Logger,
): Promise<Executed> {
  const tracer = services.tracerProvider.getTracer('myca-actions');
  const span = tracer.startSpan(`action.execute ${action.name}`, {
    attributes: {
      'myca.action.id': row.id,
      'myca.action.type': action.name,
      'myca.action.category': action.category,
      'myca.correlation_id': row.correlation_id,
    },
  });
  const controller = new AbortController();
  const timeoutMs = action.name === 'http.request' ? services.config.policy.http.timeout_ms : services.config.actions.timeout_ms;
  const timer = setTimeout(() => controller.abort(new Error(`the action took longer than ${timeoutMs} ms`)), timeoutMs);
  const started = performance.now();
  let outcome: { ok: true; output: unknown } | { ok: false; error: ActionError };
  try {
    const output = await action.execute(actionContext(services, controller.signal, row.agent_id), input as never);
    outcome = { ok: true, output: action.outputSchema.parse(output) };
  } catch (error) {
    outcome = {
      ok: false,
      error: error instanceof ActionError ? error : failureOf(error),
    };
  } finally {
    clearTimeout(timer);
  }
  const durationMs = Math.round(performance.now() - started);
  const status = outcome.ok ? 'executed' : 'failed';
  services.metrics.toolExecutions.add(1, { tool_name: toolLabel(action.name), status });
  services.metrics.toolDuration.record(durationMs / 1000, { tool_name: toolLabel(action.name) });
  span.setAttribute('myca.action.status', status);
  if (!outcome.ok) span.setStatus({ code: SpanStatusCode.ERROR, message: outcome.error.message });
  span.end();

  const finalRow = await recordOutcome(sql, row.id, status, actor, correlationId, durationMs, outcome, logger);
  services.metrics.actionAuditLogs.add(1, { action_type: toolLabel(action.name), status });
  if (!finalRow) {
    throw new ApiError('UNAVAILABLE', {
      detail: `The action ran (${status}) but its outcome could not be recorded; its audit row stays "executing"`,
      hint: 'do not resubmit with a new Idempotency-Key; GET the action later',
      extra: { id: row.id },
    });
  }
  if (outcome.ok) return { row: finalRow, status: 200, body: { ...present(finalRow), output: outcome.output } };
  return {
    row: finalRow,
    status: outcome.error.status,
    body: {
      ...present(finalRow),
      problem: { status: outcome.error.status, detail: outcome.error.message, ...(outcome.error.hint ? { hint: outcome.error.hint } : {}) },
    },
  };
}

/** File system errors an action can meet, as the caller should hear them (never with the server's paths). */
const ERRNO: Record<string, [ActionError['status'], string]> = {
  ENAMETOOLONG: [400, 'a name in the path is too long'],
  ENOENT: [404, 'no such file or folder'],
  ENOTDIR: [400, 'a part of the path is a file, not a folder'],
  EISDIR: [400, 'the path is a folder'],
  ELOOP: [403, 'the path is a symlink; file actions do not follow them'],
  EACCES: [403, 'permission denied'],
  EPERM: [403, 'permission denied'],
  EEXIST: [409, 'the path already exists'],
  ENOSPC: [503, 'no space left for files'],
  EROFS: [503, 'the files root is read-only'],
};

/** Absolute paths and file URLs in an error text: they describe the server, not the caller's request. */
const SERVER_PATH = /(?<![\w.:/\\])(?:file:\/\/)?(?:[A-Za-z]:)?(?:[\\/][^\s'",:;()\\/]+){2,}[\\/]?/g;

/** An unexpected execution error as the caller may see it: known errno codes by meaning, and no server paths. */
export function failureOf(error: unknown): ActionError {
  const code = (error as { code?: unknown } | null)?.code;
  const known = typeof code === 'string' && Object.hasOwn(ERRNO, code) ? ERRNO[code] : undefined;
  if (known) return new ActionError(known[0], known[1]);
  const message = error instanceof Error ? error.message : String(error);
  return new ActionError(502, `the action failed: ${message.replace(SERVER_PATH, '<path>')}`);
}

/** A few tries: a brief database blip must not leave an executed action looking unfinished. */
async function recordOutcome(
  sql: Sql,
  id: string,
  status: 'executed' | 'failed',
  actor: string,
  correlationId: string,
  durationMs: number,
  outcome: { ok: true; output: unknown } | { ok: false; error: ActionError },
  logger: Logger,
): Promise<ActionRow | undefined> {
  for (let attempt = 0; attempt < 4; attempt++) {
    try {
      return await transition(
        sql,
        id,
        ['executing'],
        status,
        {
          event: status,
          actor,
          correlationId,
          data: outcome.ok ? { duration_ms: durationMs } : { duration_ms: durationMs, error: outcome.error.message },
        },
        outcome.ok
          ? { outputs: outcome.output, durationMs }
          : {
              outputs: { problem: { status: outcome.error.status, detail: outcome.error.message } },
              error: outcome.error.message,
              durationMs,
            },
      );
    } catch (error) {
      logger.error('recording an action outcome failed', { action_id: id, attempt, error: error as Error });
      await new Promise((resolve) => setTimeout(resolve, 100 * 2 ** attempt));
    }
  }
  return undefined;
}
