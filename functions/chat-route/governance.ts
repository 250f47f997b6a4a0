/**
 * Per-key policy of an LLM request, chat or embeddings (shared/governance): the agents a key may act as, its model
 * allow-list and unpriced models, and its RPM, TPM and budget counted exactly across instances in
 * the key-value store. A request reserves its worst case before the first attempt and settles to
 * what it used after the last (streams: when they end); every call leaves a spend row.
 */
import type { Context } from 'hono';
import type { ModelConfig } from '../../shared/config/index.js';
import { keyDirectory } from '../../shared/governance/directory.js';
import type { KeyPolicy } from '../../shared/governance/keys.js';
import { keyLabel } from '../../shared/governance/labels.js';
import { counterKeys, NANO_USD, settleBatcher, toNano, windowsAt } from '../../shared/governance/limits.js';
import { type SpendKind, spendWriter } from '../../shared/governance/spend.js';
import { inBackground } from '../../shared/http/background.js';
import { ApiError } from '../../shared/http/errors.js';
import type { AppEnv } from '../../shared/http/types.js';
import type { BoundedAdd } from '../../shared/kv/index.js';
import type { Services } from '../../shared/services.js';
import type { ChatRequest, EmbeddingsRequest, Usage } from './contract.js';
import { deploymentsOf } from './deployments.js';
import { costOf } from './observe.js';
import type { Attempt } from './plan.js';
import { estimateInputTokens, estimatePromptTokens } from './tokens.js';

/** Who a chat call is for: the key, the agent it acts as, the run, the request. */
export interface Governance {
  keyId: string;
  /** The agent named by `x-myca-agent` (or the agent run), checked against the key's agents. */
  agent: string | null;
  runId: string | null;
  correlationId: string;
  /** Keeps work going after the answer (the request's waitUntil in workerd). */
  background?: (promise: Promise<unknown>) => void;
}

/** Output tokens reserved for a request that names no max_tokens and whose model has no default. */
export const DEFAULT_OUTPUT_RESERVE = 1024;

const AGENT = /^[a-z][a-z0-9_-]{0,63}$/;
const RUN = /^[A-Za-z0-9._:-]{1,128}$/;

/** The governance of an HTTP request: its key, `x-myca-agent` and `x-myca-run` (checked here, at the edge). */
export function governanceOf(c: Context<AppEnv>): Governance {
  const agent = c.req.header('x-myca-agent') ?? null;
  const runId = c.req.header('x-myca-run') ?? null;
  if (agent !== null && !AGENT.test(agent))
    throw new ApiError('BAD_REQUEST', {
      detail: 'x-myca-agent is not an agent name',
      hint: 'send the name of an agent of config/agents.yaml',
    });
  if (runId !== null && !RUN.test(runId))
    throw new ApiError('BAD_REQUEST', { detail: 'x-myca-run is not a run id', hint: 'send 1-128 of A-Z a-z 0-9 . _ : -' });
  return {
    keyId: c.get('principal').id,
    agent,
    runId,
    correlationId: c.get('correlationId'),
    // Node has no waitUntil (and asking for it throws): work simply runs on there.
    ...(c.get('services').runtime === 'workerd' ? { background: (promise: Promise<unknown>) => inBackground(c, promise) } : {}),
  };
}

/** What a finished call reports to its gate. */
export interface Settlement {
  attempt: Attempt | undefined;
  usage: Usage | undefined;
  /** `ok` or how the call failed. */
  status: string;
  attempts: number;
  latencyMs: number;
  stream: boolean;
}

export interface Gate {
  /** The plan less what the key may not use. */
  plan: Attempt[];
  /** The key's bounded metrics label. */
  keyLabel: string;
  /** Settles the reservation with what was used and queues the spend row; returns the cost (undefined: unpriced). */
  settle(done: Settlement): number | undefined;
}

/** What a request asks of its key's policy: the task it names and how to work out its worst case. */
export interface Demand {
  kind: SpendKind;
  /** The task alias or model the request names (the spend row's `task`). */
  task: string;
  /** Its prompt (input) estimate; asked only for a key that counts tokens or money. */
  promptTokens: () => number;
  /** The most output tokens it may use on the attempts the key allows. */
  outputTokens: (allowed: Attempt[]) => number;
}

/** {@link admit} for a chat request: its output is max_tokens, else the dearest model's default. */
export function admitChat(services: Services, gov: Governance, plan: Attempt[], request: ChatRequest, task: string): Promise<Gate> {
  return admit(services, gov, plan, {
    kind: 'chat',
    task,
    promptTokens: () => estimatePromptTokens(request),
    outputTokens: (allowed) =>
      request.max_completion_tokens ?? request.max_tokens ?? Math.max(...allowed.map((a) => a.config.max_tokens ?? DEFAULT_OUTPUT_RESERVE)),
  });
}

