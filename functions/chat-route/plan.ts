import type { ModelConfig, ModelsConfig } from '../../shared/config/index.js';
import type { ChatRequest } from './contract.js';
import { answerBudget, contextWindowOf, type DeploymentCandidate, deploymentsOf, orderDeployments } from './deployments.js';
import { unsupportedOnAnthropic } from './providers/anthropic/request.js';
import { unsupportedOnGemini } from './providers/gemini/translate.js';
import { modelNameProblem } from './providers/model-names.js';
import type { ProviderRegistry } from './providers/registry.js';
import { estimatePromptTokens } from './tokens.js';

/** One labelled try of one model, e.g. `planning/openai/gpt-4o`. */
export interface Attempt {
  label: string;
  /** The task alias it came from, or null for an ad-hoc `provider/model`. */
  alias: string | null;
  provider: string;
  model: string;
  config: ModelConfig;
  /** The deployment that serves it (`x-myca-deployment`): its configured name, else `provider/model`. */
  deployment: string;
  /** The deployment's requests / tokens per minute, when it has them. */
  limits?: { rpm?: number | undefined; tpm?: number | undefined };
}

export interface RoutingInput {
  /** The request's model field, or the x-myca-task header (which wins). */
  target: string;
  kind: 'chat' | 'embedding';
  request?: ChatRequest;
  /** Recent latency per attempt label (ms), for the latency strategy. */
  latencyMs?: ReadonlyMap<string, number>;
  /** Calls in flight per attempt label, for the least_busy strategy. */
  inFlight?: ReadonlyMap<string, number>;
  /** For the weighted strategy (tests seed it). */
  random?: () => number;
}

export type PlanResult = { ok: true; attempts: Attempt[] } | { ok: false; reason: string };

const labelOf = (alias: string | null, config: ModelConfig) => `${alias ?? 'direct'}/${config.provider}/${config.model}`;

/** The configured entry a target names: an alias, a configured model name, or `provider/model`. */
export function resolveTarget(
  config: ModelsConfig,
  target: string,
  kind: ModelConfig['kind'] = 'chat',
): { alias: string | null; model: ModelConfig } | null {
  // Own properties only: `toString`, `constructor/gpt-4o` or `__proto__` name no model.
  const byAlias = Object.hasOwn(config.models, target) ? config.models[target] : undefined;
  if (byAlias) return { alias: target, model: byAlias };
  const byName = Object.entries(config.models).find(([, model]) => model.model === target);
  if (byName) return { alias: byName[0], model: byName[1] };
  const slash = target.indexOf('/');
  if (slash > 0) {
    const provider = target.slice(0, slash);
    const model = target.slice(slash + 1);
    if (Object.hasOwn(config.providers, provider) && model) {
      const configured = Object.entries(config.models).find(([, entry]) => entry.provider === provider && entry.model === model);
      if (configured) return { alias: configured[0], model: configured[1] };
      return {
        alias: null,
        // An ad-hoc model is of the kind the endpoint serves (`gemini/text-embedding-004` on /v1/embeddings).
        model: { provider, model, kind, timeout_ms: 60_000, weight: 1, strategy: 'weighted', supports: { tools: true, json: true } },
      };
    }
  }
  return null;
}

/** Whether a model can serve this request at all (tools, JSON mode, context size). */
export function canServe(model: ModelConfig, request: ChatRequest | undefined): boolean {
  if (!request) return true;
  if (request.tools?.length && !model.supports.tools) return false;
  if (request.response_format && request.response_format.type !== 'text' && !model.supports.json) return false;
  return fitsContext(model, request);
}

/** Whether the estimated prompt plus the answer's budget fits the model's context window (true without one). */
export function fitsContext(model: ModelConfig, request: ChatRequest | undefined): boolean {
  const window = contextWindowOf(model);
  if (!request || !window) return true;
  return estimatePromptTokens(request) + answerBudget(request, model) <= window;
}

const pricePerMillion = (model: ModelConfig) => (model.cost ? model.cost.input + model.cost.output : Number.POSITIVE_INFINITY);

/**
 * The ordered attempts for a request. Pure: the same inputs give the same plan, so every strategy is
 * testable without a network.
 * - `task_type`: the target first, then the fallback chain in order.
 * - `cost`: the target first, then the fallback chain cheapest first (unpriced last).
 * - `latency`: the target first, then the fallback chain by recent latency; a model without data
 *   goes first among them so it gets measured.
 * Models that cannot serve the request (tools, JSON mode, context size) are left out everywhere.
 */
