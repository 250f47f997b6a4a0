import type { ActionRow } from '../../actions/index.js';

export type { ActionRow };

export interface InboxRow extends ActionRow {
  run_status: string | null;
}

export interface AuditEventRow {
  seq: string;
  event: string;
  actor: string;
  data: Record<string, unknown>;
  created_at: Date;
}

export interface RunContext {
  id: string;
  agent_name: string;
  status: string;
  input: string;
  step: number;
}

export interface RunRowView {
  id: string;
  agent_name: string;
  status: string;
  requested_by: string;
  input: string;
  step: number;
  pending: Array<{ action_id: string; type: string }>;
  output: string | null;
  error: string | null;
  created_at: Date;
  updated_at: Date;
}

export interface RunEventView {
  seq: number;
  type: string;
  data: Record<string, unknown>;
  created_at: Date;
}

/** One group of spend rows (a key, agent, model or day) over the chosen period. */
export interface SpendGroupView {
  group: string | null;
  /** The key's name, when grouped by key. */
  name?: string | null;
  requests: number;
  errors: number;
  prompt_tokens: number;
  completion_tokens: number;
  cost_usd: number;
  unpriced_requests: number;
  avg_latency_ms: number;
}

export interface SpendTotalsView {
  requests: number;
  errors: number;
  prompt_tokens: number;
  completion_tokens: number;
  cost_usd: number;
}

export type SpendGroupBy = 'key' | 'agent' | 'model' | 'day';

/** The period and grouping a spend page shows; `to` is exclusive, `last` the last day shown. */
export interface SpendPeriod {
  group_by: SpendGroupBy;
  from: Date;
  to: Date;
}

/** A key's limits and what it used in its current windows (never its secret or digest). */
export interface KeyLimitView {
  id: string;
  name: string;
  role: string;
  source: 'data' | 'config';
  /** The requests per minute that apply: the key's own, else LLM_RATE_LIMIT_RPM (0: none). */
  rpm: number | null;
  /** The key sets no RPM of its own (LLM_RATE_LIMIT_RPM applies; to configured keys as the shared limit). */
  rpm_default: boolean;
  tpm: number | null;
  budget_usd: number | null;
  budget_period: 'day' | 'month' | null;
  /** null: the key-value store could not be read. */
  usage: {
    requests_this_minute: number;
    tokens_this_minute: number;
    budget_used_usd: number | null;
    budget_resets_at: string | null;
  } | null;
}
