import {
  context,
  propagation,
  type Span,
  SpanKind,
  SpanStatusCode,
  type TextMapGetter,
  type TracerProvider,
  trace,
} from '@opentelemetry/api';
import {
  ATTR_HTTP_REQUEST_METHOD,
  ATTR_HTTP_RESPONSE_STATUS_CODE,
  ATTR_HTTP_ROUTE,
  ATTR_SERVICE_NAME,
  ATTR_SERVICE_VERSION,
  ATTR_URL_FULL,
} from '@opentelemetry/semantic-conventions';
import type { Context, HonoRequest, MiddlewareHandler } from 'hono';
import { routePath } from 'hono/route';
import type { Services } from '../services.js';
import { currentTraceparent, resolveCorrelation, traceparentOf, withCorrelation } from '../telemetry/correlation.js';
import { type BodyGuard, guardBody } from './body-guard.js';
import { problemResponse } from './errors.js';
import type { AppEnv } from './types.js';

/** Reads only the headers the propagator asks for (not the whole header list). */
const requestHeaders: TextMapGetter<HonoRequest> = { get: (request, key) => request.header(key), keys: () => [] };

export interface ObserveOptions {
  services: Services;
  /** Services for each request where the runtime demands it (workerd: a database client each). */
  perRequest?: (() => Services) | undefined;
  tracerProvider: TracerProvider;
  serviceName: string;
  serviceVersion: string;
  /** Each route's body limit, the routes that need a key and the process's budget of body bytes. */
  body?: BodyGuard | undefined;
}

/**
 * First middleware of every app, and the only one every request passes: it
 * - hands out the services and resolves the correlation id (= the trace id);
 * - runs the rest inside the server span `METHOD /route`, continuing the caller's `traceparent`, with
 *   the HTTP semantic-convention attributes computed only for a recording span (tracing off: one
 *   non-recording span and nothing else);
 * - stamps `x-correlation-id` and `traceparent` on the response, so a caller can find the trace of
 *   any answer it got;
 * - writes the one wide log line of the request and its two HTTP metrics;
 * - guards the body (`body`, see guardBody): over its route's limit, the request gets 413 before
 *   anything else runs, chunked or not; on a route that needs a key, no body is read before the key
 *   is checked (401); bodies held at once stay within the process's budget (503 beyond).
 * One middleware, not four: each Hono middleware layer costs about four promises a request, and with
 * Node 20's AsyncLocalStorage (the OpenTelemetry context) every promise runs a hook.
 */
export function observe(options: ObserveOptions): MiddlewareHandler<AppEnv> {
  const tracer = options.tracerProvider.getTracer('myca-edge-http', options.serviceVersion);
  return async function observeMiddleware(c, next) {
    const started = performance.now();
    const services = options.perRequest ? options.perRequest() : options.services;
    const found = resolveCorrelation({ traceparent: c.req.header('traceparent'), correlationId: c.req.header('x-correlation-id') });
    c.set('services', services);
    c.set('correlationId', found.id);
    c.set('logFields', {});
    c.set('logger', services.logger.child({ correlation_id: found.id }));

    const correlated = withCorrelation(context.active(), found);
    const parent = c.req.header('traceparent') ? propagation.extract(correlated, c.req, requestHeaders) : correlated;
    // A root span takes its trace id from the active context (CorrelationIdGenerator): start it there.
    const span = context.with(correlated, () => tracer.startSpan(c.req.method, { kind: SpanKind.SERVER }, parent));
    const recording = span.isRecording();
    if (recording)
      span.setAttributes({
        [ATTR_HTTP_REQUEST_METHOD]: c.req.method,
        [ATTR_SERVICE_NAME]: options.serviceName,
        [ATTR_SERVICE_VERSION]: options.serviceVersion,
        [ATTR_URL_FULL]: c.req.url,
      });
    // A span without a valid context (no tracer provider) still answers with one on the request's trace id.
    const traceparent = traceparentOf(span.spanContext(), found.sampled) ?? currentTraceparent(found.traceId);
    c.set('traceHeaders', traceparent ? { 'x-correlation-id': found.id, traceparent } : { 'x-correlation-id': found.id });
    let heldBytes = 0;
    let heldKeyless = false;
    try {
      const bounded = options.body
        ? guardBody(c, options.body, (bytes, keyless) => {
            heldBytes += bytes;
            heldKeyless = keyless;
          })
        : undefined;
      const refused = bounded instanceof Promise ? await bounded : bounded;
      if (refused) c.res = problemResponse(c, refused);
      else await context.with(trace.setSpan(parent, span), next);
      stamp(c);
      logRequest(c, started);
      if (recording) finishServerSpan(c, span, c.error);
    } catch (error) {
      if (recording) finishServerSpan(c, span, error);
      throw error;
    } finally {
      if (heldBytes) options.body?.budget?.give(heldBytes, heldKeyless);
      span.end();
    }
  };
}

