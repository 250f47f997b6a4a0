import type { Context } from '@opentelemetry/api';
import type { ReadableSpan, Span, SpanProcessor } from '@opentelemetry/sdk-trace-base';
import { isSecretKey, REDACTED, redactString } from '../redact/index.js';

type Attributes = Record<string, unknown>;

function scrub(attributes: Attributes | undefined): void {
  if (!attributes) return;
  for (const [key, value] of Object.entries(attributes)) {
    if (typeof value === 'string') attributes[key] = isSecretKey(key.split('.').at(-1) ?? key) ? REDACTED : redactString(value);
  }
}

/**
 * The redactor for traces: runs first among the span processors, so what exporters see is already
 * clean. Instrumentation sets attributes we do not write ourselves (`url.full` with its query string,
 * exception messages and stack traces), and a key in a query string must not reach the trace store.
 */
export class RedactingSpanProcessor implements SpanProcessor {
  onStart(span: Span, _context: Context): void {
    scrub(span.attributes as Attributes);
  }
  onEnd(span: ReadableSpan): void {
    scrub(span.attributes as Attributes);
    for (const event of span.events) scrub(event.attributes as Attributes | undefined);
    const status = span.status as { message?: string };
    if (status.message) status.message = redactString(status.message);
  }
  forceFlush(): Promise<void> {
    return Promise.resolve();
  }
  shutdown(): Promise<void> {
    return Promise.resolve();
  }
}
