-- Responses kept for `store` and `previous_response_id` (POST /v1/responses, functions/chat-route/
-- responses-store.ts). A row belongs to the key that created it and to no one else: every read,
-- continuation and delete names the principal. Rows past expires_at (RESPONSES_RETENTION_DAYS) are
-- never read, and each insert deletes up to 100 of them (the owner of a row's deadline is the next
-- write; an idle deployment keeps expired rows until then, unreadable).
create table llm_responses (
  id text primary key,                          -- resp_<32 hex>, made by the gateway
  principal_id text not null,                   -- the key that created it: the only one that reads it
  model text not null,                          -- the model that answered
  response jsonb not null,                      -- the Response object as answered (GET /v1/responses/:id)
  conversation jsonb not null,                  -- input items: what previous_response_id prepends (earlier turns, this input, this output)
  item_ids text[] not null,                     -- ids of its output items (msg_…, fc_…): what item_reference names
  bytes integer not null,                       -- size of response + conversation as stored (bounded by RESPONSES_MAX_STORED_BYTES)
  created_at timestamptz not null default now(),
  expires_at timestamptz not null
);
create index idx_llm_responses_principal on llm_responses (principal_id, created_at desc);
create index idx_llm_responses_expiry on llm_responses (expires_at);
-- item_reference input items name output items (msg_…, fc_…) of the key's stored responses.
create index idx_llm_responses_items on llm_responses using gin (item_ids);