/** The trace headers on a response that does not carry them yet (tracedResponse's already do). */
function stamp(c: Context<AppEnv>): void {
  if (c.res === c.get('tracedResponse')) return;
  // On the response's own headers, not through c.header(): after the handler, c.header() re-creates
  // the Response from its body, which costs a copy and takes @hono/node-server off its fast path.
  const headers = c.res.headers;
  for (const [name, value] of Object.entries(c.get('traceHeaders'))) headers.set(name, value);
}

function finishServerSpan(c: Context<AppEnv>, span: Span, error: unknown): void {
  const status = c.res.status;
  const route = routeLabel(c);
  span.updateName(`${c.req.method} ${route}`);
  span.setAttributes({ [ATTR_HTTP_RESPONSE_STATUS_CODE]: status, [ATTR_HTTP_ROUTE]: route });
  // A 4xx is the caller's mistake, not the server's: its status stays unset (HTTP semantic conventions).
  if (status >= 500) {
    if (error instanceof Error) span.recordException(error);
    span.setStatus({ code: SpanStatusCode.ERROR });
  }
}

/** One wide JSON log line per request and the request counter and duration. */
function logRequest(c: Context<AppEnv>, started: number): void {
  const services = c.get('services');
  const status = c.res.status;
  const route = routeLabel(c);
  const error = c.get('error');
  const seconds = (performance.now() - started) / 1000;
  const labels = { method: c.req.method, route, status: String(status) };
  services.metrics.httpRequests.add(1, labels);
  services.metrics.httpRequestDuration.record(seconds, labels);
  const fields = {
    method: c.req.method,
    route,
    path: c.req.path,
    status,
    duration_ms: Math.round(seconds * 100_000) / 100,
    ...c.get('logFields'),
    ...(error ? { error: { name: error.name, message: error.message, stack: error.stack } } : {}),
  };
  const log = c.get('logger');
  if (status >= 500) log.error('request', fields);
  else log.info('request', fields);
}

/**
 * A response built with plain-object headers that already carry the trace headers, for the hot
 * path (`POST /v1/chat/completions`): Hono's `c.json` with extra headers builds a `Headers` object,
 * and stamping afterwards reads `res.headers`; either way @hono/node-server then copies a `Headers`
 * back into a plain object. A plain object goes to `writeHead` as it is.
 *
 * @example
 * return tracedResponse(c, JSON.stringify(body), 200, { 'content-type': 'application/json' });
 */
export function tracedResponse(c: Context<AppEnv>, body: string, status: number, headers: Record<string, string>): Response {
  const response = new Response(body, { status, headers: { ...headers, ...c.get('traceHeaders') } });
  c.set('tracedResponse', response);
  return response;
}

/** The bounded route label of a finished request: its route pattern, or `unmatched`. */
export function routeLabel(c: Parameters<MiddlewareHandler<AppEnv>>[0]): string {
  const path = routePath(c);
  return path === '' || path === '*' || path === '/*' ? 'unmatched' : path;
}
