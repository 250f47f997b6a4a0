import type { RoutingConfig } from '../../shared/config/index.js';
import { jitteredBackoff } from '../../shared/http/retry.js';
import { redactString } from '../../shared/redact/index.js';
import type { BreakerState, CircuitBreaker } from './breaker.js';
import { contextWindowOf, isContextLengthError } from './deployments.js';
import type { Attempt } from './plan.js';
import { ProviderError } from './providers/types.js';

/** One line of the summary a caller gets when every attempt failed (and that logs carry). */
export interface AttemptRecord {
  label: string;
  provider: string;
  model: string;
  /**
   * HTTP status from the provider, `timeout`, `network`, `breaker_open` (skipped), `deadline` (not
   * started: no time left), `client_closed` (the caller went away), `over_limit` (skipped: the
   * deployment is at its rpm/tpm), `context_window` (skipped: a model with no larger window already
   * said the prompt is too long) or `ok`.
   */
  status: number | 'timeout' | 'network' | 'breaker_open' | 'deadline' | 'client_closed' | 'over_limit' | 'context_window' | 'ok';
  error?: string;
  duration_ms: number;
}

export type AttemptOutcome<T> =
  | {
      ok: true;
      value: T;
      attempt: Attempt;
      records: AttemptRecord[];
      /** The breaker state the answering attempt ran under (a deferred success settles it). */
      breakerState: BreakerState;
    }
  | {
      ok: false;
      records: AttemptRecord[];
      stop?: ProviderError;
      /** The stop is a context-length refusal that no later model with a larger window could take. */
      contextExceeded?: boolean;
      /** 499: the caller went away (nothing more was tried). */
      httpStatus: 499 | 502 | 503 | 504;
      /** With 503: when the first open breaker lets a probe through. */
      retryAfterMs?: number;
    };

export interface LoopOptions {
  routing: RoutingConfig;
  breaker: CircuitBreaker;
  /** Epoch ms after which no attempt starts and running ones are cut. */
  deadlineAt: number;
  now?: () => number;
  sleep?: (ms: number) => Promise<void>;
  random?: () => number;
  /** Per-attempt timeout override (streams: the first-token timeout). */
  timeoutMs?: (attempt: Attempt) => number;
  onResult?: (attempt: Attempt, record: AttemptRecord, error?: ProviderError) => void;
  /** The caller's request: once it aborts, the running attempt is cut and no other starts. */
  signal?: AbortSignal;
  /**
   * A stream's success is known only at its end: the loop neither records it nor settles the
   * breaker; the caller does (`settleStream`). Failures before the first chunk are handled here.
   */
  deferSuccess?: boolean;
  /** Whether the attempt may start now (a deployment at its rpm/tpm may not: it is skipped as `over_limit`). */
  admit?: (attempt: Attempt) => boolean;
}

const defaultSleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

class AttemptTimeout extends Error {}
class ClientClosed extends Error {}

/**
 * The dumb loop over a pure plan: run attempts in order, retry retryable failures with exponential
 * backoff and full jitter (honouring Retry-After up to a cap), move on when a provider refuses,
 * stop at once when the caller's request is at fault, and never pass the deadline.
 */
