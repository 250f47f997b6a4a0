import { z } from 'zod';

export const PROVIDER_TYPES = ['openai', 'azure', 'gemini', 'anthropic', 'openai_compatible'] as const;
export type ProviderType = (typeof PROVIDER_TYPES)[number];

/** YAML gives booleans, env interpolation gives strings: accept both ("false" must mean false). */
const flag = z.union([z.boolean(), z.stringbool()]);

const ProviderSchema = z.object({
  type: z.enum(PROVIDER_TYPES, { error: `expected one of ${PROVIDER_TYPES.join(', ')}` }),
  /** true: a missing key stops the start; false: never used; unset: available when configured. */
  enabled: flag.optional(),
  api_key: z.string().min(1).optional(),
  base_url: z.url({ protocol: /^https?$/, error: 'expected an http(s) URL' }).optional(),
  endpoint: z.url({ protocol: /^https?$/, error: 'expected an http(s) URL' }).optional(),
  api_version: z.string().optional(),
  /**
   * How `POST /v1/responses` reaches this provider: `native` sends it to the provider's own
   * `/responses` (OpenAI's Responses API), `bridge` translates it to chat completions. Default: native
   * for `openai`, bridge for the rest; only OpenAI-wire providers (openai, azure, openai_compatible)
   * can be native.
   */
  responses_api: z.enum(['native', 'bridge']).optional(),
});

/** One place a task's model is served from (a provider account or region); `weight` shares the load. */
const DeploymentSchema = z.object({
  /** Names it in `x-myca-deployment` and logs; default `provider/model`. */
  name: z
    .string()
    .regex(/^[A-Za-z0-9._/-]+$/, 'deployment names are A-Z a-z 0-9 . _ - /')
    .optional(),
  provider: z.string().min(1),
  model: z.string().min(1),
  weight: z.coerce.number().min(0).default(1),
  /** Requests / tokens per minute this deployment takes; past them it is skipped until the next minute. */
  rpm: z.coerce.number().int().positive().optional(),
  tpm: z.coerce.number().int().positive().optional(),
  context_window: z.coerce.number().int().positive().optional(),
  cost: z.object({ input: z.coerce.number().min(0), output: z.coerce.number().min(0) }).optional(),
  timeout_ms: z.coerce.number().int().min(100).max(600_000).optional(),
});

/** The response cache's settings: `cache:` at the top sets the defaults, a task's own `cache:` overrides them. */
const CacheSchema = z.object({
  enabled: flag.optional(),
  ttl_s: z.coerce.number().int().min(1).optional(),
  /** Cache requests that are not deterministic (temperature > 0, tools offered, n > 1) too. */
  any_request: flag.optional(),
  /** Semantic match in Qdrant over the embedding task; off unless set. */
  semantic: flag.optional(),
  /** Cosine similarity a semantic hit needs (0..1). */
  threshold: z.coerce.number().min(0).max(1).optional(),
  /** The embedding task alias semantic matching embeds prompts with. */
  embedding: z.string().min(1).optional(),
});

const ModelSchema = z.object({
  provider: z.string().min(1),
  model: z.string().min(1),
  kind: z.enum(['chat', 'embedding']).default('chat'),
  temperature: z.coerce.number().min(0).max(2).optional(),
  max_tokens: z.coerce.number().int().positive().optional(),
  timeout_ms: z.coerce.number().int().min(100).max(600_000).default(60_000),
  cost: z.object({ input: z.coerce.number().min(0), output: z.coerce.number().min(0) }).optional(),
  weight: z.coerce.number().min(0).default(1),
  /** Tokens the model takes in and writes out together; requests that cannot fit skip it. */
  context_window: z.coerce.number().int().positive().optional(),
  /** Several deployments of the task, load-balanced by `strategy`; provider/model default to the first. */
  deployments: z.array(DeploymentSchema).min(1).optional(),
  /** How the task picks among its deployments: weighted (random by weight), least_busy, cost or latency. */
  strategy: z.enum(['weighted', 'least_busy', 'cost', 'latency']).default('weighted'),
  cache: CacheSchema.optional(),
  /** What the model can do; the cost strategy skips models that cannot serve a request. */
  supports: z
    .object({
      tools: z.boolean().default(true),
      json: z.boolean().default(true),
      context_tokens: z.coerce.number().int().positive().optional(),
    })
    .default({ tools: true, json: true }),
});

/** The multi-deployment form may leave provider/model out: they default to the first deployment's. */
function firstDeployment(value: unknown): unknown {
  if (!value || typeof value !== 'object') return value;
  const entry = value as { provider?: unknown; model?: unknown; deployments?: unknown };
  const first = Array.isArray(entry.deployments)
    ? (entry.deployments[0] as { provider?: unknown; model?: unknown } | undefined)
    : undefined;
  if (!first || typeof first !== 'object') return value;
  return { ...entry, provider: entry.provider ?? first.provider, model: entry.model ?? first.model };
}

const positiveMs = z.coerce.number().int().min(0);

