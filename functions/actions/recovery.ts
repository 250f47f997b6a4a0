import { LOCKS } from '../../shared/db/locks.js';
import { checkRelativePath } from '../../shared/files/path.js';
import type { Logger } from '../../shared/log/index.js';
import type { Services } from '../../shared/services.js';
import { CATALOG } from './catalog/index.js';
import type { ActionDefinition } from './catalog/types.js';
import { actionContext, executeClaimed, toolLabel } from './run.js';
import { type ActionRow, actionDigest, readSnapshot, transition } from './store.js';

/** Rows taken over per sweep (the next sweep takes the rest). */
const BATCH = 100;
const ACTOR = 'recovery';

/**
 * What the sweep runs again when its worker is gone: reads (no effect to repeat) and `file.write`
 * (the same bytes to the same path: running it twice leaves what running it once does, unless a
 * write or delete of that path has run since it started: see {@link supersededWrite}). Everything
 * else (file.delete, http.request, integrations' writes) may or may not have taken effect, so it
 * ends as `failed` with an `interrupted` event instead.
 */
export const isRerunnable = (action: ActionDefinition<never, unknown>, row: Pick<ActionRow, 'action_category'>) =>
  (action.category === 'read' && row.action_category === 'read') || action.name === 'file.write';

export interface Recovered {
  /** Run again (then `executed` or `failed` as the run went). */
  rerun: number;
  /** Ended as `failed` with an `interrupted` event. */
  interrupted: number;
}

/**
 * Takes over `approved` and `executing` actions whose lease ran out (the worker that claimed them
 * stopped: a crash, a kill, a database outage while it recorded the outcome). Safe ones are run
 * again once, from the frozen snapshot or from the stored input when it still hashes to the
 * action's digest (redaction changed nothing); the rest end as `failed`. Each take-over is a
 * conditional update on the expired lease, so two sweeps never both take a row; an advisory lock
 * keeps a second instance from sweeping at the same time at all.
 */
export async function recoverStuckActions(services: Services, sql: Parameters<typeof transition>[0], logger: Logger): Promise<Recovered> {
  const leaseS = services.config.actions.lease_s;
  const due = await sql.begin(async (tx) => {
    const [lock] = await tx<{ locked: boolean }[]>`select pg_try_advisory_xact_lock(${LOCKS.actionRecovery}) as locked`;
    if (!lock?.locked) return [] as ActionRow[];
    // Rows written before leases existed have none: their decision (or creation) plus a lease.
    return tx<ActionRow[]>`
      select * from action_audit_logs
      where status in ('approved', 'executing')
        and coalesce(lease_until, coalesce(decided_at, created_at) + make_interval(secs => ${leaseS})) <= now()
      order by created_at
      limit ${BATCH}`;
  });
  const recovered: Recovered = { rerun: 0, interrupted: 0 };
  for (const row of due) {
    try {
      const outcome = await recoverOne(services, sql, row, logger);
      if (outcome) recovered[outcome]++;
    } catch (error) {
      logger.error('recovering a stuck action failed', { action_id: row.id, error: error as Error });
    }
  }
  if (due.length > 0) logger.warn('recovered stuck actions', { ...recovered, found: due.length });
  return recovered;
}

