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
import { currentTraceparent, resolveCorrelation, withCorrelation } from '../telemetry/correlation.js';
import type { AppEnv } from './types.js';

/**
 * First middleware of every app: hands out the services (the same object, or one per request where
 * the runtime demands it), resolves the correlation id and runs the
 * rest of the request inside an OpenTelemetry context that carries it.
 */
export function correlation(base: Services, perRequest?: () => Services): MiddlewareHandler<AppEnv> {
  return async function correlationMiddleware(c, next) {
    const services = perRequest ? perRequest() : base;
    const found = resolveCorrelation({ traceparent: c.req.header('traceparent'), correlationId: c.req.header('x-correlation-id') });
    c.set('services', services);
    c.set('correlationId', found.id);
    c.set('logFields', {});
    c.set('logger', services.logger.child({ correlation_id: found.id }));
    await context.with(withCorrelation(context.active(), found), next);
  };
}

/** Reads only the headers the propagator asks for (not the whole header list). */
const requestHeaders: TextMapGetter<HonoRequest> = { get: (request, key) => request.header(key), keys: () => [] };

/**
 * The server span of every request: `METHOD /route`, continuing the caller's `traceparent`, with the
 * HTTP semantic-convention attributes. Attributes are only computed for a recording span, so that
 * with tracing off (no exporter: an AlwaysOff sampler) a request pays for one non-recording span and
 * nothing else. Replaces @hono/otel's middleware, which built the full header list and the URL on
 * every request whether or not anything was recorded (~0.1 ms CPU a request in bench:chat).
 */
export function serverSpan(options: {
  tracerProvider: TracerProvider;
  serviceName: string;
  serviceVersion: string;
}): MiddlewareHandler<AppEnv> {
  const tracer = options.tracerProvider.getTracer('myca-edge-http', options.serviceVersion);
  return async function serverSpanMiddleware(c, next) {
    const active = context.active();
    const parent = c.req.header('traceparent') ? propagation.extract(active, c.req, requestHeaders) : active;
    const span = tracer.startSpan(c.req.method, { kind: SpanKind.SERVER }, parent);
    const recording = span.isRecording();
    if (recording)
      span.setAttributes({
        [ATTR_HTTP_REQUEST_METHOD]: c.req.method,
        [ATTR_SERVICE_NAME]: options.serviceName,
        [ATTR_SERVICE_VERSION]: options.serviceVersion,
        [ATTR_URL_FULL]: c.req.url,
      });
    try {
      await context.with(trace.setSpan(parent, span), next);
      if (recording) finishServerSpan(c, span, c.error);
    } catch (error) {
      if (recording) finishServerSpan(c, span, error);
      throw error;
    } finally {
      span.end();
    }
  };
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

/**
 * Runs inside the server span: stamps `x-correlation-id` and `traceparent` on the response, so a
 * caller can find the trace of any answer it got.
 */
export function stampTrace(): MiddlewareHandler<AppEnv> {
  return async function stampTraceMiddleware(c, next) {
    const traceparent = currentTraceparent();
    const correlationId = c.get('correlationId');
    c.set('traceHeaders', traceparent ? { 'x-correlation-id': correlationId, traceparent } : { 'x-correlation-id': correlationId });
    await next();
    // Built by tracedResponse with these headers already.
    if (c.res === c.get('tracedResponse')) return;
    // On the response's own headers, not through c.header(): after the handler, c.header() re-creates
    // the Response from its body, which costs a copy and takes @hono/node-server off its fast path.
    const headers = c.res.headers;
    headers.set('x-correlation-id', correlationId);
    if (traceparent) headers.set('traceparent', traceparent);
  };
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

/** One wide JSON log line per request and the request counter. */
export function requestLog(): MiddlewareHandler<AppEnv> {
  return async function requestLogMiddleware(c, next) {
    const started = performance.now();
    await next();
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
  };
}
