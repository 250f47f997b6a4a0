-- Actions and their tamper-evident audit trail.
-- action_audit_logs: one row per action, its current state (the seed's table, extended).
create table action_audit_logs (
  id uuid primary key default gen_random_uuid(),
  correlation_id text not null,
  traceparent text,                           -- the requesting span, so the approval's trace can link to it
  agent_id text not null,
  agent_run_id text,
  requested_by text not null,                 -- the principal (API key id) that submitted it
  action_type text not null,
  action_category text not null check (action_category in ('read', 'write', 'external', 'risky', 'unknown')),
  inputs jsonb not null,                      -- redacted
  outputs jsonb,                              -- redacted
  status text not null check (status in ('pending', 'approved', 'rejected', 'expired', 'executing', 'executed', 'failed', 'denied')),
  error text,
  approved_by text,
  approval_required boolean not null,
  created_at timestamptz not null default now(),
  decided_at timestamptz,
  executed_at timestamptz,
  duration_ms integer,
  digest text not null,                       -- SHA-256 of the canonical snapshot an approver sees
  idempotency_key text,
  request_hash text,                          -- SHA-256 of the canonical request, for Idempotency-Key replays
  expires_at timestamptz,
  policy_version text not null,
  policy_rule text not null,
  decision_comment text,
  rejection_reason text,
  unique (requested_by, idempotency_key)
);
create index idx_action_audit_logs_agent on action_audit_logs (agent_id, created_at desc);
create index idx_action_audit_logs_status on action_audit_logs (status, created_at desc);
create index idx_action_audit_logs_type on action_audit_logs (action_type, created_at desc);
create index idx_action_audit_logs_correlation on action_audit_logs (correlation_id);

-- The validated, unredacted input that an approval executes. Not part of the audit record (it may
-- hold secrets); deleted when the action reaches a terminal state.
create table action_snapshots (
  action_id uuid primary key references action_audit_logs (id) on delete cascade,
  input text not null                         -- JSON text: keeps any string jsonb cannot (e.g. NUL)
);

-- Append-only, hash-chained: one row per state change. hash = SHA-256(prev_hash || canonical row).
create table action_audit_events (
  seq bigserial primary key,
  action_id uuid not null,
  event text not null check (event in ('requested', 'decided', 'approved', 'rejected', 'expired', 'executing', 'executed', 'failed', 'denied')),
  actor text not null,
  correlation_id text not null,
  data jsonb not null,
  created_at timestamptz not null,
  prev_hash text not null,
  hash text not null unique
);
create index idx_action_audit_events_action on action_audit_events (action_id, seq);

create function action_audit_events_append_only() returns trigger language plpgsql as $$
begin
  raise exception 'action_audit_events is append-only (% refused)', tg_op using errcode = 'insufficient_privilege';
end;
$$;
create trigger action_audit_events_no_update before update or delete on action_audit_events
  for each row execute function action_audit_events_append_only();
create trigger action_audit_events_no_truncate before truncate on action_audit_events
  for each statement execute function action_audit_events_append_only();
