import { z } from 'zod';

export const ROLES = ['agent', 'approver', 'admin'] as const;
export type Role = (typeof ROLES)[number];

/** One configured API key: either the raw secret (from env) or its SHA-256 (from files, hashed env). */
export const ApiKeyEntrySchema = z.object({
  id: z
    .string()
    .regex(/^[A-Za-z0-9._@-]{1,64}$/, 'ids are 1-64 of A-Z a-z 0-9 . _ @ -')
    .refine((id) => !id.startsWith('vk_'), 'ids starting with vk_ are the keys made through POST /v1/keys'),
  role: z.enum(ROLES),
  secret: z.string().min(16, 'a key secret needs at least 16 characters').optional(),
  secret_sha256: z
    .string()
    .regex(/^[0-9a-f]{64}$/, 'secret_sha256 is 64 lower-case hex characters')
    .optional(),
});
export type ApiKeyEntry = z.infer<typeof ApiKeyEntrySchema>;

/**
 * `id:role:secret` or `id:role:sha256:<hex>` entries, comma-separated. Parsed into entries here so
 * that a malformed list fails at start with the entry's position, not at the first request.
 */
const ApiKeyListSchema = z
  .string()
  .optional()
  .transform((text, ctx) => {
    if (!text?.trim()) return [];
    const entries: ApiKeyEntry[] = [];
    for (const [index, raw] of text.split(',').entries()) {
      const parts = raw.trim().split(':');
      const [id = '', role = '', ...rest] = parts;
      const hashed = rest[0] === 'sha256' && rest.length === 2;
      const candidate = hashed ? { id, role, secret_sha256: rest[1] } : { id, role, secret: rest.join(':') };
      const parsed = ApiKeyEntrySchema.safeParse(candidate);
      if (!parsed.success || rest.length === 0) {
        ctx.addIssue({
          code: 'custom',
          message: `entry ${index + 1} is not "id:role:secret" or "id:role:sha256:<hex>" with role agent|approver|admin (${parsed.error?.issues[0]?.message ?? 'missing secret'})`,
        });
        return z.NEVER;
      }
      entries.push(parsed.data);
    }
    return entries;
  });

const port = (allowZero: boolean) =>
  z.coerce
    .number({ error: 'expected a port number' })
    .int('expected a whole number')
    .min(allowZero ? 0 : 1, allowZero ? 'expected 0-65535' : 'expected 1-65535')
    .max(65535, 'expected a port of at most 65535');

const httpUrl = z.url({ protocol: /^https?$/, error: 'expected an http(s) URL' });

