import { Hono } from 'hono';
import type { Sql } from 'postgres';
import { z } from 'zod';
import { configPolicy } from '../../shared/governance/directory.js';
import { type KeyPolicy, listKeys, policyOfRow } from '../../shared/governance/keys.js';
import { readUsage } from '../../shared/governance/limits.js';
import { SPEND_GROUPS } from '../../shared/governance/report.js';
import type { AppEnv } from '../../shared/http/types.js';
import type { Services } from '../../shared/services.js';
import { requireDb } from '../actions/index.js';
import { page } from './layout.js';
import { type KeyLimitView, SpendPage, type SpendPeriod, type SpendReport } from './views/index.js';

/**
 * The spend report the page draws: keys' `querySpend` (functions/keys/spend.ts), handed in by the
 * composition root (functions/app.ts) so that this capability imports no other.
 */
export type SpendQuery = (sql: Sql, query: SpendPeriod) => Promise<SpendReport>;

const DAY_MS = 86_400_000;
/** The longest period one page shows. */
export const MAX_SPEND_DAYS = 366;
/** The period shown when none is chosen: the last 7 days (today included). */
export const DEFAULT_SPEND_DAYS = 7;

const day = z.iso.date({ error: 'a date (YYYY-MM-DD)' });
const instant = z.iso.datetime({ offset: true, error: 'a date (YYYY-MM-DD) or an ISO 8601 date-time' }).or(day);
/** A date alone is a whole UTC day: `from` its start, `to` its end (so a period includes its last day). */
const startOf = (value: string) => new Date(value);
const endOf = (value: string) => (day.safeParse(value).success ? new Date(Date.parse(value) + DAY_MS) : new Date(value));

export function spendQuerySchema(now: number) {
  const today = Math.floor(now / DAY_MS) * DAY_MS;
  return z
    .object({
      group_by: z.enum(SPEND_GROUPS).default('key'),
      from: z.union([z.literal('').transform(() => undefined), instant]).optional(),
      to: z.union([z.literal('').transform(() => undefined), instant]).optional(),
    })
    .transform((query) => {
      const to = query.to ? endOf(query.to) : new Date(today + DAY_MS);
      const from = query.from ? startOf(query.from) : new Date(to.getTime() - DEFAULT_SPEND_DAYS * DAY_MS);
      return { group_by: query.group_by, from, to };
    })
    .refine((query) => query.from < query.to, { message: 'the period must start before it ends', path: ['from'] })
    .refine((query) => query.to.getTime() - query.from.getTime() <= MAX_SPEND_DAYS * DAY_MS, {
      message: `at most ${MAX_SPEND_DAYS} days at once`,
      path: ['from'],
    });
}

/** Every live key (configured ones first) with its limits and current use; no secret is selected. */
async function keyLimits(services: Services, sql: Sql): Promise<KeyLimitView[]> {
  const rows = await listKeys(sql);
  const policies: KeyPolicy[] = [
    ...services.config.apiKeys.map((entry) => configPolicy(services, entry.id)),
    ...rows.filter((row) => !row.revoked_at).map((row) => policyOfRow(row, services.config)),
  ];
  const now = services.clock.now();
  return Promise.all(
    policies.map(async (policy) => ({
      id: policy.id,
      name: policy.name,
      role: policy.role,
      source: policy.source,
      rpm: policy.rpm ?? (services.config.llm.routing.rate_limit.requests_per_minute || null),
      rpm_default: policy.rpm === null,
      tpm: policy.tpm,
      budget_usd: policy.budget_usd,
      budget_period: policy.budget_period,
      usage: await readUsage(services.kv, policy, now).catch(() => null),
    })),
  );
}

/** `GET /approvals/spend` (admins): spend per key, agent, model or day over a period, and the keys' limits. */
export function spendRoutes(query: SpendQuery | undefined) {
  const app = new Hono<AppEnv>();
  app.get('/approvals/spend', async (c) => {
    const services = c.get('services');
    const principal = c.get('principal');
    if (principal.role !== 'admin') return page(c, 403, 'Refused', 'The spend page is for administrators: sign in with an admin key.');
    const parsed = spendQuerySchema(services.clock.now()).safeParse(c.req.query());
    if (!parsed.success) {
      const issues = parsed.error.issues.map((issue) => `${issue.path.join('.') || 'query'}: ${issue.message}`).join('; ');
      return page(c, 400, 'Bad request', `${issues}. Choose group_by key, agent, model, day or kind and dates as YYYY-MM-DD.`);
    }
    if (!query) return page(c, 503, 'Unavailable', 'Spend reports are not wired into this app.');
    const sql = requireDb(services).sql;
    const [report, keys] = await Promise.all([query(sql, parsed.data), keyLimits(services, sql)]);
    return c.html(
      <SpendPage
        period={parsed.data}
        rows={report.data}
        totals={report.totals}
        keys={keys}
        principal={principal}
        csrf={c.get('csrfToken')}
      />,
    );
  });
  return app;
}
