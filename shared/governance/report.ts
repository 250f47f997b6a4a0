/**
 * The spend report: llm_spend rows summed per group over a period. One definition for the API that
 * answers it (`GET /v1/spend`, functions/keys/spend.ts) and the page that draws it
 * (`/approvals/spend`, functions/approvals/). Sums are numbers: Postgres' bigint and numeric sums
 * are converted where they are read, never handed on as strings.
 */

/** What the rows can be grouped by. */
/** `kind`: chat (chat completions, Responses, agent runs' model calls) or embedding. */
export const SPEND_GROUPS = ['key', 'agent', 'model', 'day', 'kind'] as const;
export type SpendGroupBy = (typeof SPEND_GROUPS)[number];

/** The grouping and period of a report: [from, to). */
export interface SpendPeriod {
  group_by: SpendGroupBy;
  from: Date;
  to: Date;
}

/** One group of spend rows (a key, agent, model or day) over the period. */
export interface SpendGroup {
  group: string | null;
  /** The key's name (group_by key only). */
  name?: string | null;
  requests: number;
  errors: number;
  prompt_tokens: number;
  completion_tokens: number;
  cost_usd: number;
  unpriced_requests: number;
  avg_latency_ms: number;
}

/** The groups added up. */
export interface SpendTotals {
  requests: number;
  errors: number;
  prompt_tokens: number;
  completion_tokens: number;
  cost_usd: number;
}

export interface SpendReport {
  data: SpendGroup[];
  totals: SpendTotals;
}
