import type { Context } from 'hono';
import { z } from 'zod';
import { ApiError } from './errors.js';
import { checkedJson, JsonDepthError, MAX_JSON_DEPTH } from './json-input.js';
import type { BodyLimit } from './types.js';

/** Largest JSON body any endpoint accepts unless it says otherwise (1 MiB; HTTP_MAX_BODY_BYTES). */
export const DEFAULT_BODY_LIMIT = 1024 * 1024;

export type { BodyLimit } from './types.js';

/** The 413 of a body over `limit` (`size` when known: a declared Content-Length). */
export function bodyTooLarge(limit: BodyLimit, size?: number): ApiError {
  return new ApiError('PAYLOAD_TOO_LARGE', {
    detail:
      size === undefined
        ? `The body is larger than the limit of ${limit.bytes} bytes`
        : `The body is ${size} bytes; the limit is ${limit.bytes}`,
    hint: `this route takes at most ${limit.bytes} bytes (${limit.setting})`,
    extra: { limit_bytes: limit.bytes },
  });
}

/**
 * Reads and validates a JSON body. Malformed JSON, a wrong content type, an oversized body and a
 * schema mismatch are all clear 4xx problems listing what to fix; nothing reaches the handler.
 *
 * @example
 * const input = await readJson(c, ChatRequestSchema);
 */
export async function readJson<S extends z.ZodType>(c: Context, schema: S, options: { limit?: number } = {}): Promise<z.output<S>> {
  const type = c.req.header('content-type') ?? '';
  if (!/^application\/([a-z.+-]*\+)?json\b/i.test(type)) {
    throw new ApiError('UNSUPPORTED_MEDIA_TYPE', {
      detail: `Expected a JSON body, got content-type "${type || 'none'}"`,
      hint: 'send content-type: application/json',
    });
  }
  const routeLimit = c.get('bodyLimit') as BodyLimit | undefined;
  const limit: BodyLimit =
    options.limit === undefined
      ? (routeLimit ?? { bytes: DEFAULT_BODY_LIMIT, setting: 'HTTP_MAX_BODY_BYTES' })
      : { bytes: options.limit, setting: routeLimit?.bytes === options.limit ? routeLimit.setting : 'fixed for this route' };
  const declared = Number(c.req.header('content-length') ?? 0);
  if (declared > limit.bytes) throw bodyTooLarge(limit, declared);
  const text = await c.req.text();
  // A UTF-16 code unit is at most 3 UTF-8 bytes: only a body near the limit is encoded to count them.
  if (text.length * 3 > limit.bytes && new TextEncoder().encode(text).byteLength > limit.bytes) throw bodyTooLarge(limit);
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (error) {
    throw new ApiError('MALFORMED_JSON', {
      detail: `The body is not valid JSON: ${(error as Error).message}`,
      hint: 'check quotes, commas and brackets',
    });
  }
  try {
    data = checkedJson(data, text);
  } catch (error) {
    if (!(error instanceof JsonDepthError)) throw error;
    throw new ApiError('BAD_REQUEST', {
      detail: `The body is nested deeper than ${MAX_JSON_DEPTH} levels`,
      hint: 'flatten the structure; no field of any endpoint needs that depth',
    });
  }
  const result = schema.safeParse(data);
  if (!result.success) throw validationFailed(result.error, '(body)', 'fix the fields listed in issues');
  return result.data;
}

function validationFailed(error: z.ZodError, whole: string, hint: string): ApiError {
  const issues = error.issues.slice(0, 20).map((issue) => ({ path: issue.path.join('.'), message: issue.message }));
  return new ApiError('VALIDATION_FAILED', {
    detail: issues.map((issue) => `${issue.path || whole}: ${issue.message}`).join('; '),
    hint,
    extra: { issues },
  });
}

/**
 * Reads the query string with `schema` (an object of optional string parameters; others are
 * ignored): a bad parameter is a 400 naming it, before any query is built from it.
 *
 * @example
 * const { limit, status } = readQuery(c, z.object({ limit: queryLimit(), status: z.enum(STATUSES).optional() }));
 */
export function readQuery<S extends z.ZodType>(c: Context, schema: S): z.output<S> {
  const result = schema.safeParse(c.req.query());
  if (!result.success) throw validationFailed(result.error, '(query)', 'fix the query parameters listed in issues');
  return result.data;
}

/** A page size from the query: a whole number (clamped to 1–`max`), `fallback` when absent. */
export const queryLimit = (max = 500, fallback = 50) =>
  z
    .string()
    .regex(/^\d{1,9}$/, 'expected a whole number')
    .transform((value) => Math.min(Math.max(Number(value), 1), max))
    .optional()
    .transform((value) => value ?? fallback);

/** A sequence number from the query or a header: a whole number 0–2147483647 (a Postgres integer). */
export const querySeq = z
  .string()
  .regex(/^\d{1,10}$/, 'expected a whole number')
  .transform(Number)
  .refine((value) => value <= 2_147_483_647, 'at most 2147483647');

/**
 * The fields of a form body (url-encoded or multipart): a body that is not a well-formed form is a
 * 400 with a hint, not a parser's 500.
 */
export async function readForm(c: Context): Promise<Record<string, string | File>> {
  try {
    return (await c.req.parseBody()) as Record<string, string | File>;
  } catch {
    throw new ApiError('BAD_REQUEST', {
      detail: 'The body is not a well-formed form',
      hint: 'send the form as application/x-www-form-urlencoded (or well-formed multipart/form-data)',
    });
  }
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** A UUID (row ids of actions and runs): checked before a query, so a bad id is a 404, not a database error. */
export const isUuid = (value: string | null | undefined): value is string => typeof value === 'string' && UUID.test(value);
