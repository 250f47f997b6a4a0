-- Sign-in sessions of the approvals page. The cookie holds a random id; only its SHA-256 is kept.
create table approval_sessions (
  id_hash text primary key,
  principal_id text not null,
  role text not null,
  csrf_token text not null,                     -- every form of the session posts it back
  created_at timestamptz not null default now(),
  expires_at timestamptz not null
);
create index idx_approval_sessions_expiry on approval_sessions (expires_at);
