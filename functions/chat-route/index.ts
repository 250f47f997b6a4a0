import { type Context, Hono, type MiddlewareHandler } from 'hono';
import type { ModelsConfig } from '../../shared/config/index.js';
import { ApiError } from '../../shared/http/errors.js';
import { tracedResponse } from '../../shared/http/middleware.js';
import type { AppEnv } from '../../shared/http/types.js';
import { readJson } from '../../shared/http/validate.js';
import { sharedCounter } from '../../shared/kv/counter.js';
import type { Services } from '../../shared/services.js';
import { correlationHeaders } from '../../shared/telemetry/correlation.js';
import { type AttemptOutcome, runAttempts } from './attempts.js';
import { CircuitBreaker } from './breaker.js';
import { type ChatCompletion, type ChatRequest, ChatRequestSchema, EmbeddingsRequestSchema, type ModelList } from './contract.js';
import { LatencyTracker } from './latency.js';
import { endAttemptSpan, modelLabel, providerLabel, recordCall, recordUsage, startAttemptSpan } from './observe.js';
import { type Attempt, planAttempts } from './plan.js';
import { createProviderRegistry, type ProviderRegistry } from './providers/registry.js';
import { type ChatProvider, type ProviderError, wireText } from './providers/types.js';
import { serveResponses } from './responses.js';
import { openStream, sseResponse } from './stream.js';

const MAX_BODY = 8 * 1024 * 1024;

// Providers are built once per configuration (per process, per isolate), not per request.
const registries = new WeakMap<ModelsConfig, ProviderRegistry>();
function registryFor(services: Services): ProviderRegistry {
  let registry = registries.get(services.config.llm);
  if (!registry) {
    registry = createProviderRegistry(services.config.llm, { fetch: services.fetch, http: services.llmHttp });
    registries.set(services.config.llm, registry);
  }
  return registry;
}

/** The configured defaults of a model fill what the caller left out (a copy only when one does). */
function withDefaults(request: ChatRequest, attempt: Attempt): ChatRequest {
  const { temperature, max_tokens } = attempt.config;
  const addTemperature = request.temperature == null && temperature !== undefined;
  const addMaxTokens = request.max_tokens == null && request.max_completion_tokens == null && max_tokens !== undefined;
  if (!addTemperature && !addMaxTokens) return request;
  return { ...request, ...(addTemperature ? { temperature } : {}), ...(addMaxTokens ? { max_tokens } : {}) };
}

/** Everything one chat request's attempt loop needs: the plan, the breaker, the deadline. */
function prepareChat(services: Services, request: ChatRequest, target: string, latencyMs: ReadonlyMap<string, number> | undefined) {
  const llm = services.config.llm;
  const registry = registryFor(services);
  // Only the latency strategy keeps averages: otherwise recording them would be two store calls a
  // request for nothing.
  const latency = usesLatency(services) ? new LatencyTracker(services.kv) : undefined;
  const plan = planAttempts(llm, registry, { target, kind: 'chat', request, ...(latencyMs ? { latencyMs } : {}) });
  if (!plan.ok) throw planError(plan.reason);
  const started = services.clock.now();
  const deadlineAt = started + llm.routing.deadline_ms;
  const loop = {
    routing: llm.routing,
    breaker: new CircuitBreaker(services.kv, llm.routing.breaker),
    deadlineAt,
    onResult: (attempt: Attempt, record: Parameters<typeof recordCall>[3]) => {
      recordCall(services.metrics, llm, attempt, record);
      if (record.status === 'ok' && latency) void latency.record(attempt.label, record.duration_ms).catch(() => {});
    },
  };
  return { llm, registry, plan: plan.attempts, tracer: services.tracerProvider.getTracer('myca-chat-route'), loop, started, deadlineAt };
}

/**
 * The latency strategy's recent averages (from the shared store). Only that strategy awaits them:
 * even `await undefined` costs a promise, and every promise runs Node 20's async-context hook.
 */
function observedLatency(services: Services, target: string): Promise<ReadonlyMap<string, number>> {
  return new LatencyTracker(services.kv).read(latencyLabels(services.config.llm, target));
}

