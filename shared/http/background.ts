import type { Context } from 'hono';

/**
 * Lets work go on after the response: on Workers through the request's `waitUntil` (the isolate
 * stays alive until it settles); on Node the promise simply runs on. The promise must handle its
 * own errors.
 */
export function inBackground(c: Context, promise: Promise<unknown>): void {
  let ctx: { waitUntil(promise: Promise<unknown>): void } | undefined;
  try {
    ctx = c.executionCtx;
  } catch {
    // Node: no ExecutionContext; the event loop keeps the promise going.
  }
  ctx?.waitUntil(promise);
}
