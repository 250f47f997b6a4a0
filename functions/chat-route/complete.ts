import type { Services } from '../../shared/services.js';
import { correlationHeaders } from '../../shared/telemetry/correlation.js';
import { runAttempts } from './attempts.js';
import type { ChatCompletion, ChatRequest } from './contract.js';
import { trackInFlight } from './deployments.js';
import { admitChat, type Governance } from './governance.js';
import { endAttemptSpan, recordUsage, startAttemptSpan } from './observe.js';
import { failure, observedLatency, prepareChat, providerIn, recordFallback, usesLatency, withDefaults } from './pipeline.js';
import type { Attempt } from './plan.js';
import { callChat } from './providers/call.js';
import type { ProviderError } from './providers/types.js';
import { countedUsage } from './tokens.js';

export interface ChatResult {
  completion: ChatCompletion;
  attempt: Attempt;
  /** How many attempts it took (1 when the first model answered). */
  attempts: number;
  /** From the configured prices; undefined when the model has none. */
  costUsd: number | undefined;
}

/**
 * One non-streaming chat completion with the gateway's routing, fallback, retries, breaker, spans and
 * metrics: what `POST /v1/chat/completions` does, callable in-process (agent runs use it). Throws
 * {@link ApiError} as the endpoint would answer, or {@link ClientClosedError} when `clientSignal` aborts.
 *
 * @example
 * const { completion } = await completeChat(services, { model: 'planning', messages }, 'planning');
 */
export async function completeChat(
  services: Services,
  request: ChatRequest,
  target = request.model,
  /** The caller's request: when it aborts, the running attempt is cut and nothing more is tried. */
  clientSignal?: AbortSignal,
  /** The key, agent and run it is for: its policy applies and a spend row is written (governance.ts). */
  governance?: Governance,
): Promise<ChatResult> {
  const prepared = prepareChat(services, request, target, usesLatency(services) ? await observedLatency(services, target) : undefined);
  const { llm, registry, tracer, loop, started, useTokens } = prepared;
  const gate = governance ? await admitChat(services, governance, prepared.plan, request, target) : undefined;
  const plan = gate?.plan ?? prepared.plan;
  const outcome = await runAttempts(plan, clientSignal ? { ...loop, signal: clientSignal } : loop, async (attempt, signal) => {
    const span = startAttemptSpan(tracer, attempt, 'chat', registry.get(attempt.provider)?.config.type ?? 'openai', request);
    const callStarted = services.clock.now();
    const release = trackInFlight(attempt.label);
    try {
      const completion = await callChat(providerIn(registry, attempt), withDefaults(request, attempt), {
        model: attempt.model,
        signal,
        headers: correlationHeaders(),
      });
      endAttemptSpan(
        span,
        {
          label: attempt.label,
          provider: attempt.provider,
          model: attempt.model,
          status: 'ok',
          duration_ms: services.clock.now() - callStarted,
        },
        completion.usage,
        completion.model,
      );
      return completion;
    } catch (error) {
      const e = error as ProviderError;
      endAttemptSpan(span, {
        label: attempt.label,
        provider: attempt.provider,
        model: attempt.model,
        status: e.status ?? 'network',
        error: e.message,
        duration_ms: services.clock.now() - callStarted,
      });
      throw error;
    } finally {
      release();
    }
  });
  const settlement = { attempts: outcome.records.length, latencyMs: services.clock.now() - started, stream: false };
  if (!outcome.ok) {
    const last = outcome.records.at(-1);
    gate?.settle({
      ...settlement,
      attempt: plan.find((a) => a.label === last?.label),
      usage: undefined,
      status: String(outcome.httpStatus === 499 ? 'client_closed' : outcome.httpStatus),
    });
    throw failure(outcome);
  }
  const usage = countedUsage(outcome.value.usage);
  gate?.settle({ ...settlement, attempt: outcome.attempt, usage, status: 'ok' });
  useTokens(outcome.attempt, usage);
  const costUsd = recordUsage(services.metrics, llm, outcome.attempt, usage, gate?.keyLabel ?? 'internal');
  if (outcome.records.length > 1) recordFallback(services, outcome.attempt);
  return { completion: outcome.value, attempt: outcome.attempt, attempts: outcome.records.length, costUsd };
}