async function recoverOne(
  services: Services,
  sql: Parameters<typeof transition>[0],
  row: ActionRow,
  logger: Logger,
): Promise<keyof Recovered | undefined> {
  const correlationId = row.correlation_id;
  const action = CATALOG.get(row.action_type);
  let input = action && isRerunnable(action, row) && row.recovery_attempts === 0 ? await exactInput(sql, row) : undefined;
  // A read as it was recorded, but no longer one under today's configuration (its named query was
  // made to write since): never run again unseen.
  if (action?.categoryOf && input !== undefined && action.name !== 'file.write') {
    const now = action.categoryOf(actionContext(services, new AbortController().signal, row.agent_id), input as never);
    if (now !== 'read') input = undefined;
  }
  const superseded = action?.name === 'file.write' && input !== undefined && (await supersededWrite(sql, row, input));
  if (superseded) input = undefined;
  if (action && input !== undefined) {
    const claimed = await transition(
      sql,
      row.id,
      [row.status],
      'executing',
      { event: 'executing', actor: ACTOR, correlationId, data: { rerun: true, was: row.status } },
      { leaseS: services.config.actions.lease_s, recovery: { rerun: true } },
    );
    if (!claimed) return undefined; // its worker finished after all, or another sweep took it
    await executeClaimed(services, sql, claimed, action, input, ACTOR, correlationId, logger);
    return 'rerun';
  }
  const why = superseded
    ? 'interrupted: a later write or delete of the same path has run (or is running) since; running this one again would undo it'
    : row.status === 'approved'
      ? 'interrupted: the worker that approved it stopped before running it; nothing was run'
      : 'interrupted: the worker running it stopped before recording the outcome; it may or may not have taken effect';
  const ended = await transition(
    sql,
    row.id,
    [row.status],
    'failed',
    { event: 'interrupted', actor: ACTOR, correlationId, data: { was: row.status, error: why } },
    {
      outputs: {
        problem: {
          status: 502,
          detail: why,
          hint: 'check whether it took effect, then submit it again with a new Idempotency-Key',
        },
      },
      error: why,
      recovery: { rerun: false },
    },
  );
  if (!ended) return undefined;
  services.metrics.actionAuditLogs.add(1, { action_type: toolLabel(row.action_type), status: 'failed' });
  return 'interrupted';
}

/**
 * The input exactly as validated at submission: the snapshot (held actions keep one until they
 * end), or the stored input if redaction left it unchanged (it hashes to the digest). Undefined
 * when neither holds: then it cannot be run again faithfully.
 */
async function exactInput(sql: Parameters<typeof transition>[0], row: ActionRow): Promise<unknown> {
  const digestOf = (input: unknown) =>
    actionDigest({ type: row.action_type, input, agentId: row.agent_id, runId: row.agent_run_id, policyVersion: row.policy_version });
  const snapshot = await readSnapshot(sql, row.id);
  if (snapshot !== undefined && digestOf(snapshot) === row.digest) return snapshot;
  if (digestOf(row.inputs) === row.digest) return row.inputs;
  return undefined;
}

/**
 * True when a write or delete of the same file, created after `row`, has executed or is in flight
 * (`approved`, `executing`): running the stale write again would put old bytes over newer ones.
 * Paths are compared as the file actions resolve them (`scratch//./a.txt` is `scratch/a.txt`).
 */
async function supersededWrite(sql: Parameters<typeof transition>[0], row: ActionRow, input: unknown): Promise<boolean> {
  const resolve = (path: unknown) => {
    try {
      return typeof path === 'string' ? checkRelativePath(path) : undefined;
    } catch {
      return undefined;
    }
  };
  const path = resolve((input as { path?: unknown }).path);
  if (!path) return false;
  // Any spelling of the path holds its last name literally: a cheap filter before the exact comparison.
  const name = path.slice(path.lastIndexOf('/') + 1);
  // What counts is the order the writes ran in, not the order they were asked for: an older write
  // approved after this one started is the last word on the path. A write started when it was
  // approved (or, when no person had to, when it was made). Later than this one: one approved and
  // not yet run; one executing that started after it (ties broken by id, so of two interrupted
  // together exactly one is the later); one executed since it started; one that started after it
  // and was interrupted while running (by this very sweep too: its bytes may be in place).
  const started = row.decided_at ?? row.created_at;
  const later = await sql<{ path: string | null }[]>`
    select inputs->>'path' as path from action_audit_logs
    where action_type in ('file.write', 'file.delete')
      and id <> ${row.id}
      and (
        status = 'approved'
        or (status = 'executing' and (coalesce(decided_at, created_at), id) > (${started}::timestamptz, ${row.id}::uuid))
        or (status = 'executed' and executed_at >= ${started})
        or (status = 'failed' and error like 'interrupted:%' and error not like '%nothing was run%'
          and (coalesce(decided_at, created_at), id) > (${started}::timestamptz, ${row.id}::uuid))
      )
      and strpos(inputs->>'path', ${name}) > 0`;
  return later.some((other) => resolve(other.path) === path);
}
