/**
 * Deployments: a task alias may be served by several deployments (two accounts or regions of one
 * model, or different models), each with its own breaker label, weight and optional rpm/tpm. This
 * file expands a task into them, orders them by the task's strategy, and keeps the per-deployment
 * counters the strategies and limits read.
 */
import type { DeploymentConfig, ModelConfig } from '../../shared/config/index.js';
import { sharedCounter } from '../../shared/kv/counter.js';
import type { KeyValueStore } from '../../shared/kv/index.js';
import type { ChatRequest } from './contract.js';

/** One deployment of a task, as the planner sees it: the task's settings with the deployment's over them. */
export interface DeploymentCandidate {
  alias: string | null;
  /** The task's settings, with this deployment's provider, model, weight, cost, window and timeout. */
  model: ModelConfig;
  /** `x-myca-deployment`: the configured name, else `provider/model`. */
  deployment: string;
  limits?: { rpm?: number | undefined; tpm?: number | undefined };
}

/** The deployments a task lists, or the task itself as its one deployment (the single-model form). */
export function deploymentsOf(alias: string | null, model: ModelConfig): DeploymentCandidate[] {
  if (!model.deployments?.length) return [{ alias, model, deployment: `${model.provider}/${model.model}` }];
  return model.deployments.map((d: DeploymentConfig) => ({
    alias,
    model: {
      ...model,
      provider: d.provider,
      model: d.model,
      weight: d.weight,
      ...(d.cost ? { cost: d.cost } : {}),
      ...(d.context_window ? { context_window: d.context_window } : {}),
      ...(d.timeout_ms ? { timeout_ms: d.timeout_ms } : {}),
      deployments: undefined,
    },
    deployment: d.name ?? `${d.provider}/${d.model}`,
    ...(d.rpm || d.tpm ? { limits: { rpm: d.rpm, tpm: d.tpm } } : {}),
  }));
}

export interface OrderInputs {
  random?: () => number;
  /** Calls in flight per attempt label (this process). */
  inFlight?: ReadonlyMap<string, number>;
  /** Recent latency per attempt label (ms). */
  latencyMs?: ReadonlyMap<string, number>;
  labelOf: (c: DeploymentCandidate) => string;
}

const price = (model: ModelConfig) => (model.cost ? model.cost.input + model.cost.output : Number.POSITIVE_INFINITY);

/**
 * A task's deployments in the order they are tried. `weighted`: a weighted random order (sampling
 * without replacement: the first is deployment i with probability weight_i / Σweights, the rest
 * follow likewise), so every deployment stays a fallback for the others. `least_busy`: fewest calls
 * in flight first, ties in weighted random order. `cost`: cheapest first. `latency`: fastest recent
 * average first, unmeasured ones before them (so they get measured). Weight 0 goes last in every order.
 */
export function orderDeployments(
  candidates: DeploymentCandidate[],
  strategy: ModelConfig['strategy'],
  inputs: OrderInputs,
): DeploymentCandidate[] {
  if (candidates.length < 2) return candidates;
  const random = inputs.random ?? Math.random;
  // Efraimidis–Spirakis: key u^(1/w), largest first, is weighted sampling without replacement.
  const keyed = candidates.map((c, index) => ({
    c,
    index,
    key: c.model.weight > 0 ? random() ** (1 / c.model.weight) : -1,
  }));
  keyed.sort((a, b) => b.key - a.key);
  if (strategy === 'weighted') return keyed.map((k) => k.c);
  const score =
    strategy === 'least_busy'
      ? (c: DeploymentCandidate) => inputs.inFlight?.get(inputs.labelOf(c)) ?? 0
      : strategy === 'cost'
        ? (c: DeploymentCandidate) => price(c.model)
        : (c: DeploymentCandidate) => inputs.latencyMs?.get(inputs.labelOf(c)) ?? -1;
  const zeroLast = (c: DeploymentCandidate) => (c.model.weight > 0 ? 0 : 1);
  const ordered = keyed.map((k, rank) => ({ c: k.c, rank }));
  ordered.sort((a, b) => zeroLast(a.c) - zeroLast(b.c) || score(a.c) - score(b.c) || a.rank - b.rank);
  return ordered.map((o) => o.c);
}

/** Calls in flight per attempt label in this process (workerd: this isolate), for `least_busy`. */
const inFlight = new Map<string, number>();
export const inFlightCalls: ReadonlyMap<string, number> = inFlight;

/** Counts a call to `label` as in flight until the returned function runs (once). */
export function trackInFlight(label: string): () => void {
  inFlight.set(label, (inFlight.get(label) ?? 0) + 1);
  let done = false;
  return () => {
    if (done) return;
    done = true;
    const left = (inFlight.get(label) ?? 1) - 1;
    if (left > 0) inFlight.set(label, left);
    else inFlight.delete(label);
  };
}

const minute = (now: number) => Math.floor(now / 60_000);
const WINDOW_TTL_MS = 61_000;

/**
 * Per-deployment requests and tokens per minute, counted in the shared key-value store through the
 * process's {@link sharedCounter} (exact for this process, up to its flush interval behind for the
 * others). A deployment at its rpm or tpm is skipped until the minute turns.
 */
export class DeploymentLimits {
  constructor(private readonly kv: KeyValueStore) {}

  /** Whether `label` may take one more request now; when it may, the request is counted. */
  admit(label: string, limits: DeploymentCandidate['limits'], now = Date.now()): boolean {
    if (!limits) return true;
    const counter = sharedCounter(this.kv);
    const window = minute(now);
    if (limits.tpm && counter.total(`myca:dep:tpm:${label}:${window}`) >= limits.tpm) return false;
    if (limits.rpm) {
      const key = `myca:dep:rpm:${label}:${window}`;
      if (counter.total(key) >= limits.rpm) return false;
      counter.hit(key, WINDOW_TTL_MS, now);
    }
    return true;
  }

  /** Adds a call's tokens to its deployment's minute (only deployments with a tpm count them). */
  useTokens(label: string, limits: DeploymentCandidate['limits'], tokens: number | undefined, now = Date.now()): void {
    if (!limits?.tpm || !tokens) return;
    sharedCounter(this.kv).hit(`myca:dep:tpm:${label}:${minute(now)}`, WINDOW_TTL_MS, now, tokens);
  }
}

/** The largest answer the request allows: its own max_tokens, else the model's configured one, else 0. */
export const answerBudget = (request: ChatRequest, model: ModelConfig) =>
  request.max_completion_tokens ?? request.max_tokens ?? model.max_tokens ?? 0;

/** The model's context window, from `context_window` (or the older `supports.context_tokens`). */
export const contextWindowOf = (model: ModelConfig) => model.context_window ?? model.supports.context_tokens;

/**
 * A provider saying the prompt does not fit its model: OpenAI's (and Azure's) `context_length_exceeded`
 * code, Gemini's 400 "The input token count (…) exceeds the maximum number of tokens allowed (…)",
 * and the wording of OpenAI-compatible servers and Anthropic ("maximum context length", "prompt is too long").
 */
export function isContextLengthError(error: { status: number | undefined; code?: string | undefined; message: string }): boolean {
  if (error.code === 'context_length_exceeded') return true;
  if (error.status !== 400 && error.status !== 413) return false;
  return /context[_ ]length|maximum context|input token count.*exceeds|exceeds the maximum number of tokens|prompt is too long/i.test(
    error.message,
  );
}