/** {@link admit} for `POST /v1/embeddings`: its input's tokens, no output. */
export function admitEmbeddings(
  services: Services,
  gov: Governance,
  plan: Attempt[],
  request: EmbeddingsRequest,
  task: string,
): Promise<Gate> {
  return admit(services, gov, plan, {
    kind: 'embedding',
    task,
    promptTokens: () => estimateInputTokens(request.input),
    outputTokens: () => 0,
  });
}

/**
 * Checks the key's policy (agent, models, prices) on the plan and reserves the request's worst case
 * against its RPM, TPM and budget in one store operation; throws the refusal. The one gate of every
 * governed LLM call, chat and embeddings.
 */
export async function admit(services: Services, gov: Governance, plan: Attempt[], demand: Demand): Promise<Gate> {
  const { task } = demand;
  const directory = keyDirectory(services.kv);
  // Known without a promise on the hot path (a cached key, no generation check due; a configured key).
  const policy = directory.policyCached(services, gov.keyId) ?? (await directory.policy(services, gov.keyId));
  if (!policy) throw new ApiError('UNAUTHENTICATED', { detail: 'The key was revoked', hint: 'use another key' });
  const agent = agentOf(services, policy, gov.agent);
  const allowed = allowedPlan(services, policy, plan, task);
  const now = services.clock.now();
  const windows = windowsAt(now, policy.budget_period);
  const keys = counterKeys(policy.id, windows);
  // The worst case is only worked out for a key that counts tokens or money (most keys count neither).
  const counts = policy.tpm !== null || policy.budget_usd !== null;
  const promptEstimate = counts ? demand.promptTokens() : 0;
  const output = counts ? demand.outputTokens(allowed) : 0;
  const reserveTokens = promptEstimate + output;
  const worstCost =
    policy.budget_usd !== null
      ? Math.max(
          0,
          ...allowed.map((a) => costOf(a, { prompt_tokens: promptEstimate, completion_tokens: output, total_tokens: reserveTokens }) ?? 0),
        )
      : 0;
  const reserveNano = policy.budget_usd !== null ? toNano(worstCost) : 0;
  const counters: BoundedAdd[] = [];
  const minuteTtl = windows.minuteEnd - now + 1000;
  const requests = requestCounter(services, policy, keys, windows, now);
  if (requests) counters.push(requests);
  if (policy.tpm !== null) counters.push({ key: keys.tokens, by: reserveTokens, max: policy.tpm, ttlMs: minuteTtl });
  if (policy.budget_usd !== null)
    counters.push({ key: keys.spend, by: reserveNano, max: toNano(policy.budget_usd), ttlMs: windows.periodEnd - now + 3_600_000 });
  if (counters.length > 0) {
    let answer: Awaited<ReturnType<typeof services.kv.addWithin>>;
    try {
      answer = await services.kv.addWithin(counters);
    } catch (error) {
      throw limitsUnavailable(error);
    }
    if (!answer.ok) throw refusal(services, policy, counters[answer.index] as BoundedAdd, keys, windows, now);
  }
  const label = keyLabel(services.metrics, policy.id, services.config.governance.metrics_max_keys);
  let settled = false;
  return {
    plan: allowed,
    keyLabel: label,
    settle: (settlement) => {
      // A success whose provider reported no usage is counted at its estimate (the reservation's
      // worst case), never as a free call; the log says so.
      const estimated = settlement.usage === undefined && settlement.status === 'ok';
      const done = estimated ? { ...settlement, usage: estimateOf(counts, promptEstimate, output, demand, allowed) } : settlement;
      const cost = done.attempt && done.usage ? costOf(done.attempt, done.usage) : undefined;
      if (settled) return cost;
      settled = true;
      if (estimated) services.logger.warn('the provider reported no usage: counted at the estimate', { key: policy.id, task });
      const used = done.usage ? done.usage.prompt_tokens + done.usage.completion_tokens : 0;
      const back: BoundedAdd[] = [];
      for (const counter of counters) {
        if (counter.key === keys.requests) continue;
        const by = counter.key === keys.tokens ? used - reserveTokens : toNano(cost ?? 0) - reserveNano;
        if (by !== 0) back.push({ key: counter.key, by, max: null, ttlMs: counter.ttlMs });
      }
      if (back.length > 0) {
        const warn = (error: unknown) =>
          services.logger.warn('keys’ usage could not be settled in the key-value store', { error: error as Error });
        // Node: the differences of many calls share one store call; workerd: this request's own, under waitUntil.
        if (services.runtime === 'node') settleBatcher(services.kv, warn).add(back);
        else gov.background?.(services.kv.addWithin(back).then(() => undefined, warn));
      }
      const write = spendWriter(services).add(
        {
          at: new Date(now),
          kind: demand.kind,
          key_id: policy.id,
          agent,
          run_id: gov.runId,
          correlation_id: gov.correlationId,
          task,
          provider: done.attempt?.provider ?? null,
          model: done.attempt?.model ?? null,
          prompt_tokens: done.usage?.prompt_tokens ?? 0,
          completion_tokens: done.usage?.completion_tokens ?? 0,
          cost_usd: cost ?? null,
          latency_ms: Math.max(0, Math.round(done.latencyMs)),
          status: done.status,
          attempts: done.attempts,
          stream: done.stream,
        },
        services.db,
      );
      if (write) gov.background?.(write);
      return cost;
    },
  };
}

