/**
 * What every chat-route request shares: the provider registry (one per configuration), the attempt
 * plan with its breaker and deadline, the errors a failed plan answers with, and the headers that say
 * which model served.
 */
import type { ModelsConfig } from '../../shared/config/index.js';
import { ApiError } from '../../shared/http/errors.js';
import { redactString } from '../../shared/redact/index.js';
import type { Services } from '../../shared/services.js';
import type { AttemptOutcome } from './attempts.js';
import { CircuitBreaker } from './breaker.js';
import type { ChatRequest, Usage } from './contract.js';
import { DeploymentLimits, deploymentsOf, inFlightCalls } from './deployments.js';
import { LatencyTracker } from './latency.js';
import { modelLabel, providerLabel, recordCall } from './observe.js';
import { type Attempt, planAttempts } from './plan.js';
import { createProviderRegistry, type ProviderRegistry } from './providers/registry.js';
import type { ChatProvider, ProviderError } from './providers/types.js';

// Providers are built once per configuration (per process, per isolate), not per request.
const registries = new WeakMap<ModelsConfig, ProviderRegistry>();
export function registryFor(services: Services): ProviderRegistry {
  let registry = registries.get(services.config.llm);
  if (!registry) {
    registry = createProviderRegistry(services.config.llm, { fetch: services.fetch, http: services.llmHttp });
    registries.set(services.config.llm, registry);
  }
  return registry;
}

/** The configured defaults of a model fill what the caller left out (a copy only when one does). */
export function withDefaults(request: ChatRequest, attempt: Attempt): ChatRequest {
  const { temperature, max_tokens } = attempt.config;
  const addTemperature = request.temperature == null && temperature !== undefined;
  const addMaxTokens = request.max_tokens == null && request.max_completion_tokens == null && max_tokens !== undefined;
  if (!addTemperature && !addMaxTokens) return request;
  return { ...request, ...(addTemperature ? { temperature } : {}), ...(addMaxTokens ? { max_tokens } : {}) };
}

/** Everything one chat request's attempt loop needs: the plan, the breaker, the deadline. */
export function prepareChat(services: Services, request: ChatRequest, target: string, latencyMs: ReadonlyMap<string, number> | undefined) {
  const llm = services.config.llm;
  const registry = registryFor(services);
  // Only the latency strategy keeps averages: otherwise recording them would be two store calls a
  // request for nothing.
  const latency = usesLatency(services) ? new LatencyTracker(services.kv) : undefined;
  const plan = planAttempts(llm, registry, { target, kind: 'chat', request, inFlight: inFlightCalls, ...(latencyMs ? { latencyMs } : {}) });
  if (!plan.ok) throw planError(plan.reason);
  const started = services.clock.now();
  const deadlineAt = started + llm.routing.deadline_ms;
  const limits = new DeploymentLimits(services.kv);
  const loop = {
    admit: (attempt: Attempt) => limits.admit(attempt.label, attempt.limits, services.clock.now()),
    routing: llm.routing,
    breaker: new CircuitBreaker(services.kv, llm.routing.breaker),
    deadlineAt,
    onResult: (attempt: Attempt, record: Parameters<typeof recordCall>[3]) => {
      recordCall(services.metrics, llm, attempt, record);
      if (record.status === 'ok' && latency) void latency.record(attempt.label, record.duration_ms).catch(() => {});
    },
  };
  /** A served call's tokens count against its deployment's tpm. */
  const useTokens = (attempt: Attempt, usage: Usage | undefined) =>
    limits.useTokens(attempt.label, attempt.limits, usage?.total_tokens, services.clock.now());
  return {
    llm,
    registry,
    plan: plan.attempts,
    tracer: services.tracerProvider.getTracer('myca-chat-route'),
    loop,
    started,
    deadlineAt,
    useTokens,
  };
}

/**
 * The latency strategy's recent averages (from the shared store), or undefined for the other
 * strategies. Only that strategy awaits them: even `await undefined` costs a promise, and every
 * promise runs Node 20's async-context hook, so callers test {@link usesLatency} first.
 */
export function observedLatency(services: Services, target: string): Promise<ReadonlyMap<string, number>> {
  return new LatencyTracker(services.kv).read(latencyLabels(services.config.llm, target));
}