export async function runAttempts<T>(
  attempts: ReadonlyArray<Attempt>,
  options: LoopOptions,
  call: (attempt: Attempt, signal: AbortSignal) => Promise<T>,
): Promise<AttemptOutcome<T>> {
  const now = options.now ?? Date.now;
  const sleep = options.sleep ?? defaultSleep;
  const random = options.random ?? Math.random;
  const { routing } = options;
  const records: AttemptRecord[] = [];
  let sawTimeout = false;
  let sawOnlyBreaker = true;
  const clientGone = (): AttemptOutcome<T> => ({ ok: false, records, httpStatus: 499 });
  /** A context-length refusal: only models with a larger window are tried after it. */
  let tooLong: { error: ProviderError; window: number } | undefined;
  const skip = (attempt: Attempt, status: 'breaker_open' | 'over_limit' | 'context_window') => {
    const record: AttemptRecord = { label: attempt.label, provider: attempt.provider, model: attempt.model, status, duration_ms: 0 };
    records.push(record);
    options.onResult?.(attempt, record);
  };

  for (const attempt of attempts) {
    if (options.signal?.aborted) return clientGone();
    if (tooLong && !((contextWindowOf(attempt.config) ?? 0) > tooLong.window)) {
      skip(attempt, 'context_window');
      continue;
    }
    if (options.admit && !options.admit(attempt)) {
      skip(attempt, 'over_limit');
      continue;
    }
    // Seen closed a moment ago (most attempts): known without a store call or a promise.
    const state: BreakerState = options.breaker.knownClosed?.(attempt.label)
      ? 'closed'
      : await options.breaker.state(attempt.label).catch(() => 'closed' as const);
    if (state === 'open') {
      skip(attempt, 'breaker_open');
      continue;
    }
    sawOnlyBreaker = false;
    for (let tryIndex = 0; tryIndex <= routing.retries; tryIndex++) {
      if (options.signal?.aborted) return clientGone();
      const remaining = options.deadlineAt - now();
      if (remaining <= 0) {
        records.push({ label: attempt.label, provider: attempt.provider, model: attempt.model, status: 'deadline', duration_ms: 0 });
        return { ok: false, records, httpStatus: 504 };
      }
      const timeoutMs = Math.min(options.timeoutMs?.(attempt) ?? attempt.config.timeout_ms, remaining);
      const controller = new AbortController();
      const timer = setTimeout(() => controller.abort(new AttemptTimeout(`no answer within ${timeoutMs} ms`)), timeoutMs);
      const onClientGone = () => controller.abort(new ClientClosed('the client closed the connection'));
      options.signal?.addEventListener('abort', onClientGone, { once: true });
      const started = now();
      try {
        const value = await call(attempt, controller.signal);
        const record: AttemptRecord = {
          label: attempt.label,
          provider: attempt.provider,
          model: attempt.model,
          status: 'ok',
          duration_ms: now() - started,
        };
        records.push(record);
        if (!options.deferSuccess) {
          options.onResult?.(attempt, record);
          // Only a probe's success changes the breaker (breaker.ts): after a closed one there is nothing to wait for.
          if (state === 'probe') await options.breaker.success(attempt.label, state).catch(() => {});
        }
        return { ok: true, value, attempt, records, breakerState: state };
      } catch (thrown) {
        if (controller.signal.reason instanceof ClientClosed) {
          // Not the provider's fault: no breaker failure, no retry, no fallback spend.
          const record: AttemptRecord = {
            label: attempt.label,
            provider: attempt.provider,
            model: attempt.model,
            status: 'client_closed',
            duration_ms: now() - started,
          };
          records.push(record);
          options.onResult?.(attempt, record);
          return clientGone();
        }
        const timedOut = controller.signal.aborted && controller.signal.reason instanceof AttemptTimeout;
        const error =
          thrown instanceof ProviderError && !timedOut
            ? thrown
            : new ProviderError(attempt.provider, timedOut ? (controller.signal.reason as Error).message : String(thrown), undefined, {
                timeout: timedOut,
                cause: thrown,
              });
        const status: AttemptRecord['status'] = error.timeout ? 'timeout' : (error.status ?? 'network');
        const record: AttemptRecord = {
          label: attempt.label,
          provider: attempt.provider,
          model: attempt.model,
          status,
          error: redactString(error.message).slice(0, 300),
          duration_ms: now() - started,
        };
        records.push(record);
        options.onResult?.(attempt, record, error);
        if (error.timeout) sawTimeout = true;
        if (error.action === 'stop' && isContextLengthError(error)) {
          // Not the caller's fault in general: a model with a larger window may take it.
          tooLong = { error, window: Math.max(tooLong?.window ?? 0, contextWindowOf(attempt.config) ?? 0) };
          break;
        }
        if (error.action === 'stop') return { ok: false, records, stop: error, httpStatus: 502 };
        const opened = await options.breaker.failure(attempt.label, state).catch(() => false);
        if (error.action === 'next' || opened || state === 'probe' || tryIndex === routing.retries) break;
        const backoff = jitteredBackoff(routing.backoff_ms, tryIndex, routing.max_backoff_ms, random);
        if (error.retryAfterMs !== undefined && error.retryAfterMs > routing.retry_after_cap_ms) break; // too long: try the next model
        const wait = Math.max(backoff, error.retryAfterMs ?? 0);
        if (now() + wait >= options.deadlineAt) break;
        await sleep(wait);
      } finally {
        clearTimeout(timer);
        options.signal?.removeEventListener('abort', onClientGone);
      }
    }
  }
  if (tooLong) return { ok: false, records, stop: tooLong.error, contextExceeded: true, httpStatus: 502 };
  if (sawOnlyBreaker) {
    const retryAfterMs = await options.breaker.cooldownLeftMs(attempts.map((a) => a.label)).catch(() => undefined);
    return { ok: false, records, httpStatus: 503, ...(retryAfterMs !== undefined ? { retryAfterMs } : {}) };
  }
  return { ok: false, records, httpStatus: sawTimeout ? 504 : 502 };
}
