import type { Logger } from '../../shared/log/index.js';
import type { Services } from '../../shared/services.js';
import { runAttempts } from './attempts.js';
import type { ChatRequest } from './contract.js';
import { answerBudget, trackInFlight } from './deployments.js';
import { admitChat, type Governance } from './governance.js';
import { endAttemptSpan, recordCall, recordUsage, startAttemptSpan } from './observe.js';
import {
  attemptHeaders,
  failure,
  observedLatency,
  prepareChat,
  providerIn,
  recordFallback,
  usesLatency,
  withDefaults,
} from './pipeline.js';
import type { Attempt } from './plan.js';
import { isNative } from './providers/types.js';
import { openStream, type SseFramer, sseResponse } from './stream.js';
import { countedUsage, streamedUsage } from './tokens.js';

export interface StreamedChat {
  /** The SSE answer, already opened on the model that served (its first chunk has arrived). */
  response: Response;
  attempt: Attempt;
  /** How many attempts it took (1 when the first model answered). */
  attempts: number;
  /** The events are the provider's own Responses API events, not chat chunks (providers/call.ts). */
  native: boolean;
}

/**
 * One streaming chat completion: the attempt loop runs until a model's stream opens (fallback, retries,
 * breaker and the first-token timeout apply up to then); the rest streams to the client with the idle
 * timeout and the stream cap, and is counted once, when it ends, with how it really ended. Throws
 * {@link ApiError} as the endpoint would answer, or {@link ClientClosedError} when `clientSignal` aborts.
 */
export async function streamChat(
  services: Services,
  request: ChatRequest,
  target: string,
  clientSignal: AbortSignal,
  logger: Logger,
  /** The key, agent and run it is for: its policy applies and a spend row is written (governance.ts). */
  governance?: Governance,
  /**
   * What the opened stream's chunks become (`native`: they are a provider's own Responses events):
   * OpenAI's chat chunks when it gives none (stream.ts, chatFrames).
   */
  framerFor?: (native: boolean) => SseFramer | undefined,
): Promise<StreamedChat> {
  const prepared = prepareChat(services, request, target, usesLatency(services) ? await observedLatency(services, target) : undefined);
  const { llm, registry, tracer, loop, started, useTokens } = prepared;
  const gate = governance ? await admitChat(services, governance, prepared.plan, request, target) : undefined;
  const plan = gate?.plan ?? prepared.plan;
  const streamLoop = { ...loop, signal: clientSignal, deferSuccess: true, timeoutMs: () => llm.routing.first_token_timeout_ms };
  const outcome = await runAttempts(plan, streamLoop, async (attempt, signal) => {
    const span = startAttemptSpan(tracer, attempt, 'chat', registry.get(attempt.provider)?.config.type ?? 'openai', request);
    // In flight until the stream ends (onEnd), or until it fails to open.
    const release = trackInFlight(attempt.label);
    try {
      return { opened: await openStream(providerIn(registry, attempt), withDefaults(request, attempt), attempt, signal), span, release };
    } catch (error) {
      release();
      endAttemptSpan(span, {
        label: attempt.label,
        provider: attempt.provider,
        model: attempt.model,
        status: 'network',
        error: String(error),
        duration_ms: 0,
      });
      throw error;
    }
  });
  if (!outcome.ok) {
    const last = outcome.records.at(-1);
    gate?.settle({
      attempt: plan.find((a) => a.label === last?.label),
      usage: undefined,
      status: String(outcome.httpStatus === 499 ? 'client_closed' : outcome.httpStatus),
      attempts: outcome.records.length,
      latencyMs: services.clock.now() - started,
      stream: true,
    });
    throw failure(outcome);
  }
  const { attempt } = outcome;
  if (outcome.records.length > 1) recordFallback(services, attempt);
  services.metrics.llmTimeToFirstToken.record((services.clock.now() - started) / 1000, {
    provider: attempt.provider,
    model: attempt.model,
  });
  const native = isNative(outcome.value.opened.first);
  const framer = framerFor?.(native);
  const response = sseResponse({
    opened: outcome.value.opened,
    ...(framer ? { framer } : {}),
    idleTimeoutMs: llm.routing.idle_timeout_ms,
    capAt: started + llm.routing.stream_max_ms,
    capMs: llm.routing.stream_max_ms,
    headers: attemptHeaders(attempt, outcome.records.length),
    onEnd: (result) => {
      const reported = countedUsage(result.usage);
      // Without the provider's usage the call is counted at an estimate of what it streamed: in the
      // key's limits and spend row, the token and cost metrics, the span and the log alike.
      const usage = reported ?? streamedUsage(request, result.answerChars, answerBudget(request, attempt.config));
      outcome.value.release();
      useTokens(attempt, usage);
      // The attempt is counted once, here, with how it really ended; the breaker learns it too.
      const record = {
        label: attempt.label,
        provider: attempt.provider,
        model: attempt.model,
        status: result.status,
        ...(result.error ? { error: result.error } : {}),
        duration_ms: services.clock.now() - started,
      };
      recordCall(services.metrics, llm, attempt, record);
      const cost = recordUsage(services.metrics, llm, attempt, usage, gate?.keyLabel ?? 'internal');
      gate?.settle({
        attempt,
        usage: usage,
        status: String(result.status),
        attempts: outcome.records.length,
        latencyMs: record.duration_ms,
        stream: true,
      });
      endAttemptSpan(outcome.value.span, record, usage);
      if (result.status === 'ok') void loop.breaker.success(attempt.label, outcome.breakerState).catch(() => {});
      else if (result.status !== 'client_closed') void loop.breaker.failure(attempt.label, outcome.breakerState).catch(() => false);
      if (result.status === 'client_closed')
        logger.info('client closed the stream', { llm: attempt.label, status: 499, chunks: result.chunks });
      else if (result.error)
        logger.warn('stream failed after the first byte', { llm: attempt.label, status: result.status, error: result.error });
      if (!reported && result.status === 'ok')
        logger.warn('the provider reported no usage: counted at an estimate of what it streamed', { llm: attempt.label });
      logger.info('stream finished', {
        llm: attempt.label,
        usage,
        ...(reported ? {} : { usage_estimated: true }),
        cost_usd: cost,
        chunks: result.chunks,
      });
    },
  });
  return { response, attempt, attempts: outcome.records.length, native };
}