/** A call's worst case as usage: its prompt estimate and the most output it may use. */
function estimateOf(counted: boolean, prompt: number, output: number, demand: Demand, allowed: Attempt[]): Usage {
  const promptTokens = counted ? prompt : demand.promptTokens();
  const outputTokens = counted ? output : demand.outputTokens(allowed);
  return { prompt_tokens: promptTokens, completion_tokens: outputTokens, total_tokens: promptTokens + outputTokens };
}

/** A key's requests this minute as a bounded counter, or undefined when it counts none (a configured key, rpm 0). */
function requestCounter(
  services: Services,
  policy: KeyPolicy,
  keys: ReturnType<typeof counterKeys>,
  windows: ReturnType<typeof windowsAt>,
  now: number,
): BoundedAdd | undefined {
  const rpm = policy.source === 'data' ? (policy.rpm ?? services.config.llm.routing.rate_limit.requests_per_minute) : 0;
  return rpm > 0 ? { key: keys.requests, by: 1, max: rpm, ttlMs: windows.minuteEnd - now + 1000 } : undefined;
}

const limitsUnavailable = (error: unknown) =>
  new ApiError('UNAVAILABLE', {
    detail: 'The key’s limits cannot be checked now (the key-value store or the database did not answer)',
    hint: 'retry shortly',
    headers: { 'retry-after': '1' },
    cause: error,
  });

/**
 * One request of a key that passes no gate (reading or deleting stored responses) on the gate's own
 * request counter, so that all of a key's requests share its `rpm`; the gate's 429 when it is spent.
 */
export async function countRequest(services: Services, keyId: string): Promise<void> {
  const directory = keyDirectory(services.kv);
  let policy: KeyPolicy | null;
  try {
    policy = directory.policyCached(services, keyId) ?? (await directory.policy(services, keyId));
  } catch (error) {
    throw limitsUnavailable(error);
  }
  if (!policy) return; // revoked: authentication refuses it
  const now = services.clock.now();
  const windows = windowsAt(now, policy.budget_period);
  const keys = counterKeys(policy.id, windows);
  const counter = requestCounter(services, policy, keys, windows, now);
  if (!counter) return;
  let answer: Awaited<ReturnType<typeof services.kv.addWithin>>;
  try {
    answer = await services.kv.addWithin([counter]);
  } catch (error) {
    throw limitsUnavailable(error);
  }
  if (!answer.ok) throw refusal(services, policy, counter, keys, windows, now);
}

/** The agent a call is attributed to: the one named (if the key may act as it), else the key's only agent. */
function agentOf(services: Services, policy: KeyPolicy, named: string | null): string | null {
  if (named === null) return policy.agents.length === 1 ? (policy.agents[0] ?? null) : null;
  if (policy.agents.includes(named)) return named;
  services.metrics.llmGovernanceRefusals.add(1, { reason: 'agent' });
  throw new ApiError('FORBIDDEN', {
    detail: `The key "${policy.id}" may not act as the agent "${named}"`,
    hint: policy.agents.length > 0 ? `it may act as: ${policy.agents.join(', ')}` : 'this key may act as no agent; leave out x-myca-agent',
  });
}

/** `*` matches any run of characters; everything else literally. */
function matches(pattern: string, value: string): boolean {
  if (!pattern.includes('*')) return pattern === value;
  const regex = new RegExp(
    `^${pattern
      .split('*')
      .map((part) => part.replace(/[.+?^${}()|[\]\\/]/g, '\\$&'))
      .join('.*')}$`,
  );
  return regex.test(value);
}