export const usesLatency = (services: Services) => services.config.llm.routing.strategy === 'latency';

function latencyLabels(llm: ModelsConfig, target: string): string[] {
  const aliases = [target, ...llm.routing.fallback_chain];
  return aliases.flatMap((alias) => {
    const model = llm.models[alias];
    return model ? deploymentsOf(alias, model).map((d) => `${alias}/${d.model.provider}/${d.model.model}`) : [];
  });
}

/** The caller went away before an answer: nothing more is tried, the request is logged as 499. */
export class ClientClosedError extends Error {
  constructor() {
    super('the client closed the connection before the answer');
    this.name = 'ClientClosedError';
  }
}

/** nginx's "client closed request": only logs and metrics see it, the client is gone. */
export const clientClosed = () => new Response(null, { status: 499 });

/** The error a failed attempt loop answers with (problem+json through ApiError). */
export function failure(outcome: Extract<AttemptOutcome<unknown>, { ok: false }>): Error {
  if (outcome.httpStatus === 499) return new ClientClosedError();
  const attempts = outcome.records;
  if (outcome.stop && outcome.contextExceeded) {
    return new ApiError('BAD_REQUEST', {
      detail: `The prompt does not fit the context window: ${outcome.stop.provider} answered "${redactString(outcome.stop.message)}" and no model with a larger window was left to try`,
      hint: 'shorten the messages or lower max_tokens, or add a model with a larger context_window to the fallback chain',
      extra: { attempts },
    });
  }
  if (outcome.stop) {
    const stop: ProviderError = outcome.stop;
    return new ApiError(stop.status === 422 ? 'UNPROCESSABLE' : stop.status === 413 ? 'PAYLOAD_TOO_LARGE' : 'BAD_REQUEST', {
      // The provider's words may quote a secret (a key it refused): masked, as in `attempts`.
      detail: `${stop.provider} refused the request: ${redactString(stop.message)}`,
      hint: 'the request itself was refused, so no other provider was tried; fix the fields the message names',
      extra: { attempts },
    });
  }
  const code = outcome.httpStatus === 504 ? 'GATEWAY_TIMEOUT' : outcome.httpStatus === 503 ? 'UNAVAILABLE' : 'BAD_GATEWAY';
  return new ApiError(code, {
    detail: `All ${attempts.length} attempt(s) failed: ${attempts.map((a) => `${a.label} → ${a.status}`).join(', ')}`,
    hint:
      outcome.httpStatus === 503
        ? 'every provider is cooling down after repeated failures; retry later'
        : 'retry later; attempts lists what each provider answered',
    extra: { attempts },
    // The first open breaker's remaining cooldown: retrying sooner meets the same 503.
    ...(outcome.httpStatus === 503
      ? { headers: { 'retry-after': String(Math.max(1, Math.ceil((outcome.retryAfterMs ?? 0) / 1000))) } }
      : {}),
  });
}

/** A request that was served only after an earlier attempt failed. */
export function recordFallback(services: Services, attempt: Attempt): void {
  const llm = services.config.llm;
  services.metrics.llmFallbacks.add(1, { provider: providerLabel(llm, attempt.provider), model: modelLabel(llm, attempt.model) });
}

/** The plan only holds attempts whose provider is available, so this always finds one. */
export function providerIn(registry: ProviderRegistry, attempt: Attempt): ChatProvider {
  const provider = registry.get(attempt.provider)?.provider;
  if (!provider) throw new Error(`provider ${attempt.provider} is not available`);
  return provider;
}

export function planError(reason: string): ApiError {
  return reason.startsWith('No available')
    ? new ApiError('UNAVAILABLE', {
        detail: reason,
        hint: 'set the provider keys in the environment (see .env.example); GET /v1/models shows what is available',
      })
    : new ApiError('BAD_REQUEST', { detail: reason, hint: 'GET /v1/models lists the aliases and models' });
}

export function attemptHeaders(attempt: Attempt, attempts: number): Record<string, string> {
  return {
    'x-myca-provider': attempt.provider,
    'x-myca-model': attempt.model,
    'x-myca-deployment': attempt.deployment,
    'x-myca-attempts': String(attempts),
  };
}
