-- What an llm_spend row was: a `chat` call (/v1/chat/completions, /v1/responses, agent runs) or an
-- `embedding` call (/v1/embeddings, governed by the same key policy since this migration). The rows
-- written before it are all chat calls. A constant default adds the column without rewriting the table.
alter table llm_spend add column kind text not null default 'chat' check (kind in ('chat', 'embedding'));