/** Whether a model is on the key's allow-list (an alias, `provider/model` or the bare model; `*` wildcards). */
const onList = (policy: KeyPolicy, model: Pick<Attempt, 'alias' | 'provider' | 'model'>) =>
  !policy.models ||
  policy.models.some(
    (pattern) =>
      (model.alias !== null && matches(pattern, model.alias)) ||
      matches(pattern, `${model.provider}/${model.model}`) ||
      matches(pattern, model.model),
  );
/** Whether the key may call a model for its price: it has one, or the key allows unpriced models. */
const priced = (policy: KeyPolicy, config: ModelConfig) => policy.allow_unpriced || config.cost !== undefined;

/**
 * Which of the configured aliases a key may call (`GET /v1/models` lists only those): its allow-list
 * and unpriced models, as the gate applies them. Every alias for a key the directory does not know
 * or cannot look up now (the gate refuses its calls all the same).
 */
export async function usableModels(services: Services, keyId: string): Promise<(alias: string, config: ModelConfig) => boolean> {
  const directory = keyDirectory(services.kv);
  // A listing is not a permission: when the directory cannot answer, every alias is listed (the gate still decides).
  const policy = directory.policyCached(services, keyId) ?? (await directory.policy(services, keyId).catch(() => undefined));
  if (!policy) return () => true;
  // As the gate sees them: an alias with deployments is each of its deployments (their models and prices).
  return (alias, config) =>
    deploymentsOf(alias, config).some(
      ({ model }) => onList(policy, { alias, provider: model.provider, model: model.model }) && priced(policy, model),
    );
}

function allowedPlan(services: Services, policy: KeyPolicy, plan: Attempt[], task: string): Attempt[] {
  const listed = policy.models;
  // The model asked for is refused outright (never silently swapped); fallbacks the key may not use are left out.
  const first = plan[0];
  if (first && !onList(policy, first)) {
    services.metrics.llmGovernanceRefusals.add(1, { reason: 'model' });
    throw new ApiError('FORBIDDEN', {
      detail: `The key "${policy.id}" may not use "${task}"`,
      hint: `its models: ${(listed ?? []).join(', ')}`,
    });
  }
  if (first && !priced(policy, first.config)) {
    services.metrics.llmGovernanceRefusals.add(1, { reason: 'model' });
    throw new ApiError('FORBIDDEN', {
      detail: `"${task}" has no configured price, and the key "${policy.id}" may not call unpriced models`,
      hint: 'use a model with cost in config/models.yaml, or allow_unpriced on the key (PATCH /v1/keys/:id)',
    });
  }
  return plan.filter((attempt) => onList(policy, attempt) && priced(policy, attempt.config));
}

function refusal(
  services: Services,
  policy: KeyPolicy,
  counter: BoundedAdd,
  keys: ReturnType<typeof counterKeys>,
  windows: ReturnType<typeof windowsAt>,
  now: number,
): ApiError {
  const kind = counter.key === keys.requests ? 'rate_limited' : counter.key === keys.tokens ? 'tokens_exhausted' : 'budget_exceeded';
  services.metrics.llmGovernanceRefusals.add(1, { reason: kind });
  const resetsAt = kind === 'budget_exceeded' ? windows.periodEnd : windows.minuteEnd;
  const retryAfter = String(Math.max(1, Math.ceil((resetsAt - now) / 1000)));
  const reset = { resets_at: new Date(resetsAt).toISOString(), limit: counter.max };
  const tooBig = counter.max !== null && counter.by > counter.max;
  if (kind === 'rate_limited')
    return new ApiError('RATE_LIMITED', {
      detail: `The key made ${counter.max} requests this minute, its limit`,
      hint: `retry after ${retryAfter} s`,
      headers: { 'retry-after': retryAfter },
      extra: reset,
    });
  if (kind === 'tokens_exhausted')
    return new ApiError('TOKENS_EXHAUSTED', {
      detail: `The key's ${counter.max} tokens a minute are used up (this request reserves ${counter.by}: its prompt estimate plus max_tokens)`,
      hint: tooBig
        ? 'this request alone reserves more than the limit: lower max_tokens or shorten the prompt'
        : `retry after ${retryAfter} s`,
      headers: { 'retry-after': retryAfter },
      extra: reset,
    });
  return new ApiError('BUDGET_EXCEEDED', {
    detail: `The key's budget of ${policy.budget_usd} USD a ${policy.budget_period} is spent (this request may cost up to ${(counter.by / NANO_USD).toFixed(6)} USD)`,
    hint: `the budget resets at ${reset.resets_at}; an admin can raise it with PATCH /v1/keys/${policy.id}`,
    headers: { 'retry-after': retryAfter },
    extra: { ...reset, limit: policy.budget_usd },
  });
}
