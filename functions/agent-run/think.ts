import type { AgentConfig } from '../../shared/config/index.js';
import { ApiError } from '../../shared/http/errors.js';
import { checkedJson, wellFormed } from '../../shared/http/json-input.js';
import { runOn } from '../../shared/http/scope.js';
import type { Logger } from '../../shared/log/index.js';
import type { Services } from '../../shared/services.js';
import { submitAction } from '../actions/index.js';
import { addUsage, toolMessage } from './context.js';
import { type ChatMessage, type ChatRequest, completeChat } from './model.js';
import type { PendingAction, RunEvent, RunRow, RunStep } from './store.js';
import type { toolsFor } from './tools.js';

export type Thought = { kind: 'model_failed'; error: string } | { kind: 'step'; step: RunStep; final?: string };

/** One step: a model call, then each tool call through the action path. Mutates messages, events, pending. */
export async function think(
  services: Services,
  logger: Logger,
  run: RunRow,
  agent: AgentConfig,
  n: number,
  messages: ChatMessage[],
  tools: ReturnType<typeof toolsFor>['tools'],
  byName: Map<string, string>,
  events: RunEvent[],
  pending: PendingAction[],
  /** Extends the run's lease before each tool call (throws when it was lost). */
  renew: () => Promise<void>,
): Promise<Thought> {
  const request = {
    model: agent.model,
    messages,
    ...(tools.length > 0 ? { tools, tool_choice: 'auto' as const } : {}),
    ...(agent.temperature !== undefined ? { temperature: agent.temperature } : {}),
  } as ChatRequest;
  let chat: Awaited<ReturnType<typeof completeChat>>;
  const startedAt = new Date(services.clock.now()).toISOString();
  try {
    // The run's key pays: its limits, budget and spend row apply to the run's model calls too.
    chat = await completeChat(services, request, agent.model, undefined, {
      keyId: run.requested_by,
      agent: run.agent_name,
      runId: run.id,
      correlationId: run.correlation_id,
    });
  } catch (error) {
    if (!(error instanceof ApiError)) throw error;
    return { kind: 'model_failed', error: `the model call of step ${n} failed: ${error.message}` };
  }
  const answer = chat.completion.choices[0]?.message;
  // A model's words may hold half a surrogate pair, which Postgres refuses: made well-formed before
  // a row, an action or a digest sees them (the arguments' JSON escapes too, when parsed below).
  const content = typeof answer?.content === 'string' ? wellFormed(answer.content) : null;
  const calls = (answer?.tool_calls ?? [])
    .filter((call) => call.type === 'function')
    .map((call) => ({
      id: wellFormed(String(call.id)),
      type: 'function' as const,
      function: { name: wellFormed(String(call.function.name)), arguments: wellFormed(String(call.function.arguments ?? '')) },
    }));
  messages.push({
    role: 'assistant',
    content,
    ...(calls.length > 0 ? { tool_calls: calls } : {}),
  });
  const step: RunStep = {
    n,
    model: chat.attempt.model,
    provider: chat.attempt.provider,
    started_at: startedAt,
    usage: addUsage({ prompt_tokens: 0, completion_tokens: 0, total_tokens: 0 }, chat.completion.usage),
    cost_usd: chat.costUsd ?? null,
    tool_calls: [],
    final: calls.length === 0,
  };
  if (calls.length === 0) return { kind: 'step', step, final: content ?? '' };

  for (const [index, call] of calls.entries()) {
    // The model call and each earlier tool call took time: the lease is extended before every action.
    await renew();
    const type = byName.get(call.function.name) ?? null;
    let input: unknown;
    try {
      const text = call.function.arguments || '{}';
      input = checkedJson(JSON.parse(text), text);
    } catch {
      input = undefined;
    }
    events.push({
      type: 'tool_call',
      data: { step: n, tool_call_id: call.id, name: call.function.name, action_type: type, input: input ?? null },
    });
    const record = { id: call.id, name: call.function.name, action_type: type, action_id: null as string | null, status: 'error' };
    step.tool_calls.push(record);
    if (!type) {
      const error = `no tool named ${call.function.name}; this agent may use ${[...byName.keys()].join(', ') || 'none'}`;
      messages.push(toolMessage(call.id, { status: 'error', error }));
      events.push({ type: 'action_denied', data: { tool_call_id: call.id, error } });
      continue;
    }
    if (input === null || typeof input !== 'object' || Array.isArray(input)) {
      const error = 'the arguments were not a JSON object';
      messages.push(toolMessage(call.id, { status: 'error', error }));
      events.push({ type: 'action_denied', data: { tool_call_id: call.id, error } });
      continue;
    }
    try {
      const submitted = await submitAction(
        { services, principal: { id: run.requested_by, role: 'agent' }, correlationId: run.correlation_id, logger, background: runOn },
        // The same tool call always maps to the same action: a repeated step replays, never re-executes.
        `run:${run.id}:${n}:${index}`,
        { type, input: input as Record<string, unknown>, agent_id: run.agent_name, run_id: run.id },
      );
      const body = submitted.body as {
        id: string;
        status: string;
        output?: unknown;
        outputs?: unknown;
        problem?: unknown;
        expires_at?: string;
      };
      record.action_id = body.id;
      record.status = body.status;
      const base = { action_id: body.id, type };
      if (body.status === 'pending') {
        pending.push({ action_id: body.id, tool_call_id: call.id, type });
        events.push({ type: 'action_pending', data: { ...base, expires_at: body.expires_at ?? null } });
      } else if (body.status === 'executed') {
        messages.push(toolMessage(call.id, { status: 'executed', ...base, output: body.output ?? body.outputs }));
        events.push({ type: 'action_executed', data: base });
      } else {
        messages.push(toolMessage(call.id, { status: body.status, ...base, problem: body.problem ?? null }));
        events.push({ type: 'action_failed', data: { ...base, problem: body.problem ?? null } });
      }
    } catch (error) {
      // The audit store being down stops the run here (it is resumed later); any other refusal is
      // the model's to read and act on.
      if (!(error instanceof ApiError) || error.code === 'UNAVAILABLE') throw error;
      const actionId = typeof error.extra?.id === 'string' ? error.extra.id : null;
      record.action_id = actionId;
      record.status = 'denied';
      messages.push(toolMessage(call.id, { status: 'denied', action_id: actionId, type, error: error.message, hint: error.hint ?? null }));
      events.push({ type: 'action_denied', data: { action_id: actionId, type, error: error.message } });
    }
  }
  return { kind: 'step', step };
}
