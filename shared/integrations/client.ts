import { SpanKind, SpanStatusCode, type Tracer } from '@opentelemetry/api';
import { jitteredBackoff, parseRetryAfter } from '../http/retry.js';
import type { Contract } from './contract.js';

export type IntegrationErrorKind = 'status' | 'timeout' | 'network' | 'contract' | 'not_configured';

/** Every failure of an integration call: which service, which operation, what went wrong. */
export class IntegrationError extends Error {
  constructor(
    readonly service: string,
    readonly operation: string,
    readonly kind: IntegrationErrorKind,
    detail: string,
    readonly status?: number,
    /** For `contract`: the first field that does not match (e.g. `data.0.scientific_name`). */
    readonly field?: string,
  ) {
    super(`${service} ${operation}: ${detail}`);
    this.name = 'IntegrationError';
  }
}

export interface BaseClientOptions {
  service: string;
  contract: Contract;
  /** The service's root (with any path prefix), e.g. https://mindex.example.org/api/mindex. */
  baseUrl: string;
  /** Credentials, sent with every request. */
  headers: Record<string, string>;
  /** Outbound fetch that adds the correlation id and traceparent of the active span. */
  fetch: typeof fetch;
  tracer: Tracer;
  timeoutMs: number;
  retries: number;
  backoffMs?: number;
  retryAfterCapMs?: number;
}

const IDEMPOTENT = new Set(['GET', 'HEAD', 'PUT', 'DELETE', 'OPTIONS']);
const RETRYABLE = (status: number) => status === 429 || status >= 500;

const sleep = (ms: number, signal?: AbortSignal | null) =>
  new Promise<void>((resolve, reject) => {
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener(
      'abort',
      () => {
        clearTimeout(timer);
        reject(signal.reason);
      },
      { once: true },
    );
  });

/**
 * The fetch the typed clients use: credentials on every request, a timeout per attempt, and
 * retries with exponential backoff and full jitter on 429/5xx/network errors for idempotent methods
 * only, honouring Retry-After up to a cap. Errors are {@link IntegrationError}s.
 */
export function resilientFetch(options: BaseClientOptions): typeof fetch {
  const backoff = options.backoffMs ?? 200;
  const cap = options.retryAfterCapMs ?? 10_000;
  return async (input, init) => {
    const original = new Request(input, init);
    for (const [name, value] of Object.entries(options.headers)) original.headers.set(name, value);
    const tries = IDEMPOTENT.has(original.method) ? options.retries + 1 : 1;
    for (let attempt = 1; ; attempt++) {
      const request = original.clone();
      let response: Response;
      try {
        response = await options.fetch(request, { signal: AbortSignal.timeout(options.timeoutMs) });
      } catch (error) {
        const timedOut = (error as Error).name === 'TimeoutError' || (error as Error).name === 'AbortError';
        if (attempt < tries) {
          await sleep(jitteredBackoff(backoff, attempt - 1, cap));
          continue;
        }
        throw new IntegrationError(
          options.service,
          `${original.method} ${new URL(original.url).pathname}`,
          timedOut ? 'timeout' : 'network',
          timedOut
            ? `no answer within ${options.timeoutMs} ms (${attempt} attempt(s))`
            : `${(error as Error).message} (${attempt} attempt(s))`,
        );
      }
      if (!RETRYABLE(response.status) || attempt >= tries) return response;
      const asked = parseRetryAfter(response.headers.get('retry-after'));
      await response.body?.cancel();
      await sleep(asked !== undefined ? Math.min(asked, cap) : jitteredBackoff(backoff, attempt - 1, cap));
    }
  };
}

/**
 * Runs one typed call: a client span named `<service> <operationId>`, then the answer checked
 * against the contract — a non-2xx is an `IntegrationError('status')` with the server's detail,
 * a body that does not match is an `IntegrationError('contract')` naming the field.
 */
export async function callOperation<T>(
  options: BaseClientOptions,
  operationId: string,
  send: () => Promise<{ data?: T; error?: unknown; response: Response }>,
): Promise<T> {
  const operation = options.contract.operations.get(operationId);
  if (!operation) throw new Error(`${options.service}: the contract has no operation ${operationId}`);
  return options.tracer.startActiveSpan(
    `${options.service} ${operationId}`,
    {
      kind: SpanKind.CLIENT,
      attributes: {
        'myca.integration': options.service,
        'myca.integration.operation': operationId,
        'http.request.method': operation.method,
      },
    },
    async (span) => {
      try {
        const { data, error, response } = await send();
        span.setAttribute('http.response.status_code', response.status);
        if (!response.ok) {
          const detail = (error as { detail?: string; title?: string } | undefined)?.detail ?? (error as { title?: string })?.title;
          throw new IntegrationError(
            options.service,
            operationId,
            'status',
            `answered ${response.status}${detail ? `: ${detail}` : ''}`,
            response.status,
          );
        }
        const schema = operation.responses.get(response.status);
        if (schema) {
          const checked = schema.safeParse(data);
          if (!checked.success) {
            const issue = checked.error.issues[0];
            const field = issue?.path.join('.') || '(body)';
            throw new IntegrationError(
              options.service,
              operationId,
              'contract',
              `the answer does not match contract ${options.contract.version}: ${field}: ${issue?.message ?? 'invalid'}`,
              response.status,
              field,
            );
          }
        }
        return data as T;
      } catch (error) {
        span.setStatus({ code: SpanStatusCode.ERROR, message: (error as Error).message });
        if (error instanceof IntegrationError) {
          // Raised inside the fetch, which only knew the method and path: name the operation.
          if (error.operation === operationId) throw error;
          throw new IntegrationError(
            options.service,
            operationId,
            error.kind,
            error.message.slice(error.message.indexOf(': ') + 2),
            error.status,
            error.field,
          );
        }
        throw new IntegrationError(options.service, operationId, 'network', (error as Error).message);
      } finally {
        span.end();
      }
    },
  );
}