const RoutingSchema = z.object({
  strategy: z.enum(['task_type', 'cost', 'latency'], { error: 'expected task_type, cost or latency' }).default('task_type'),
  fallback_enabled: flag.default(true),
  fallback_chain: z.array(z.string()).default([]),
  retries: z.coerce.number().int().min(0).max(5).default(1),
  backoff_ms: positiveMs.default(200),
  max_backoff_ms: positiveMs.default(2000),
  retry_after_cap_ms: positiveMs.default(5000),
  deadline_ms: z.coerce.number().int().min(100).default(120_000),
  first_token_timeout_ms: z.coerce.number().int().min(100).default(15_000),
  idle_timeout_ms: z.coerce.number().int().min(100).default(30_000),
  /** A stream's whole length from the request's arrival; `deadline_ms` bounds only the time until it opens. */
  stream_max_ms: z.coerce.number().int().min(100).default(600_000),
  breaker: z
    .object({
      failures: z.coerce.number().int().min(1).default(5),
      window_ms: positiveMs.default(30_000),
      cooldown_ms: positiveMs.default(30_000),
    })
    .default({ failures: 5, window_ms: 30_000, cooldown_ms: 30_000 }),
  rate_limit: z.object({ requests_per_minute: z.coerce.number().int().min(0).default(600) }).default({ requests_per_minute: 600 }),
});

export const ModelsConfigSchema = z
  .object({
    providers: z.record(z.string().regex(/^[a-z0-9_-]+$/, 'provider names are lower-case a-z 0-9 _ -'), ProviderSchema),
    models: z.record(z.string().regex(/^[A-Za-z0-9._-]+$/, 'aliases are A-Z a-z 0-9 . _ -'), z.preprocess(firstDeployment, ModelSchema)),
    routing: RoutingSchema.default(RoutingSchema.parse({})),
    cache: CacheSchema.default({}),
  })
  .superRefine((config, ctx) => {
    for (const [alias, model] of Object.entries(config.models)) {
      if (!config.providers[model.provider]) {
        ctx.addIssue({
          code: 'custom',
          path: ['models', alias, 'provider'],
          message: `unknown provider "${model.provider}"; configured: ${Object.keys(config.providers).join(', ')}`,
        });
      }
    }
    for (const [alias, model] of Object.entries(config.models)) {
      const seen = new Set<string>();
      for (const [index, deployment] of (model.deployments ?? []).entries()) {
        if (!config.providers[deployment.provider])
          ctx.addIssue({
            code: 'custom',
            path: ['models', alias, 'deployments', index, 'provider'],
            message: `unknown provider "${deployment.provider}"; configured: ${Object.keys(config.providers).join(', ')}`,
          });
        const id = `${deployment.provider}/${deployment.model}`;
        if (seen.has(id))
          ctx.addIssue({
            code: 'custom',
            path: ['models', alias, 'deployments', index],
            message: `${id} is listed twice; two accounts or regions of one model are two providers`,
          });
        seen.add(id);
      }
    }
    for (const [index, alias] of config.routing.fallback_chain.entries()) {
      if (!config.models[alias])
        ctx.addIssue({ code: 'custom', path: ['routing', 'fallback_chain', index], message: `unknown model alias "${alias}"` });
    }
    for (const [name, provider] of Object.entries(config.providers)) {
      if (provider.responses_api === 'native' && (provider.type === 'gemini' || provider.type === 'anthropic'))
        ctx.addIssue({
          code: 'custom',
          path: ['providers', name, 'responses_api'],
          message: `a ${provider.type} provider does not speak OpenAI's Responses API; use bridge (or leave it out)`,
        });
      if (provider.enabled !== true) continue;
      const needsKey = provider.type !== 'openai_compatible';
      if (needsKey && !provider.api_key)
        ctx.addIssue({ code: 'custom', path: ['providers', name, 'api_key'], message: 'the provider is enabled but has no API key' });
      if (provider.type === 'azure' && !provider.endpoint)
        ctx.addIssue({ code: 'custom', path: ['providers', name, 'endpoint'], message: 'Azure needs its endpoint' });
      if (provider.type === 'openai_compatible' && !provider.base_url) {
        ctx.addIssue({
          code: 'custom',
          path: ['providers', name, 'base_url'],
          message: 'an OpenAI-compatible provider needs its base URL',
        });
      }
    }
  });

export type ModelsConfig = z.output<typeof ModelsConfigSchema>;
export type ProviderConfig = ModelsConfig['providers'][string];
export type ModelConfig = ModelsConfig['models'][string];
export type RoutingConfig = ModelsConfig['routing'];
export type DeploymentConfig = NonNullable<ModelConfig['deployments']>[number];
export type CacheConfig = ModelsConfig['cache'];

/** Whether `POST /v1/responses` goes to this provider's own `/responses` (see `responses_api`). */
export function speaksResponses(provider: ProviderConfig): boolean {
  return (provider.responses_api ?? (provider.type === 'openai' ? 'native' : 'bridge')) === 'native';
}

/** Why a provider cannot be used, or null when it can. Unavailable providers are listed, not crashed on. */
export function providerUnavailableReason(provider: ProviderConfig): string | null {
  if (provider.enabled === false) return 'disabled in models.yaml';
  if (provider.type === 'openai_compatible') return provider.base_url ? null : 'no base URL';
  if (!provider.api_key) return 'no API key';
  if (provider.type === 'azure' && !provider.endpoint) return 'no Azure endpoint';
  return null;
}
