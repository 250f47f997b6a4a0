-- API keys, stored as SHA-256 digests only. Rows are created by the embedded/dev bootstrap (or an
-- operator); MYCA_API_KEYS and config/auth.yaml take precedence when set.
create table if not exists api_keys (
  id text primary key,
  role text not null check (role in ('agent', 'approver', 'admin')),
  secret_sha256 text not null unique check (secret_sha256 ~ '^[0-9a-f]{64}$'),
  created_at timestamptz not null default now(),
  revoked_at timestamptz
);
