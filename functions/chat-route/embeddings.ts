import type { Context } from 'hono';
import type { AppEnv } from '../../shared/http/types.js';
import { readJson } from '../../shared/http/validate.js';
import { correlationHeaders } from '../../shared/telemetry/correlation.js';
import { runAttempts } from './attempts.js';
import { CircuitBreaker } from './breaker.js';
import { EmbeddingsRequestSchema, type Usage } from './contract.js';
import { admitEmbeddings, governanceOf } from './governance.js';
import { recordCall, recordUsage } from './observe.js';
import { attemptHeaders, clientClosed, failure, planError, providerIn, registryFor } from './pipeline.js';
import { planAttempts } from './plan.js';
import { countedUsage } from './tokens.js';

const MAX_BODY = 8 * 1024 * 1024;

/**
 * `POST /v1/embeddings`: the model named in the body (or the `embedding` alias), with fallback and
 * the breaker. The key's policy applies as to chat (governance.ts: agent, models, prices, RPM, TPM
 * on the input's tokens, budget) and the call leaves one spend row of kind `embedding`.
 */
export async function serveEmbeddings(c: Context<AppEnv>): Promise<Response> {
  const services = c.get('services');
  const llm = services.config.llm;
  const request = await readJson(c, EmbeddingsRequestSchema, { limit: MAX_BODY });
  const governance = governanceOf(c);
  // Task headers pick chat aliases; an embeddings request names its model in the body, or gets `embedding`.
  const target = request.model || 'embedding';
  const registry = registryFor(services);
  const plan = planAttempts(llm, registry, { target, kind: 'embedding' });
  if (!plan.ok) throw planError(plan.reason);
  const started = services.clock.now();
  const gate = await admitEmbeddings(services, governance, plan.attempts, request, target);
  const breaker = new CircuitBreaker(services.kv, llm.routing.breaker);
  const outcome = await runAttempts(
    gate.plan,
    {
      routing: llm.routing,
      breaker,
      deadlineAt: started + llm.routing.deadline_ms,
      signal: c.req.raw.signal,
      onResult: (attempt, record) => recordCall(services.metrics, llm, attempt, record),
    },
    (attempt, signal) => providerIn(registry, attempt).embed(request, { model: attempt.model, signal, headers: correlationHeaders() }),
  );
  const settlement = { attempts: outcome.records.length, latencyMs: services.clock.now() - started, stream: false };
  if (!outcome.ok) {
    const last = outcome.records.at(-1);
    gate.settle({
      ...settlement,
      attempt: gate.plan.find((a) => a.label === last?.label),
      usage: undefined,
      status: String(outcome.httpStatus === 499 ? 'client_closed' : outcome.httpStatus),
    });
    if (outcome.httpStatus === 499) return clientClosed();
    throw failure(outcome);
  }
  const reported = countedUsage(outcome.value.usage ? { ...outcome.value.usage, completion_tokens: 0 } : undefined);
  // An embedding's tokens are all input: they count as prompt tokens at the model's input price.
  const usage: Usage | undefined = reported
    ? { prompt_tokens: reported.prompt_tokens, completion_tokens: 0, total_tokens: reported.total_tokens }
    : undefined;
  gate.settle({ ...settlement, attempt: outcome.attempt, usage, status: 'ok' });
  recordUsage(services.metrics, llm, outcome.attempt, usage, gate.keyLabel);
  return c.json(outcome.value, 200, attemptHeaders(outcome.attempt, outcome.records.length));
}
