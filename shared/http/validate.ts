import type { Context } from 'hono';
import type { z } from 'zod';
import { ApiError } from './errors.js';

/** Largest JSON body any endpoint accepts unless it says otherwise (1 MiB). */
export const DEFAULT_BODY_LIMIT = 1024 * 1024;

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
  const limit = options.limit ?? DEFAULT_BODY_LIMIT;
  const declared = Number(c.req.header('content-length') ?? 0);
  if (declared > limit) throw new ApiError('PAYLOAD_TOO_LARGE', { detail: `The body is ${declared} bytes; the limit is ${limit}` });
  const text = await c.req.text();
  // A UTF-16 code unit is at most 3 UTF-8 bytes: only a body near the limit is encoded to count them.
  if (text.length * 3 > limit && new TextEncoder().encode(text).byteLength > limit) {
    throw new ApiError('PAYLOAD_TOO_LARGE', { detail: `The body is larger than the limit of ${limit} bytes` });
  }
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (error) {
    throw new ApiError('MALFORMED_JSON', {
      detail: `The body is not valid JSON: ${(error as Error).message}`,
      hint: 'check quotes, commas and brackets',
    });
  }
  const result = schema.safeParse(data);
  if (!result.success) {
    const issues = result.error.issues.slice(0, 20).map((issue) => ({ path: issue.path.join('.'), message: issue.message }));
    throw new ApiError('VALIDATION_FAILED', {
      detail: issues.map((issue) => `${issue.path || '(body)'}: ${issue.message}`).join('; '),
      hint: 'fix the fields listed in issues',
      extra: { issues },
    });
  }
  return result.data;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** A UUID (row ids of actions and runs): checked before a query, so a bad id is a 404, not a database error. */
export const isUuid = (value: string | null | undefined): value is string => typeof value === 'string' && UUID.test(value);
