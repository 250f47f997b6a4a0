import { type Context, context, type Link, trace } from '@opentelemetry/api';
import { redact } from '../../shared/redact/index.js';
import type { Services } from '../../shared/services.js';
import { randomHex, withCorrelation } from '../../shared/telemetry/correlation.js';
import type { ChatMessage } from './model.js';
import type { RunRow } from './store.js';

/**
 * How long one holder may keep a run before another instance may take it over: a whole model call
 * (the chat deadline) plus the longest action. A crashed instance's run is resumed after this.
 */
export const leaseMsFor = (services: Services) => services.config.llm.routing.deadline_ms + 70_000;

/** The run's lease went to someone else (it expired mid-step): stop without writing anything. */
export class LeaseLost extends Error {}

/**
 * The context a run's work happens in: the run's correlation id (actions, log lines, outbound
 * headers carry it), and its spans in the run's trace. Inside the request that started the run
 * they are children of its span; resumed from elsewhere they start a new root in the run's trace,
 * linked to the span of whatever resumed it.
 */
export function runContext(run: RunRow): { ctx: Context; links: Link[] } {
  const active = trace.getSpanContext(context.active());
  const traceId = /^[0-9a-f]{32}$/.test(run.correlation_id) ? run.correlation_id : undefined;
  if (active && traceId && active.traceId === traceId) {
    return { ctx: withCorrelation(context.active(), { id: run.correlation_id, traceId, continued: true }), links: [] };
  }
  const base = trace.deleteSpan(context.active());
  return {
    ctx: withCorrelation(base, { id: run.correlation_id, traceId: traceId ?? randomHex(16), continued: false }),
    links: active ? [{ context: active, attributes: { 'myca.link': 'resumed_by' } }] : [],
  };
}

/** A tool result as the model reads it: compact JSON, secrets already masked. */
export const toolMessage = (toolCallId: string, result: Record<string, unknown>): ChatMessage => ({
  role: 'tool',
  tool_call_id: toolCallId,
  content: JSON.stringify(redact(result)),
});

export const addUsage = (
  a: RunRow['usage'],
  b: { prompt_tokens?: number; completion_tokens?: number; total_tokens?: number } | undefined,
) => ({
  prompt_tokens: a.prompt_tokens + (b?.prompt_tokens ?? 0),
  completion_tokens: a.completion_tokens + (b?.completion_tokens ?? 0),
  total_tokens: a.total_tokens + (b?.total_tokens ?? 0),
});

export const preview = (text: string | null | undefined, max = 2000) =>
  text && text.length > max ? `${text.slice(0, max)}…` : (text ?? '');