const usesLatency = (services: Services) => services.config.llm.routing.strategy === 'latency';

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
 * {@link ApiError} as the endpoint would answer.
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
): Promise<ChatResult> {
  const { llm, registry, plan, tracer, loop } = prepareChat(
    services,
    request,
    target,
    usesLatency(services) ? await observedLatency(services, target) : undefined,
  );
  const outcome = await runAttempts(plan, clientSignal ? { ...loop, signal: clientSignal } : loop, async (attempt, signal) => {
    const span = startAttemptSpan(tracer, attempt, 'chat', registry.get(attempt.provider)?.config.type ?? 'openai', request);
    const callStarted = services.clock.now();
    try {
      const completion = await providerIn(registry, attempt).chat(withDefaults(request, attempt), {
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
    }
  });
  if (!outcome.ok) throw failure(outcome);
  const costUsd = recordUsage(services.metrics, llm, outcome.attempt, outcome.value.usage);
  if (outcome.records.length > 1) recordFallback(services, outcome.attempt);
  return { completion: outcome.value, attempt: outcome.attempt, attempts: outcome.records.length, costUsd };
}

/** The caller went away before an answer: nothing more is tried, the request is logged as 499. */
export class ClientClosedError extends Error {
  constructor() {
    super('the client closed the connection before the answer');
    this.name = 'ClientClosedError';
  }
}

/** nginx's "client closed request": only logs and metrics see it, the client is gone. */
const clientClosed = () => new Response(null, { status: 499 });

function failure(outcome: Extract<AttemptOutcome<unknown>, { ok: false }>): Error {
  if (outcome.httpStatus === 499) return new ClientClosedError();
  const attempts = outcome.records;
  if (outcome.stop) {
    const stop: ProviderError = outcome.stop;
    return new ApiError(stop.status === 422 ? 'UNPROCESSABLE' : stop.status === 413 ? 'PAYLOAD_TOO_LARGE' : 'BAD_REQUEST', {
      detail: `${stop.provider} refused the request: ${stop.message}`,
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

/**
 * chat-route: OpenAI-compatible `/v1/chat/completions`, `/v1/embeddings` and `/v1/models` over every
 * configured provider, with task routing, fallback, retries, a shared breaker and streaming.
 *
 * @example
 * app.route('/', createChatRoute());
 */
export function createChatRoute() {
  const app = new Hono<AppEnv>();

  // Per-key rate limit in the shared key-value store (fixed one-minute windows).
  app.use('/v1/chat/completions', rateLimit);
  app.use('/v1/embeddings', rateLimit);
  app.use('/v1/responses', rateLimit);

  app.post('/v1/chat/completions', async (c) => serveChat(c, (await readJson(c, ChatRequestSchema, { limit: MAX_BODY })) as ChatRequest));
  // The Responses API, bridged through the same pipeline (responses.ts translates at the edge).
  app.post('/v1/responses', async (c) => serveResponses(c, serveChat));

  app.post('/v1/embeddings', async (c) => {
    const services = c.get('services');
    const llm = services.config.llm;
    const request = await readJson(c, EmbeddingsRequestSchema, { limit: MAX_BODY });
    // Task headers pick chat aliases; an embeddings request names its model in the body, or gets `embedding`.
    const target = request.model || 'embedding';
    const registry = registryFor(services);
    const plan = planAttempts(llm, registry, { target, kind: 'embedding' });
    if (!plan.ok) throw planError(plan.reason);
    const breaker = new CircuitBreaker(services.kv, llm.routing.breaker);
    const outcome = await runAttempts(
      plan.attempts,
      {
        routing: llm.routing,
        breaker,
        deadlineAt: services.clock.now() + llm.routing.deadline_ms,
        signal: c.req.raw.signal,
        onResult: (attempt, record) => recordCall(services.metrics, llm, attempt, record),
      },
      (attempt, signal) => providerIn(registry, attempt).embed(request, { model: attempt.model, signal, headers: correlationHeaders() }),
    );
    if (!outcome.ok) {
      if (outcome.httpStatus === 499) return clientClosed();
      throw failure(outcome);
    }
    const usage = outcome.value.usage;
    recordUsage(
      services.metrics,
      llm,
      outcome.attempt,
      usage ? { prompt_tokens: usage.prompt_tokens, completion_tokens: 0, total_tokens: usage.total_tokens } : undefined,
    );
    return c.json(outcome.value, 200, attemptHeaders(outcome.attempt, outcome.records.length));
  });

  app.get('/v1/models', (c) => {
    const services = c.get('services');
    const registry = registryFor(services);
    const body: ModelList = {
      object: 'list',
      data: Object.entries(services.config.llm.models).map(([alias, model]) => {
        const entry = registry.get(model.provider);
        return {
          id: alias,
          object: 'model' as const,
          created: 0,
          owned_by: model.provider,
          myca: {
            alias,
            provider: model.provider,
            model: model.model,
            kind: model.kind,
            available: Boolean(entry?.provider),
            ...(entry?.reason ? { reason: entry.reason } : {}),
          },
        };
      }),
    };
    return c.json(body);
  });

  return app;
}

/**
 * One `POST /v1/chat/completions` request, already parsed: routing, fallback, breaker, streaming,
 * spans, metrics and the log line. `/v1/responses` calls it too, with a translated request.
 */
export async function serveChat(c: Context<AppEnv>, request: ChatRequest): Promise<Response> {
  const services = c.get('services');
  const target = c.req.header('x-myca-task') || request.model;
  const clientSignal = c.req.raw.signal;
  if (!request.stream) {
    let done: ChatResult;
    try {
      done = await completeChat(services, request, target, clientSignal);
    } catch (error) {
      if (error instanceof ClientClosedError) return clientClosed();
      throw error;
    }
    c.set('logFields', {
      ...c.get('logFields'),
      llm: done.attempt.label,
      attempts: done.attempts,
      usage: done.completion.usage,
      cost_usd: done.costUsd,
    });
    return tracedResponse(c, wireText(done.completion), 200, {
      'content-type': 'application/json',
      ...attemptHeaders(done.attempt, done.attempts),
    });
  }
  const { llm, registry, plan, tracer, loop, started } = prepareChat(
    services,
    request,
    target,
    usesLatency(services) ? await observedLatency(services, target) : undefined,
  );
  const providerOf = (attempt: Attempt) => providerIn(registry, attempt);

  {
    const streamLoop = { ...loop, signal: clientSignal, deferSuccess: true, timeoutMs: () => llm.routing.first_token_timeout_ms };
    const outcome = await runAttempts(plan, streamLoop, async (attempt, signal) => {
      const span = startAttemptSpan(tracer, attempt, 'chat', registry.get(attempt.provider)?.config.type ?? 'openai', request);
      try {
        return { opened: await openStream(providerOf(attempt), withDefaults(request, attempt), attempt, signal), span };
      } catch (error) {
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
      if (outcome.httpStatus === 499) return clientClosed();
      throw failure(outcome);
    }
    const { attempt } = outcome;
    if (outcome.records.length > 1) recordFallback(services, attempt);
    const logger = c.get('logger');
    services.metrics.llmTimeToFirstToken.record((services.clock.now() - started) / 1000, {
      provider: attempt.provider,
      model: attempt.model,
    });
    c.set('logFields', { ...c.get('logFields'), llm: attempt.label, attempts: outcome.records.length, stream: true });
    return sseResponse({
      opened: outcome.value.opened,
      idleTimeoutMs: llm.routing.idle_timeout_ms,
      capAt: started + llm.routing.stream_max_ms,
      capMs: llm.routing.stream_max_ms,
      headers: attemptHeaders(attempt, outcome.records.length),
      onEnd: (result) => {
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
        const cost = recordUsage(services.metrics, llm, attempt, result.usage);
        endAttemptSpan(outcome.value.span, record, result.usage);
        if (result.status === 'ok') void loop.breaker.success(attempt.label, outcome.breakerState).catch(() => {});
        else if (result.status !== 'client_closed') void loop.breaker.failure(attempt.label, outcome.breakerState).catch(() => false);
        if (result.status === 'client_closed')
          logger.info('client closed the stream', { llm: attempt.label, status: 499, chunks: result.chunks });
        else if (result.error)
          logger.warn('stream failed after the first byte', { llm: attempt.label, status: result.status, error: result.error });
        logger.debug('stream finished', { llm: attempt.label, usage: result.usage, cost_usd: cost, chunks: result.chunks });
      },
    });
  }
}

/** A request that was served only after an earlier attempt failed. */
function recordFallback(services: Services, attempt: Attempt): void {
  const llm = services.config.llm;
  services.metrics.llmFallbacks.add(1, { provider: providerLabel(llm, attempt.provider), model: modelLabel(llm, attempt.model) });
}

/** The plan only holds attempts whose provider is available, so this always finds one. */
function providerIn(registry: ProviderRegistry, attempt: Attempt): ChatProvider {
  const provider = registry.get(attempt.provider)?.provider;
  if (!provider) throw new Error(`provider ${attempt.provider} is not available`);
  return provider;
}

function planError(reason: string): ApiError {
  return reason.startsWith('No available')
    ? new ApiError('UNAVAILABLE', {
        detail: reason,
        hint: 'set the provider keys in the environment (see .env.example); GET /v1/models shows what is available',
      })
    : new ApiError('BAD_REQUEST', { detail: reason, hint: 'GET /v1/models lists the aliases and models' });
}

function attemptHeaders(attempt: Attempt, attempts: number): Record<string, string> {
  return { 'x-myca-provider': attempt.provider, 'x-myca-model': attempt.model, 'x-myca-attempts': String(attempts) };
}

function latencyLabels(llm: ModelsConfig, target: string): string[] {
  const aliases = [target, ...llm.routing.fallback_chain];
  return aliases.flatMap((alias) => {
    const model = llm.models[alias];
    return model ? [`${alias}/${model.provider}/${model.model}`] : [];
  });
}

/** Per-key request limit, counted in the shared key-value store (see SharedCounter for how exact it is). */
const rateLimit: MiddlewareHandler<AppEnv> = async function rateLimitMiddleware(c, next) {
  const services = c.get('services');
  const limit = services.config.llm.routing.rate_limit.requests_per_minute;
  if (limit > 0) {
    const now = services.clock.now();
    const window = Math.floor(now / 60_000);
    const count = sharedCounter(services.kv).hit(`myca:rl:${c.get('principal').id}:${window}`, 61_000, now);
    if (count > limit) {
      const retryAfter = Math.max(1, Math.ceil(((window + 1) * 60_000 - now) / 1000));
      throw new ApiError('RATE_LIMITED', {
        detail: `This key made more than ${limit} requests this minute`,
        hint: `retry after ${retryAfter} s`,
        headers: { 'retry-after': String(retryAfter) },
      });
    }
  }
  await next();
};
