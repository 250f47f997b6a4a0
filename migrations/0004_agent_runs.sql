-- Agent runs: the whole state of a run lives here, so any instance (Node or Workers) can resume it.
create table agent_runs (
  id uuid primary key default gen_random_uuid(),
  agent_name text not null,
  status text not null check (status in ('running', 'waiting_approval', 'succeeded', 'failed')),
  requested_by text not null,                   -- the principal that started it; its actions are requested by it
  correlation_id text not null,                 -- every action, log line and span of the run carries it
  idempotency_key text,
  request_hash text,
  input text not null,
  messages jsonb not null,                      -- the conversation so far (tool results as the audit stores them: redacted)
  pending jsonb not null default '[]',          -- held actions: [{ action_id, tool_call_id, type }]
  step integer not null default 0,              -- model calls made
  steps jsonb not null default '[]',            -- per step: model, tool calls and their action ids, usage
  usage jsonb not null default '{"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}',
  cost_usd double precision not null default 0,
  output text,
  error text,
  lease_owner text,                             -- who is advancing it now; a lease ends at lease_until
  lease_until timestamptz,
  events integer not null default 0,            -- the last event's seq
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  finished_at timestamptz,
  unique (requested_by, idempotency_key)
);
create index idx_agent_runs_status on agent_runs (status, updated_at);
create index idx_agent_runs_agent on agent_runs (agent_name, created_at desc);

-- Progress of a run, in order, for GET /v1/runs/:id/events (SSE with Last-Event-ID).
create table agent_run_events (
  run_id uuid not null references agent_runs (id) on delete cascade,
  seq integer not null,
  type text not null,
  data jsonb not null,
  created_at timestamptz not null default now(),
  primary key (run_id, seq)
);

-- An action knows its run (agent_run_id is free text: callers of POST /v1/actions may name their own runs).
create index idx_action_audit_logs_run on action_audit_logs (agent_run_id) where agent_run_id is not null;
