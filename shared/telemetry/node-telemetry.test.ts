import { isSpanContextValid } from '@opentelemetry/api';
import { InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { describe, expect, it } from 'vitest';
import { createNodeTelemetry } from './node-telemetry.js';

describe('Node telemetry', () => {
  it('does not record spans nobody receives, but still gives them ids (correlation, traceparent)', async () => {
    const idle = createNodeTelemetry({ serviceName: 's', version: 'v' });
    const span = idle.tracerProvider.getTracer('t').startSpan('x');
    expect(span.isRecording()).toBe(false);
    expect(isSpanContextValid(span.spanContext())).toBe(true);
    span.end();
    await idle.shutdown();

    const spans = new InMemorySpanExporter();
    const exporting = createNodeTelemetry({ serviceName: 's', version: 'v', spanProcessors: [new SimpleSpanProcessor(spans)] });
    const recorded = exporting.tracerProvider.getTracer('t').startSpan('y');
    expect(recorded.isRecording()).toBe(true);
    recorded.end();
    expect(spans.getFinishedSpans().map((s) => s.name)).toEqual(['y']);
    await exporting.shutdown();
  });
});
