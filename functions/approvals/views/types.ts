import type { ActionRow, ReviewFacts } from '../../actions/index.js';

/** The spend report's rows, as GET /v1/spend answers them (one definition, in shared/governance). */
export type { SpendGroup, SpendGroupBy, SpendPeriod, SpendReport, SpendTotals } from '../../../shared/governance/report.js';
export type { ActionRow, ReviewFacts };

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
