import type { Sql } from 'postgres';
import { noteChainHead } from '../../shared/audit/anchor.js';
import { appendEvents } from '../../shared/audit/chain.js';
import type { WorkScope } from '../../shared/http/scope.js';
import { requireDb } from './errors.js';
import { type Recovered, recoverStuckActions } from './recovery.js';
import type { ActionRow } from './store.js';

/**
 * Held actions past their expiry become `expired` (a terminal state distinct from rejected), with
 * an `expired` event each. Runs on the sweep and on write paths (an agent run settling what it
 * waits for; a decision that comes too late); never inside a read.
 */
export async function expireDue(sql: Sql, correlationId: string): Promise<number> {
  let head: string | null = null;
  const expired = await sql.begin(async (tx) => {
    const rows = await tx<{ id: string }[]>`
      update action_audit_logs set status = 'expired', decided_at = now()
      where status = 'pending' and expires_at <= now()
      returning id`;
    if (rows.length === 0) return 0;
    await tx`delete from action_snapshots where action_id = any(string_to_array(${rows.map((row) => row.id).join(',')}, ',')::uuid[])`;
    head = await appendEvents(
      tx,
      rows.map((row) => ({ actionId: row.id, event: 'expired' as const, actor: 'system', correlationId, data: {} })),
    );
    return rows.length;
  });
  await noteChainHead(sql, head);
  return expired;
}

/** A read's row with `overdue`: held, and past its deadline by the database's clock (the one expireDue uses). */
export type Overdue<T extends ActionRow = ActionRow> = T & { overdue?: boolean };

/**
 * A row as it stands now, for reads (which write nothing): a held action past its deadline shows as
 * `expired` though the sweep has not recorded it yet (its `decided_at` and `expired` event come
 * with that write, at most one sweep interval later).
 */
export function asSeen<T extends ActionRow>(row: Overdue<T>): T {
  const { overdue, ...rest } = row;
  return (overdue ? { ...rest, status: 'expired' } : rest) as T;
}

/**
 * The actions' share of the periodic sweep (Node: every ACTION_SWEEP_INTERVAL_S; Workers: the Cron
 * Trigger): expire overdue approvals, then take over actions whose worker is gone.
 */
export async function sweepActions(scope: WorkScope): Promise<{ expired: number } & Recovered> {
  const sql = requireDb(scope.services).sql;
  const expired = await expireDue(sql, 'expiry-sweep');
  const recovered = await recoverStuckActions(scope.services, sql, scope.logger);
  return { expired, ...recovered };
}
