import { type Span, SpanKind, SpanStatusCode, type Tracer } from '@opentelemetry/api';
import type { ModelsConfig } from '../../shared/config/index.js';
import { redactString } from '../../shared/redact/index.js';
import type { Metrics } from '../../shared/telemetry/metrics.js';
import type { AttemptRecord } from './attempts.js';
import type { Usage } from './contract.js';
import type { Attempt } from './plan.js';

const configuredModels = new WeakMap<ModelsConfig, Set<string>>();
/** Model label values come only from configuration (tasks and their deployments); anything else is `other` (bounded cardinality). */
export function modelLabel(config: ModelsConfig, model: string): string {
  let names = configuredModels.get(config);
  if (!names) {
    names = new Set(Object.values(config.models).flatMap((entry) => [entry.model, ...(entry.deployments ?? []).map((d) => d.model)]));
    configuredModels.set(config, names);
  }
  return names.has(model) ? model : 'other';
}

export function providerLabel(config: ModelsConfig, provider: string): string {
  return Object.hasOwn(config.providers, provider) ? provider : 'other';
}

/** USD for this usage at the model's configured price, or undefined without a price. */
export function costOf(attempt: Attempt, usage: Usage | undefined): number | undefined {
  if (!attempt.config.cost || !usage) return undefined;
  return (usage.prompt_tokens * attempt.config.cost.input + usage.completion_tokens * attempt.config.cost.output) / 1_000_000;
}

/** OpenTelemetry's gen_ai.system value per provider type (OpenAI-compatible servers speak as `openai`). */
const GEN_AI_SYSTEM: Record<string, string> = { gemini: 'gcp.gemini', azure: 'az.ai.openai', anthropic: 'anthropic' };

/** A span per attempt with the OpenTelemetry GenAI attributes. No prompt text. */
export function startAttemptSpan(
  tracer: Tracer,
  attempt: Attempt,
  operation: 'chat' | 'embeddings',
  providerType: string,
  request?: { temperature?: number | null; max_tokens?: number | null },
): Span {
  const span = tracer.startSpan(`${operation} ${attempt.model}`, { kind: SpanKind.CLIENT });
  // Attributes only for a span that records them (none when tracing is off).
  if (span.isRecording())
    span.setAttributes({
      'gen_ai.operation.name': operation,
      'gen_ai.system': GEN_AI_SYSTEM[providerType] ?? 'openai',
      'gen_ai.request.model': attempt.model,
      'myca.attempt.label': attempt.label,
      'myca.provider': attempt.provider,
      ...(request?.temperature != null ? { 'gen_ai.request.temperature': request.temperature } : {}),
      ...(request?.max_tokens != null ? { 'gen_ai.request.max_tokens': request.max_tokens } : {}),
    });
  return span;
}

export function endAttemptSpan(span: Span, record: AttemptRecord, usage?: Usage, responseModel?: string): void {
  if (usage) {
    span.setAttribute('gen_ai.usage.input_tokens', usage.prompt_tokens);
    span.setAttribute('gen_ai.usage.output_tokens', usage.completion_tokens);
  }
  if (responseModel) span.setAttribute('gen_ai.response.model', responseModel);
  span.setAttribute('myca.attempt.status', String(record.status));
  // Provider messages can quote keys ("Incorrect API key provided: sk-…"): spans get them redacted.
  if (record.status !== 'ok') span.setStatus({ code: SpanStatusCode.ERROR, message: redactString(record.error ?? String(record.status)) });
  span.end();
}

/** Records one finished provider call. */
export function recordCall(metrics: Metrics, config: ModelsConfig, attempt: Attempt, record: AttemptRecord): void {
  const labels = { provider: providerLabel(config, attempt.provider), model: modelLabel(config, attempt.model) };
  metrics.llmCalls.add(1, { ...labels, status: record.status === 'ok' ? 'success' : String(record.status) });
  // A skipped attempt (open breaker) made no call: it has no duration.
  if (record.status !== 'breaker_open') metrics.llmCallDuration.record(record.duration_ms / 1000, labels);
}

/** Tokens and cost of one answered call; `key` is the caller's bounded key label (shared/governance/labels.ts). */
export function recordUsage(
  metrics: Metrics,
  config: ModelsConfig,
  attempt: Attempt,
  usage: Usage | undefined,
  key: string,
): number | undefined {
  if (!usage) return undefined;
  const labels = { provider: providerLabel(config, attempt.provider), model: modelLabel(config, attempt.model), key };
  metrics.llmTokens.add(usage.prompt_tokens, { ...labels, type: 'prompt' });
  metrics.llmTokens.add(usage.completion_tokens, { ...labels, type: 'completion' });
  const cost = costOf(attempt, usage);
  if (cost !== undefined) metrics.llmCost.add(cost, labels);
  return cost;
}
