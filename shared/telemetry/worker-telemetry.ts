import { context, propagation, type TracerProvider } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BasicTracerProvider, BatchSpanProcessor, type SpanProcessor } from '@opentelemetry/sdk-trace-base';
import { ATTR_SERVICE_NAME, ATTR_SERVICE_VERSION } from '@opentelemetry/semantic-conventions';
import { CorrelationIdGenerator } from './correlation.js';
import { RedactingSpanProcessor } from './redacting-processor.js';

export interface WorkerTelemetry {
  tracerProvider: TracerProvider;
  /** Exports buffered spans; pass to `ctx.waitUntil` so the isolate outlives the export. */
  flush(): Promise<void>;
}

let installed = false;

/**
 * Tracing in workerd: a plain tracer provider (OTLP/HTTP over fetch when an endpoint is set) and an
 * AsyncLocalStorage context (nodejs_compat). Metrics are not kept here: their state would be per
 * isolate, so Prometheus belongs to the Node server.
 */
export function createWorkerTelemetry(options: {
  serviceName: string;
  version: string;
  otlpEndpoint?: string | undefined;
}): WorkerTelemetry {
  if (!installed) {
    context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
    propagation.setGlobalPropagator(new W3CTraceContextPropagator());
    installed = true;
  }
  const spanProcessors: SpanProcessor[] = options.otlpEndpoint
    ? [
        new RedactingSpanProcessor(),
        new BatchSpanProcessor(new OTLPTraceExporter({ url: `${options.otlpEndpoint.replace(/\/+$/, '')}/v1/traces` })),
      ]
    : [];
  const tracerProvider = new BasicTracerProvider({
    resource: resourceFromAttributes({ [ATTR_SERVICE_NAME]: options.serviceName, [ATTR_SERVICE_VERSION]: options.version }),
    spanProcessors,
    idGenerator: new CorrelationIdGenerator(),
  });
  return { tracerProvider, flush: () => tracerProvider.forceFlush() };
}
