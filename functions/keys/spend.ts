import type { Context } from 'hono';
import type { Sql } from 'postgres';
import { z } from 'zod';
import {
  SPEND_GROUPS,
  type SpendGroup,
  type SpendGroupBy,
  type SpendPeriod,
  type SpendReport,
  type SpendTotals,
} from '../../shared/governance/report.js';
import { spendWriter } from '../../shared/governance/spend.js';
import { ApiError } from '../../shared/http/errors.js';
import type { AppEnv } from '../../shared/http/types.js';
import { readQuery } from '../../shared/http/validate.js';

const DAY_MS = 86_400_000;
const MAX_RANGE_DAYS = 400;

const instant = z.iso
  .datetime({ offset: true, error: 'an ISO 8601 date-time, e.g. 2026-11-01T00:00:00Z' })
  .or(z.iso.date({ error: 'a date-time or a date (YYYY-MM-DD)' }));

export const SpendQuerySchema = z
  .object({
    group_by: z.enum(SPEND_GROUPS).default('key'),
    from: instant.optional(),
    to: instant.optional(),
  })
  .transform((query) => {
    const to = query.to ? new Date(query.to) : new Date();
    const from = query.from ? new Date(query.from) : new Date(to.getTime() - 30 * DAY_MS);
    return { group_by: query.group_by, from, to };
  })
  .refine((query) => query.from < query.to, { message: 'from must be before to', path: ['from'] })
  .refine((query) => query.to.getTime() - query.from.getTime() <= MAX_RANGE_DAYS * DAY_MS, {
    message: `at most ${MAX_RANGE_DAYS} days at once`,
    path: ['from'],
  });

/** Fixed expressions only: the group is chosen from this map, never built from the query. */
const GROUPS: Record<SpendGroupBy, string> = {
  key: 'key_id',
  agent: 'agent',
  model: "case when model is null then null else provider || '/' || model end",
  day: "to_char(at at time zone 'UTC', 'YYYY-MM-DD')",
  kind: 'kind',
};

/** A group as Postgres answers it: bigint and numeric sums come as text. */
interface GroupRow {
  group: string | null;
  requests: number;
  errors: number;
  prompt_tokens: string;
  completion_tokens: string;
  cost_usd: string | null;
  unpriced: number;
  avg_latency_ms: number;
}

/**
 * The llm_spend rows of [from, to) summed per group, largest cost first (days in order), with
 * totals. Used by `GET /v1/spend` and (through the composition root) the approvals spend page.
 */
export async function querySpend(sql: Sql, query: SpendPeriod): Promise<SpendReport> {
  const group = sql.unsafe(GROUPS[query.group_by]);
  const rows = await sql<GroupRow[]>`
    select ${group} as group,
      count(*)::int as requests,
      count(*) filter (where status <> 'ok')::int as errors,
      sum(prompt_tokens)::text as prompt_tokens,
      sum(completion_tokens)::text as completion_tokens,
      sum(cost_usd)::text as cost_usd,
      count(*) filter (where cost_usd is null and status = 'ok')::int as unpriced,
      round(avg(latency_ms))::int as avg_latency_ms
    from llm_spend
    where at >= ${query.from} and at < ${query.to}
    group by 1
    order by ${query.group_by === 'day' ? sql`1` : sql`sum(cost_usd) desc nulls last, 2 desc`}`;
  const ids = rows.flatMap((row) => (row.group?.startsWith('vk_') ? [row.group] : []));
  const names =
    query.group_by === 'key'
      ? new Map(
          ids.length === 0
            ? []
            : (await sql<Array<{ id: string; name: string }>>`select id, name from virtual_keys where id in ${sql(ids)}`).map((row) => [
                row.id,
                row.name,
              ]),
        )
      : undefined;
  const data: SpendGroup[] = rows.map((row) => ({
    group: row.group,
    ...(names ? { name: names.get(row.group ?? '') ?? row.group } : {}),
    requests: row.requests,
    errors: row.errors,
    prompt_tokens: Number(row.prompt_tokens ?? 0),
    completion_tokens: Number(row.completion_tokens ?? 0),
    cost_usd: Number(row.cost_usd ?? 0),
    unpriced_requests: row.unpriced,
    avg_latency_ms: row.avg_latency_ms,
  }));
  const sum = (pick: (row: SpendGroup) => number) => data.reduce((total, row) => total + pick(row), 0);
  const totals: SpendTotals = {
    requests: sum((row) => row.requests),
    errors: sum((row) => row.errors),
    prompt_tokens: sum((row) => row.prompt_tokens),
    completion_tokens: sum((row) => row.completion_tokens),
    cost_usd: Number(sum((row) => row.cost_usd).toFixed(9)),
  };
  return { data, totals };
}

/**
 * `GET /v1/spend?group_by=key|agent|model|day|kind&from&to` (admins): the llm_spend rows of [from, to)
 * summed per group, largest cost first (days in order), with totals — what a spend page draws.
 */
export async function serveSpend(c: Context<AppEnv>): Promise<Response> {
  const services = c.get('services');
  const query = readQuery(c, SpendQuerySchema);
  if (!services.db) throw new ApiError('UNAVAILABLE', { detail: 'Spend rows need a database', hint: 'set DATABASE_URL' });
  const { data, totals } = await querySpend(services.db.sql, query);
  return c.json({
    object: 'spend',
    group_by: query.group_by,
    from: query.from.toISOString(),
    to: query.to.toISOString(),
    currency: 'USD',
    totals,
    data,
    // Rows this instance has not written yet (batched off the request path): the sums may lag by them.
    unwritten_rows: spendWriter(services).pending(),
  });
}
