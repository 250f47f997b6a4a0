/** Retry-After in ms from seconds or an HTTP date; undefined when absent or unparsable. */
export function parseRetryAfter(value: string | null | undefined, now = Date.now()): number | undefined {
  if (!value) return undefined;
  const seconds = Number(value);
  if (Number.isFinite(seconds)) return Math.max(0, seconds * 1000);
  const date = Date.parse(value);
  return Number.isFinite(date) ? Math.max(0, date - now) : undefined;
}

/** Exponential backoff with full jitter: a random wait up to `baseMs · 2^retry`, capped at `maxMs`. */
export function jitteredBackoff(baseMs: number, retry: number, maxMs: number, random = Math.random): number {
  return Math.min(maxMs, baseMs * 2 ** retry) * random();
}
