import type { Context } from 'hono';
import { ApiError } from './errors.js';
import type { AppEnv } from './types.js';
import { type BodyLimit, bodyTooLarge } from './validate.js';

/**
 * The request-body bytes one process (one workerd isolate) holds at once, all requests together
 * (HTTP_MAX_INFLIGHT_BODY_BYTES). A body is charged as it arrives (a declared Content-Length at once)
 * and given back when its request is answered; a body that would go beyond the budget gets 503.
 * Bodies sent without a key (the approvals forms, unknown routes) may hold a quarter of it at most,
 * so that they can never keep keyed requests out.
 */
export class BodyBudget {
  #held = 0;
  #keyless = 0;
  constructor(readonly bytes: number) {}
  /** Takes `n` bytes; false (nothing taken) when they do not fit. */
  take(n: number, keyless: boolean): boolean {
    if (this.#held + n > this.bytes) return false;
    if (keyless && this.#keyless + n > this.bytes / 4) return false;
    this.#held += n;
    if (keyless) this.#keyless += n;
    return true;
  }
  give(n: number, keyless: boolean): void {
    this.#held = Math.max(0, this.#held - n);
    if (keyless) this.#keyless = Math.max(0, this.#keyless - n);
  }
  get held(): number {
    return this.#held;
  }
}

export interface BodyGuard {
  /** Each route's body limit. */
  limitOf(method: string, path: string): BodyLimit;
  /** Routes that need a key: the key is checked from the headers before any of the body is read. */
  needsKey?(path: string): boolean;
  /** Checks the key (throws the 401 or 403). */
  authenticate?(c: Context<AppEnv>): Promise<unknown>;
  budget?: BodyBudget | undefined;
}

const busy = (budget: BodyBudget) =>
  new ApiError('UNAVAILABLE', {
    detail: 'Too many request bodies are in flight on this instance',
    hint: `retry shortly; an instance holds at most ${budget.bytes} bytes of request bodies at once (HTTP_MAX_INFLIGHT_BODY_BYTES)`,
    headers: { 'retry-after': '1' },
  });

/**
 * Guards the request body before anything else looks at it: a declared Content-Length over the
 * route's limit is refused at once (413); on a route that needs a key, a request without a valid
 * one is refused (401) with its body unread; then the body is charged to the process's budget (503
 * beyond it). A chunked body is read here, counted while it streams and cut at the limit, then
 * handed on from memory; a declared length is charged whole and left for the handler to read.
 * Returns the error to answer, or undefined to go on (synchronously when there is no body: the hot
 * path). `held(n, keyless)` is told what was charged, for the caller to give back when the request ends.
 */
export function guardBody(
  c: Context<AppEnv>,
  guard: BodyGuard,
  held: (bytes: number, keyless: boolean) => void,
): ApiError | undefined | Promise<ApiError | undefined> {
  const method = c.req.method;
  if (method === 'GET' || method === 'HEAD' || method === 'OPTIONS') return undefined;
  const chunked = c.req.header('transfer-encoding');
  const declaredHeader = c.req.header('content-length');
  if (!chunked && declaredHeader === undefined && !c.req.raw.body) return undefined;
  const limit = guard.limitOf(method, c.req.path);
  c.set('bodyLimit', limit);
  const declared = !chunked && declaredHeader !== undefined ? Number(declaredHeader) : undefined;
  if (declared !== undefined && declared > limit.bytes) return bodyTooLarge(limit, declared);
  if (declared === 0) return undefined;
  return (async () => {
    if (guard.authenticate && guard.needsKey?.(c.req.path)) {
      try {
        await guard.authenticate(c);
      } catch (error) {
        if (error instanceof ApiError) return error;
        throw error;
      }
    }
    if (declared !== undefined) {
      if (guard.budget) {
        const keyless = !c.get('principal');
        if (!guard.budget.take(declared, keyless)) return busy(guard.budget);
        held(declared, keyless);
      }
      return undefined;
    }
    return readBounded(c, limit, guard.budget, held);
  })();
}

async function readBounded(
  c: Context<AppEnv>,
  limit: BodyLimit,
  budget: BodyBudget | undefined,
  held: (bytes: number, keyless: boolean) => void,
): Promise<ApiError | undefined> {
  const raw = c.req.raw;
  const keyless = !c.get('principal');
  if (!raw.body) return undefined;
  const reader = raw.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    let next: ReadableStreamReadResult<Uint8Array>;
    try {
      next = await reader.read();
    } catch {
      // The client went away (or the server dropped it: SERVER_REQUEST_TIMEOUT_MS) mid-body.
      return new ApiError('BAD_REQUEST', { detail: 'The body ended before it was complete', hint: 'send the whole body' });
    }
    const { done, value } = next;
    if (done) break;
    size += value.byteLength;
    const refusal = size > limit.bytes ? bodyTooLarge(limit) : budget && !budget.take(value.byteLength, keyless) ? busy(budget) : undefined;
    if (refusal) {
      chunks.length = 0;
      await reader.cancel().catch(() => undefined);
      return refusal;
    }
    if (budget) held(value.byteLength, keyless);
    chunks.push(value);
  }
  const body = new Uint8Array(size);
  let offset = 0;
  for (const chunk of chunks) {
    body.set(chunk, offset);
    offset += chunk.byteLength;
  }
  c.req.raw = new Request(raw, { body });
  return undefined;
}
