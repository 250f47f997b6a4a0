import type { Sql } from 'postgres';
import { asSeen, type Overdue } from './expire.js';
import type { ActionRow, ActionStatus } from './store.js';

/** Held and past its deadline (by the database's clock): what reads show as `expired`. */
const overdue = (sql: Sql) => sql`(status = 'pending' and expires_at <= now())`;

/** Actions newest first, by their status as it stands now; an agent's key sees only what it requested. */
export async function listActions(
  sql: Sql,
  filter: { status?: ActionStatus | undefined; requestedBy: string | null; limit: number },
): Promise<ActionRow[]> {
  const status = filter.status ?? null;
  const rows = await sql<Overdue[]>`
    select *, ${overdue(sql)} as overdue from action_audit_logs
    where (${status}::text is null or (case when ${overdue(sql)} then 'expired' else status end) = ${status})
      and (${filter.requestedBy}::text is null or requested_by = ${filter.requestedBy})
    order by created_at desc limit ${filter.limit}`;
  return rows.map(asSeen);
}

/** One action as it stands now (see {@link asSeen}). */
export async function viewAction(sql: Sql, id: string): Promise<ActionRow | undefined> {
  const [row] = await sql<Overdue[]>`select *, ${overdue(sql)} as overdue from action_audit_logs where id = ${id}`;
  return row && asSeen(row);
}

/** Actions by id, as stored (for an agent run settling what it waits for, after expireDue). */
export async function findActions(sql: Sql, ids: string[]): Promise<Map<string, ActionRow>> {
  if (ids.length === 0) return new Map();
  const rows = await sql<ActionRow[]>`select * from action_audit_logs where id = any(string_to_array(${ids.join(',')}, ',')::uuid[])`;
  return new Map(rows.map((row) => [row.id, row]));
}

/** What waits for a decision now (oldest first), with the status of the run that asked; overdue ones are left out. */
export async function pendingActions(
  sql: Sql,
  filter: { category: string; agent: string },
): Promise<Array<ActionRow & { run_status: string | null }>> {
  return sql<Array<ActionRow & { run_status: string | null }>>`
    select a.*, r.status as run_status from action_audit_logs a
    -- CASE fixes the order: the cast runs only on a real UUID (a join condition's AND does not promise that).
    left join agent_runs r on r.id = case
      when a.agent_run_id ~* '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$' then a.agent_run_id::uuid end
    where a.status = 'pending' and (a.expires_at is null or a.expires_at > now())
      and (${filter.category} = '' or a.action_category = ${filter.category})
      and (${filter.agent} = '' or a.agent_id = ${filter.agent})
    order by a.created_at asc limit 500`;
}

/** The agents with actions waiting for a decision now. */
export async function pendingAgents(sql: Sql): Promise<string[]> {
  const rows = await sql<{ agent_id: string }[]>`
    select distinct agent_id from action_audit_logs where status = 'pending' and (expires_at is null or expires_at > now()) order by 1`;
  return rows.map((row) => row.agent_id);
}

/** Decided actions, newest decision first (expiries show once the sweep has recorded them). */
export async function decidedActions(sql: Sql, limit = 200): Promise<ActionRow[]> {
  return sql<ActionRow[]>`select * from action_audit_logs where decided_at is not null order by decided_at desc limit ${limit}`;
}

/** One action's audit trail, in order. */
export async function actionEvents(
  sql: Sql,
  id: string,
): Promise<Array<{ seq: string; event: string; actor: string; data: Record<string, unknown>; created_at: Date }>> {
  return sql`select seq::text, event, actor, data, created_at from action_audit_events where action_id = ${id} order by seq`;
}
