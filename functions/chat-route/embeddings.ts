import type { Context } from 'hono';
import { keyLabel } from '../../shared/governance/labels.js';
import type { AppEnv } from '../../shared/http/types.js';
import { readJson } from '../../shared/http/validate.js';
import { correlationHeaders } from '../../shared/telemetry/correlation.js';
import { runAttempts } from './attempts.js';
import { CircuitBreaker } from './breaker.js';
import { EmbeddingsRequestSchema } from './contract.js';
import { recordCall, recordUsage } from './observe.js';
import { attemptHeaders, clientClosed, failure, planError, providerIn, registryFor } from './pipeline.js';
import { planAttempts } from './plan.js';

const MAX_BODY = 8 * 1024 * 1024;

/** `POST /v1/embeddings`: the model named in the body (or the `embedding` alias), with fallback and the breaker. */
export async function serveEmbeddings(c: Context<AppEnv>): Promise<Response> {
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
    keyLabel(services.metrics, c.get('principal').id, services.config.governance.metrics_max_keys),
  );
  return c.json(outcome.value, 200, attemptHeaders(outcome.attempt, outcome.records.length));
}