const LOG_LEVELS = ['debug', 'info', 'warn', 'error'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export const AppConfigSchema = z
  .object({
    env: z.enum(['development', 'test', 'production'], { error: 'expected development, test or production' }),
    server: z
      .object({
        host: z.string().min(1),
        port: port(true),
        /** Body limit of every route that does not derive its own (bytes). */
        max_body_bytes: z.coerce
          .number()
          .int()
          .min(1024)
          .max(100 * 1024 * 1024),
        /** Request-body bytes held at once by this process (all requests together); beyond it, 503. */
        max_inflight_body_bytes: z.coerce
          .number()
          .int()
          .min(64 * 1024)
          .max(16 * 1024 * 1024 * 1024),
        /** Node: open connections at most; further ones are closed at once. */
        max_connections: z.coerce.number().int().min(1).max(1_000_000),
        /** Node: the whole request head must arrive within this (ms). */
        headers_timeout_ms: z.coerce.number().int().min(100).max(600_000),
        /** Node: the whole request, head and body, must arrive within this (ms). */
        request_timeout_ms: z.coerce.number().int().min(100).max(3_600_000),
        /**
         * Proxies in front of the server that append to X-Forwarded-For (0: none, the header is the
         * client's to invent and is ignored; the socket's address, or workerd's CF-Connecting-IP, counts).
         */
        trust_proxy: z.coerce.number({ error: 'expected the number of proxies (0 for none)' }).int().min(0).max(10).default(0),
      })
      .refine((server) => server.headers_timeout_ms <= server.request_timeout_ms, {
        message: 'SERVER_HEADERS_TIMEOUT_MS must not exceed SERVER_REQUEST_TIMEOUT_MS',
        path: ['headers_timeout_ms'],
      }),
    log: z.object({ level: z.enum(LOG_LEVELS, { error: 'expected debug, info, warn or error' }).optional() }),
    data_dir: z.string().min(1),
    auth: z.object({
      api_keys: ApiKeyListSchema,
      jwt: z
        .object({
          issuer: z.string().min(1).optional(),
          audience: z.string().min(1).optional(),
          jwks_url: z.url({ protocol: /^https?$/, error: 'expected an http(s) URL' }).optional(),
          roles_claim: z.string().min(1),
        })
        .refine((jwt) => !jwt.jwks_url || (jwt.issuer && jwt.audience), {
          message: 'a JWKS URL needs MYCA_JWT_ISSUER and MYCA_JWT_AUDIENCE too',
          path: ['issuer'],
        }),
    }),
    database: z.object({
      url: z
        .string()
        .regex(/^postgres(ql)?:\/\//, 'expected a postgres:// URL')
        .optional(),
      /** Where migrations run (the role that owns the tables); unset: `url`. */
      migrate_url: z
        .string()
        .regex(/^postgres(ql)?:\/\//, 'expected a postgres:// URL')
        .optional(),
      /** The role the app runs as, given only the privileges it needs after each migration (see docs/DEPLOY.md). */
      runtime_role: z
        .string()
        .regex(/^[a-z_][a-z0-9_$]{0,62}$/, 'expected a Postgres role name (lower case)')
        .optional(),
      pool_max: z.coerce.number().int().min(1).max(200),
      embedded_port: port(true),
    }),
    kv: z.object({
      upstash_url: httpUrl.optional(),
      upstash_token: z.string().min(1).optional(),
      redis_url: z
        .string()
        .regex(/^rediss?:\/\//, 'expected a redis:// URL')
        .optional(),
    }),
    vector: z.object({ qdrant_url: httpUrl.optional(), qdrant_api_key: z.string().optional() }),
    telemetry: z.object({ service_name: z.string().min(1), otlp_endpoint: httpUrl.optional() }),
    ready: z.object({ timeout_ms: z.coerce.number().int().min(10).max(60_000) }),
    actions: z.object({
      files_root: z.string().min(1).optional(),
      approval_required: z.union([z.boolean(), z.stringbool()]),
      pending_ttl_s: z.coerce
        .number()
        .int()
        .min(1)
        .max(30 * 86400),
      max_file_bytes: z.coerce
        .number()
        .int()
        .min(1)
        .max(100 * 1024 * 1024),
      /** Milliseconds an action other than http.request may run (http.request: policy.yaml http.timeout_ms). */
      timeout_ms: z.coerce.number().int().min(100).max(3_600_000).default(60_000),
      /**
       * Seconds an approved or executing action stays its worker's before the recovery sweep takes it
       * over: more than the longest action timeout plus {@link LEASE_MARGIN_MS} (checked in loadConfig).
       */
      lease_s: z.coerce
        .number()
        .int()
        .min(1)
        .max(24 * 3600),
      /** Seconds between two runs of the sweep (expiry, stuck actions, runs to resume) on the Node server. */
      sweep_interval_s: z.coerce.number().int().min(1).max(3600),
    }),
    /** Audit retention (shared/audit/archive.ts): old events move to archived, checkpointed segments. */
    audit: z
      .object({
        /** Events older than this many days leave Postgres for the archive; 0 keeps everything. */
        retention_days: z.coerce.number().int().min(0).max(36_500).default(0),
        /** At most this many events per segment file. */
        segment_max_events: z.coerce.number().int().min(1).max(1_000_000).default(10_000),
        /** Node: where segments are written (default `<data_dir>/audit-archive`); Workers use the AUDIT_ARCHIVE R2 bucket. */
        archive_dir: z.string().min(1).optional(),
        /** Seconds between two archive runs (Node interval; on Workers the per-minute Cron Trigger runs it this often). */
        archive_interval_s: z.coerce
          .number()
          .int()
          .min(60)
          .max(30 * 86400)
          .default(3600),
      })
      .default({ retention_days: 0, segment_max_events: 10_000, archive_interval_s: 3600 }),
    /** POST /v1/responses state (`store`, `previous_response_id`): kept per key in Postgres. */
    responses: z
      .object({
        /** Days a stored response stays readable; 0: none is kept (store: true and previous_response_id are refused). */
        retention_days: z.coerce.number().int().min(0).max(3650).default(30),
        /** A response whose stored form (output + conversation) exceeds this is not kept (the answer says store: false). */
        max_stored_bytes: z.coerce
          .number()
          .int()
          .min(1024)
          .max(64 * 1024 * 1024)
          .default(1024 * 1024),
        /** Stored responses one key keeps; a new one past it evicts that key's oldest. */
        max_per_key: z.coerce.number().int().min(1).max(1_000_000).default(1000),
      })
      .default({ retention_days: 30, max_stored_bytes: 1024 * 1024, max_per_key: 1000 }),
    /** Virtual keys, per-key limits and spend rows (docs/MULTI_MODEL_LLM.md, "Governance"). */
    governance: z
      .object({
        /** Keys of MYCA_API_KEYS / auth.yaml may call models without a configured price (keys of the API say so each). */
        config_keys_allow_unpriced: z.union([z.boolean(), z.stringbool()]).default(true),
        /** One llm_spend row per LLM call, written in batches off the request path. */
        spend_log: z.union([z.boolean(), z.stringbool()]).default(true),
        /** Spend rows held in memory at most while Postgres is slow or down; past it rows are dropped and counted. */
        spend_buffer_rows: z.coerce.number().int().min(1).max(1_000_000).default(10_000),
        /** Distinct `key` label values on the token and cost metrics; later keys are `other`. */
        metrics_max_keys: z.coerce.number().int().min(0).max(1000).default(50),
        /**
         * Days llm_spend rows are kept; the periodic sweep deletes older ones in batches. 0 keeps every
         * row. The default, 400, is the longest range GET /v1/spend sums at once.
         */
        spend_retention_days: z.coerce.number().int().min(0).max(36_500).default(400),
      })
      .default({
        config_keys_allow_unpriced: true,
        spend_log: true,
        spend_buffer_rows: 10_000,
        metrics_max_keys: 50,
        spend_retention_days: 400,
      }),
    integrations: z
      .object({
        timeout_ms: z.coerce.number().int().min(100).max(120_000).default(10_000),
        retries: z.coerce.number().int().min(0).max(5).default(2),
        mindex: z.object({ base_url: httpUrl.optional(), api_key: z.string().optional() }).default({}),
        natureos: z.object({ base_url: httpUrl.optional(), api_key: z.string().optional() }).default({}),
        website: z.object({ base_url: httpUrl.optional() }).default({}),
      })
      .default({ timeout_ms: 10_000, retries: 2, mindex: {}, natureos: {}, website: {} }),
  })
  .superRefine((config, ctx) => {
    if (config.kv.upstash_url && !config.kv.upstash_token) {
      ctx.addIssue({ code: 'custom', path: ['kv', 'upstash_token'], message: 'required when UPSTASH_REDIS_REST_URL is set' });
    }
  });

export type AppConfig = z.output<typeof AppConfigSchema>;

/** What an action's lease must leave beyond its timeout: recording the outcome after it. */
export const LEASE_MARGIN_MS = 500;

export const AuthFileSchema = z.object({ keys: z.array(ApiKeyEntrySchema).default([]) });
