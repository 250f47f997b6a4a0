import { type Counter, createNoopMeter, type Histogram, type Meter } from '@opentelemetry/api';

const LATENCY_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120];

/**
 * Every metric family MYCA Edge exports, with its labels. Label values must come from bounded sets
 * (configured model names, catalog action names, route patterns), never from user text.
 */
export const METRIC_FAMILIES = {
  httpRequests: { name: 'http_requests_total', type: 'counter', help: 'HTTP requests served', labels: ['method', 'route', 'status'] },
  httpRequestDuration: {
    name: 'http_request_duration_seconds',
    type: 'histogram',
    help: 'Duration of HTTP requests until the response starts',
    labels: ['method', 'route', 'status'],
  },
  llmCalls: {
    name: 'llm_calls_total',
    type: 'counter',
    help: 'LLM provider calls (one per attempt)',
    labels: ['provider', 'model', 'status'],
  },
  llmCallDuration: {
    name: 'llm_call_duration_seconds',
    type: 'histogram',
    help: 'Duration of LLM provider calls',
    labels: ['provider', 'model'],
  },
  llmTokens: {
    name: 'llm_tokens_total',
    type: 'counter',
    help: 'LLM tokens by type (prompt, completion)',
    labels: ['provider', 'model', 'type'],
  },
  llmTimeToFirstToken: {
    name: 'llm_time_to_first_token_seconds',
    type: 'histogram',
    help: 'Time from request to the first streamed chunk',
    labels: ['provider', 'model'],
  },
  llmCost: {
    name: 'llm_cost_usd_total',
    type: 'counter',
    help: 'Estimated LLM cost in USD from configured prices',
    labels: ['provider', 'model'],
  },
  toolExecutions: { name: 'tool_executions_total', type: 'counter', help: 'Action (tool) executions', labels: ['tool_name', 'status'] },
  toolDuration: { name: 'tool_duration_seconds', type: 'histogram', help: 'Duration of action (tool) executions', labels: ['tool_name'] },
  agentRuns: { name: 'agent_runs_total', type: 'counter', help: 'Agent runs by final status', labels: ['agent_name', 'status'] },
  agentRunDuration: { name: 'agent_run_duration_seconds', type: 'histogram', help: 'Duration of agent runs', labels: ['agent_name'] },
  actionAuditLogs: {
    name: 'action_audit_logs_total',
    type: 'counter',
    help: 'Audit records written by action type and status',
    labels: ['action_type', 'status'],
  },
  llmFallbacks: {
    name: 'llm_fallbacks_total',
    type: 'counter',
    help: 'Chat requests served only after an earlier attempt failed, by the model that served',
    labels: ['provider', 'model'],
  },
  approvalLatency: {
    name: 'action_approval_latency_seconds',
    type: 'histogram',
    help: 'Time from an action being held to its approval or rejection',
    labels: ['action_type', 'decision'],
  },
  actionsPending: { name: 'actions_pending', type: 'gauge', help: 'Actions waiting for an approver now', labels: [] },
} as const;

type Families = typeof METRIC_FAMILIES;
type Labels<K extends keyof Families> = Record<Families[K]['labels'][number], string>;

/** Families recorded through an instrument; gauges are observed at scrape time by the runtime that can. */
type InstrumentKey = { [K in keyof Families]: Families[K]['type'] extends 'gauge' ? never : K }[keyof Families];

/** Typed instruments: a label set that does not match the family is a compile error. */
export type Metrics = {
  [K in InstrumentKey]: Families[K]['type'] extends 'counter' ? Counter<Labels<K>> : Histogram<Labels<K>>;
};

/**
 * Creates the instruments on `meter`. On Node the meter feeds Prometheus; in workerd it is the no-op
 * meter (metrics state per isolate would be meaningless there).
 */
export function createMetrics(meter: Meter): Metrics {
  const out: Record<string, Counter | Histogram> = {};
  for (const [key, family] of Object.entries(METRIC_FAMILIES)) {
    if (family.type === 'gauge') continue;
    out[key] =
      family.type === 'counter'
        ? meter.createCounter(family.name, { description: family.help })
        : meter.createHistogram(family.name, {
            description: family.help,
            unit: 's',
            advice: { explicitBucketBoundaries: LATENCY_BUCKETS },
          });
  }
  return out as Metrics;
}

export const noopMetrics: Metrics = createMetrics(createNoopMeter());

/**
 * OpenTelemetry's Prometheus serializer leaves out a family until it has a data point; dashboards and
 * alerts want every family present from the start, so the missing ones get their HELP/TYPE lines.
 */
export function appendEmptyFamilies(text: string): string {
  const missing = Object.values(METRIC_FAMILIES).filter((family) => !text.includes(`# TYPE ${family.name} `));
  if (missing.length === 0) return text;
  const base = text.startsWith('# no registered metrics') ? '' : text;
  return (
    base +
    missing.map((family) => `# HELP ${family.name} ${family.help}\n# TYPE ${family.name} ${family.type}\n`).join('') +
    (base.endsWith('\n') || base === '' ? '' : '\n')
  );
}
