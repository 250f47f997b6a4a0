-- Virtual keys (POST /v1/keys): API keys kept as data, each with its own limits, budget, model
-- allow-list and the agents it may act as. Secrets are `myca_vk_` + 32 random bytes (base64url), so a
-- plain SHA-256 (hex) of the secret is stored, as for api_keys: with 256 bits of entropy nothing is
-- gained from a slow or salted hash, and a lookup by digest stays one index probe.
-- Owner of a row: the admins (the API); deadline: a revoked key stays as a record of who spent what
-- (llm_spend rows name it); a rotated key's previous secret works until previous_secret_expires_at.
create table virtual_keys (
  id text primary key check (id ~ '^vk_[0-9a-f]{24}$'),
  name text not null check (length(name) between 1 and 128),
  role text not null check (role in ('agent', 'approver', 'admin')),
  secret_sha256 text not null unique check (secret_sha256 ~ '^[0-9a-f]{64}$'),
  previous_secret_sha256 text unique check (previous_secret_sha256 ~ '^[0-9a-f]{64}$'),
  previous_secret_expires_at timestamptz,
  agents jsonb not null default '[]' check (jsonb_typeof(agents) = 'array'), -- the agents (config/agents.yaml) it may act as
  models jsonb check (jsonb_typeof(models) = 'array'), -- allow-list: task aliases and provider/model patterns (* wildcard); null: any
  allow_unpriced boolean not null default false, -- models without a configured price are refused unless true
  rpm integer check (rpm > 0),                  -- requests per minute; null: LLM_RATE_LIMIT_RPM
  tpm integer check (tpm > 0),                  -- tokens (in + out) per minute; null: no limit
  budget_usd numeric(14, 6) check (budget_usd >= 0),
  budget_period text check (budget_period in ('day', 'month')),
  created_by text not null,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  rotated_at timestamptz,
  revoked_at timestamptz,
  check ((budget_usd is null) = (budget_period is null)),
  check ((previous_secret_sha256 is null) = (previous_secret_expires_at is null))
);

-- One row per LLM call (a chat request through its attempts), written in batches off the request
-- path. Rows are facts: never updated; the admins own their retention (delete by `at`).
create table llm_spend (
  id bigserial primary key,
  at timestamptz not null,
  key_id text not null,
  agent text,
  run_id text,
  correlation_id text not null,
  task text not null,
  provider text,
  model text,
  prompt_tokens integer not null default 0,
  completion_tokens integer not null default 0,
  cost_usd numeric(18, 9),
  latency_ms integer not null,
  status text not null,
  attempts integer not null,
  stream boolean not null default false
);
create index llm_spend_at on llm_spend (at);
create index llm_spend_key_at on llm_spend (key_id, at);
