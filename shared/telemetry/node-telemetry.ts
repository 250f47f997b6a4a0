import { context, propagation, type TracerProvider } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { PrometheusExporter, PrometheusSerializer } from '@opentelemetry/exporter-prometheus';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { MeterProvider } from '@opentelemetry/sdk-metrics';
import { AlwaysOffSampler, BatchSpanProcessor, type SpanExporter, type SpanProcessor } from '@opentelemetry/sdk-trace-base';
import { NodeTracerProvider } from '@opentelemetry/sdk-trace-node';
import { ATTR_SERVICE_NAME, ATTR_SERVICE_VERSION } from '@opentelemetry/semantic-conventions';
import { CorrelationIdGenerator } from './correlation.js';
import { appendEmptyFamilies, createMetrics, type Metrics } from './metrics.js';
import { RedactingSpanProcessor } from './redacting-processor.js';

export interface NodeTelemetryOptions {
  serviceName: string;
  version: string;
  /** OTLP/HTTP base endpoint (`…:4318`); traces go to `<endpoint>/v1/traces`. Unset: not exported. */
  otlpEndpoint?: string | undefined;
  /** Extra span processors (tests add an in-memory one). */
  spanProcessors?: SpanProcessor[];
  spanExporter?: SpanExporter;
}

export interface NodeTelemetry {
  tracerProvider: TracerProvider;
  meterProvider: MeterProvider;
  metrics: Metrics;
  /** The Prometheus text exposition of every metric family. */
  renderMetrics(): Promise<string>;
  shutdown(): Promise<void>;
}

let contextInstalled = false;

/** The async context and W3C propagation are process-wide; install them once. */
export function installNodeContext(): void {
  if (contextInstalled) return;
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  propagation.setGlobalPropagator(new W3CTraceContextPropagator());
  contextInstalled = true;
}

/**
 * Tracing and metrics for the Node server. Providers are handed to the app explicitly (not only set
 * globally), so several apps in one test process each see their own spans and metrics.
 */
export function createNodeTelemetry(options: NodeTelemetryOptions): NodeTelemetry {
  installNodeContext();
  const resource = resourceFromAttributes({ [ATTR_SERVICE_NAME]: options.serviceName, [ATTR_SERVICE_VERSION]: options.version });
  // The redactor first: every processor after it (and every exporter) sees clean spans.
  const spanProcessors: SpanProcessor[] = [new RedactingSpanProcessor(), ...(options.spanProcessors ?? [])];
  const exporter =
    options.spanExporter ??
    (options.otlpEndpoint ? new OTLPTraceExporter({ url: `${options.otlpEndpoint.replace(/\/+$/, '')}/v1/traces` }) : undefined);
  if (exporter) spanProcessors.push(new BatchSpanProcessor(exporter));
  // Nothing would receive them: spans are not recorded (they still carry ids, so correlation ids,
  // traceparent headers and outbound propagation work the same).
  const recording = Boolean(exporter) || (options.spanProcessors?.length ?? 0) > 0;
  const tracerProvider = new NodeTracerProvider({
    resource,
    spanProcessors,
    idGenerator: new CorrelationIdGenerator(),
    ...(recording ? {} : { sampler: new AlwaysOffSampler() }),
  });

  const prometheus = new PrometheusExporter({ preventServerStart: true });
  const meterProvider = new MeterProvider({ resource, readers: [prometheus] });
  const metrics = createMetrics(meterProvider.getMeter('myca-edge', options.version), { countInPlace: true });
  // No scope label and no target_info: every series stays as the dashboards name it.
  const serializer = new PrometheusSerializer('', false, undefined, true, true);

  return {
    tracerProvider,
    meterProvider,
    metrics,
    renderMetrics: async () => {
      const { resourceMetrics } = await prometheus.collect();
      return appendEmptyFamilies(serializer.serialize(resourceMetrics));
    },
    shutdown: async () => {
      await Promise.allSettled([tracerProvider.shutdown(), meterProvider.shutdown()]);
    },
  };
}
