import type { Sql } from 'postgres';
import { expireDue, findActions } from '../actions/index.js';
import { toolMessage } from './context.js';
import type { ChatMessage } from './model.js';
import type { PendingAction, RunEvent } from './store.js';

/** Action states a run still waits on. */
export const ACTIVE_ACTION = new Set(['pending', 'approved', 'executing']);

/** Still open (the run waits on), or the first that expired (the run fails). */
export type Settled = { kind: 'open'; open: PendingAction[] } | { kind: 'expired'; item: PendingAction };

/**
 * Settles what a run waits for: first expires overdue approvals (a write path), then each decided
 * action becomes the answer to its tool call (pushed to `messages`, told in `events`).
 */
export async function settle(
  sql: Sql,
  correlationId: string,
  pending: PendingAction[],
  messages: ChatMessage[],
  events: RunEvent[],
): Promise<Settled> {
  await expireDue(sql, correlationId).catch(() => 0);
  const actions = await findActions(
    sql,
    pending.map((item) => item.action_id),
  );
  const open: PendingAction[] = [];
  for (const item of pending) {
    const action = actions.get(item.action_id);
    const base = { action_id: item.action_id, type: item.type };
    if (action && ACTIVE_ACTION.has(action.status)) {
      open.push(item);
    } else if (action?.status === 'executed') {
      messages.push(toolMessage(item.tool_call_id, { status: 'executed', ...base, output: action.outputs }));
      events.push({ type: 'action_executed', data: { ...base, approved_by: action.approved_by } });
    } else if (action?.status === 'rejected') {
      const reason = action.rejection_reason ?? 'no reason given';
      messages.push(toolMessage(item.tool_call_id, { status: 'rejected', ...base, reason, rejected_by: action.approved_by }));
      events.push({ type: 'action_rejected', data: { ...base, reason, rejected_by: action.approved_by } });
    } else if (action?.status === 'expired') {
      events.push({ type: 'action_expired', data: base });
      return { kind: 'expired', item };
    } else {
      const error = action?.error ?? (action ? `the action ended ${action.status}` : 'the action is missing from the audit log');
      messages.push(toolMessage(item.tool_call_id, { status: action?.status ?? 'missing', ...base, error }));
      events.push({ type: 'action_failed', data: { ...base, error } });
    }
  }
  return { kind: 'open', open };
}
