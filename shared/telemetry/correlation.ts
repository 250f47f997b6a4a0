import { type Context, context, createContextKey, isSpanContextValid, propagation, type SpanContext, trace } from '@opentelemetry/api';
import type { IdGenerator } from '@opentelemetry/sdk-trace-base';

/**
 * The correlation id rides in the OpenTelemetry context, so that everything running inside a request
 * (outbound fetch, spans, audit writes) can find it without being handed it.
 */
const CORRELATION_KEY = createContextKey('myca.correlation_id');
const TRACE_ID_KEY = createContextKey('myca.trace_id');

const HEX32 = /^[0-9a-f]{32}$/;
const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;
const ZERO_TRACE = '0'.repeat(32);

/** The parts of a W3C `traceparent` (version 00), as written; undefined when it is not one. */
export function parseTraceparent(text: string | null | undefined): { traceId: string; spanId: string; flags: number } | undefined {
  const match = TRACEPARENT.exec(text ?? '');
  if (!match?.[1] || !match[2] || !match[3]) return undefined;
  return { traceId: match[1], spanId: match[2], flags: Number.parseInt(match[3], 16) };
}

const HEX = Array.from({ length: 256 }, (_, byte) => byte.toString(16).padStart(2, '0'));
const POOL_SIZE = 4096;
let pool = new Uint8Array(0);
let offset = POOL_SIZE;

/**
 * Cryptographically random hex. Ids are made several times per request (trace, spans, keys), so
 * random bytes are drawn from the CSPRNG 4 KiB at a time instead of one call per id.
 */
export function randomHex(bytes: number): string {
  if (bytes > POOL_SIZE) throw new RangeError('randomHex draws at most 4096 bytes');
  if (offset + bytes > pool.length) {
    pool = crypto.getRandomValues(new Uint8Array(POOL_SIZE));
    offset = 0;
  }
  let out = '';
  for (let i = offset; i < offset + bytes; i++) out += HEX[pool[i] as number];
  offset += bytes;
  return out;
}

export interface Correlation {
  /** Returned in `x-correlation-id` and carried by every log line and audit row. */
  id: string;
  /** The W3C trace id this request's spans use. Equal to `id` unless the caller sent a non-hex id. */
  traceId: string;
  /** True when a valid `traceparent` came in (the server span continues that trace). */
  continued: boolean;
  /** The caller's sampled flag, when a `traceparent` came in: answered as sent. */
  sampled?: boolean;
}

/**
 * The W3C trace id when a `traceparent` arrives, else `x-correlation-id`, kept as sent (a UUID or
 * 32-hex id also gives the trace id: its hex digits, lower case; any other safe string gets a trace
 * id of its own), else a new trace id.
 */
export function resolveCorrelation(headers: { traceparent?: string | undefined; correlationId?: string | undefined }): Correlation {
  const parent = parseTraceparent(headers.traceparent?.trim().toLowerCase());
  if (parent && parent.traceId !== ZERO_TRACE && parent.spanId !== '0000000000000000') {
    return { id: parent.traceId, traceId: parent.traceId, continued: true, sampled: (parent.flags & 1) === 1 };
  }
  const given = headers.correlationId?.trim();
  if (given) {
    const compact = given.toLowerCase().replaceAll('-', '');
    if (HEX32.test(compact) && compact !== ZERO_TRACE && /^[0-9A-Fa-f-]{32,36}$/.test(given))
      return { id: given, traceId: compact, continued: false };
    if (/^[A-Za-z0-9._:-]{1,128}$/.test(given)) return { id: given, traceId: randomHex(16), continued: false };
  }
  const fresh = randomHex(16);
  return { id: fresh, traceId: fresh, continued: false };
}

/** A context carrying the request's correlation (and the trace id new root spans must take). */
export function withCorrelation(parent: Context, correlation: Correlation): Context {
  return parent.setValue(CORRELATION_KEY, correlation.id).setValue(TRACE_ID_KEY, correlation.traceId);
}

export function activeCorrelationId(): string | undefined {
  return context.active().getValue(CORRELATION_KEY) as string | undefined;
}

/**
 * Lets a root server span take the trace id chosen from the request, so that the correlation id
 * the caller sees is the trace id they find in Grafana.
 */
export class CorrelationIdGenerator implements IdGenerator {
  generateTraceId(): string {
    const wanted = context.active().getValue(TRACE_ID_KEY);
    return typeof wanted === 'string' ? wanted : randomHex(16);
  }
  generateSpanId(): string {
    return randomHex(8);
  }
}

/**
 * `traceparent` of a span, or undefined for an invalid span context. `sampled` is the caller's flag
 * when it sent one: answered as sent, even where this server records nothing (tracing off on Node
 * makes every span unsampled, which would have told the caller its trace was dropped).
 */
export function traceparentOf(spanContext: SpanContext, sampled?: boolean): string | undefined {
  if (!isSpanContextValid(spanContext)) return undefined;
  const flag = sampled === undefined ? spanContext.traceFlags & 1 : Number(sampled);
  return `00-${spanContext.traceId}-${spanContext.spanId}-0${flag}`;
}

/** `traceparent` for the active span, or a synthetic one on the correlation's trace id. */
export function currentTraceparent(fallbackTraceId?: string): string | undefined {
  const spanContext = trace.getActiveSpan()?.spanContext();
  const own = spanContext && traceparentOf(spanContext);
  if (own) return own;
  const traceId = fallbackTraceId ?? (context.active().getValue(TRACE_ID_KEY) as string | undefined);
  return traceId ? `00-${traceId}-${randomHex(8)}-01` : undefined;
}

/** `traceparent` (+ `tracestate`) and `x-correlation-id` of the request this code runs in. */
export function correlationHeaders(): Record<string, string> {
  const correlationId = activeCorrelationId();
  if (!correlationId) return {};
  const carrier: Record<string, string> = {};
  propagation.inject(context.active(), carrier);
  const traceparent = carrier.traceparent ?? currentTraceparent();
  return { ...carrier, ...(traceparent ? { traceparent } : {}), 'x-correlation-id': correlationId };
}

/**
 * Wraps a fetch so every outbound call carries `traceparent` and `x-correlation-id` of the request
 * it runs in. Headers the caller set win.
 */
export function createCorrelatedFetch(base: typeof fetch): typeof fetch {
  const correlatedFetch = (input: RequestInfo | URL, init?: RequestInit): Promise<Response> => {
    const extra = correlationHeaders();
    if (!extra['x-correlation-id']) return base(input, init);
    const headers = new Headers(init?.headers ?? (input instanceof Request ? input.headers : undefined));
    for (const [name, value] of Object.entries(extra)) if (!headers.has(name)) headers.set(name, value);
    return base(input, { ...init, headers });
  };
  return correlatedFetch as typeof fetch;
}