export function planAttempts(config: ModelsConfig, registry: ProviderRegistry, input: RoutingInput): PlanResult {
  const primary = resolveTarget(config, input.target, input.kind);
  if (!primary) {
    const aliases = Object.entries(config.models)
      .filter(([, model]) => model.kind === input.kind)
      .map(([alias]) => alias);
    return {
      ok: false,
      reason: `Unknown model "${input.target}"; use a task alias (${aliases.join(', ')}), a configured model name or provider/model`,
    };
  }
  if (!primary.alias) {
    // A model the caller named (`provider/model`): it may end up in a URL, so only names the
    // provider's API allows go on.
    const type = config.providers[primary.model.provider]?.type ?? 'openai';
    const problem = modelNameProblem(type, primary.model.model);
    if (problem) return { ok: false, reason: `Model "${primary.model.model}" is not a valid ${type} model name: ${problem}` };
  }
  if (primary.model.kind !== input.kind)
    return { ok: false, reason: `"${input.target}" is a ${primary.model.kind} model, not a ${input.kind} model` };

  const order = (alias: string | null, model: ModelConfig) =>
    orderDeployments(deploymentsOf(alias, model), model.strategy, {
      ...(input.random ? { random: input.random } : {}),
      ...(input.inFlight ? { inFlight: input.inFlight } : {}),
      ...(input.latencyMs ? { latencyMs: input.latencyMs } : {}),
      labelOf: (c) => labelOf(c.alias, c.model),
    });
  // The requested task's deployments first (in its strategy's order), then the fallback chain's.
  const candidates: DeploymentCandidate[] = order(primary.alias, primary.model);
  const requestedCount = candidates.length;
  if (config.routing.fallback_enabled && input.kind === 'chat') {
    for (const alias of config.routing.fallback_chain) {
      const model = Object.hasOwn(config.models, alias) ? config.models[alias] : undefined;
      if (model?.kind !== 'chat') continue;
      for (const c of order(alias, model))
        if (!candidates.some((other) => other.model.provider === c.model.provider && other.model.model === c.model.model))
          candidates.push(c);
    }
  }
  // A parameter a provider cannot honour (Gemini, Anthropic): a 400 when the caller asked for such a
  // model, and such fallbacks are left out (they would refuse it, or silently drop it).
  const refused = (model: ModelConfig): string | undefined => {
    if (!input.request) return undefined;
    const type = config.providers[model.provider]?.type;
    return type === 'gemini'
      ? unsupportedOnGemini(input.request)
      : type === 'anthropic'
        ? unsupportedOnAnthropic(input.request)
        : undefined;
  };
  const primaryRefuses = refused(primary.model);
  if (primaryRefuses) {
    const kind = config.providers[primary.model.provider]?.type === 'gemini' ? 'Gemini' : 'Anthropic';
    return {
      ok: false,
      reason: `"${primaryRefuses}" is not supported by ${primary.model.model} (${kind}); remove it or name a model of an OpenAI-type provider`,
    };
  }
  let usable = candidates.filter((c) => registry.get(c.model.provider)?.provider && canServe(c.model, input.request) && !refused(c.model));
  if (usable.length === 0 && input.request) {
    const tooLong = candidates.filter((c) => registry.get(c.model.provider)?.provider && !fitsContext(c.model, input.request));
    if (tooLong.length > 0 && tooLong.length === candidates.filter((c) => registry.get(c.model.provider)?.provider).length) {
      const largest = Math.max(...tooLong.map((c) => contextWindowOf(c.model) ?? 0));
      return {
        ok: false,
        reason: `The prompt (about ${estimatePromptTokens(input.request)} tokens estimated) plus max_tokens does not fit the context window of any model that could serve it (the largest is ${largest} tokens); shorten the messages or lower max_tokens`,
      };
    }
  }
  if (usable.length === 0) {
    const reasons = candidates.map((c) => `${c.model.provider}: ${registry.get(c.model.provider)?.reason ?? 'cannot serve this request'}`);
    return { ok: false, reason: `No available model can serve this request (${[...new Set(reasons)].join('; ')})` };
  }
  // The model the request names always goes first while it can serve: a caller who asks for
  // `planning` gets planning's model, never a cheaper or faster stand-in. The strategies order only
  // the fallbacks behind it (the fallback chain).
  const strategy = config.routing.strategy;
  if ((strategy === 'cost' || strategy === 'latency') && usable.length > 2) {
    const requested = usable.filter((c) => candidates.indexOf(c) < requestedCount);
    const fallbacks = usable.slice(requested.length).map((c, index) => ({ c, index }));
    const latency = (c: (typeof usable)[number]) => input.latencyMs?.get(labelOf(c.alias, c.model)) ?? -1;
    const key = strategy === 'cost' ? (c: (typeof usable)[number]) => pricePerMillion(c.model) : latency;
    fallbacks.sort((a, b) => key(a.c) - key(b.c) || a.index - b.index);
    usable = [...requested, ...fallbacks.map(({ c }) => c)];
  }
  // Without fallback the candidates are the requested task's deployments only: they still stand in for each other.
  return {
    ok: true,
    attempts: usable.map((c) => ({
      label: labelOf(c.alias, c.model),
      alias: c.alias,
      provider: c.model.provider,
      model: c.model.model,
      config: c.model,
      deployment: c.deployment,
      ...(c.limits ? { limits: c.limits } : {}),
    })),
  };
}
