-- Audit retention that keeps the proof. Old events move to segment files (JSON Lines, gzip) in the
-- archive store; each archived segment leaves a checkpoint here that records its manifest. The chain
-- then runs: genesis -> checkpoint 1 -> ... -> latest checkpoint -> the events still in Postgres.
-- GET /v1/audit/verify starts from the latest checkpoint; npm run audit:verify-archive re-verifies
-- the segments against the checkpoints.
create table audit_checkpoints (
  id bigserial primary key,
  first_seq bigint not null unique,
  last_seq bigint not null unique,
  prev_hash text not null,                  -- the hash before the segment's first event (genesis or the previous checkpoint's last_hash)
  last_hash text not null,                  -- the hash of its last event: where the chain in Postgres continues
  events integer not null check (events > 0),
  actions integer not null,                 -- action_audit_logs rows archived with it (terminal, every event archived)
  segment_key text not null,                -- where the segment is in the archive store
  segment_sha256 text not null,             -- checksum of the gzip file as stored
  segment_bytes integer not null,
  manifest jsonb not null,                  -- the manifest as written next to the segment
  created_at timestamptz not null default now(),
  check (first_seq <= last_seq)
);

-- Checkpoints are written only by myca_archive_audit_segment and never change.
create function audit_checkpoints_guard() returns trigger language plpgsql as $$
begin
  if tg_op = 'INSERT' and current_setting('myca.audit_archiving', true) = 'on' then
    return new;
  end if;
  raise exception 'audit_checkpoints are written only by myca_archive_audit_segment (% refused)', tg_op using errcode = 'insufficient_privilege';
end;
$$;
create trigger audit_checkpoints_guard before insert or update or delete on audit_checkpoints
  for each row execute function audit_checkpoints_guard();
create trigger audit_checkpoints_no_truncate before truncate on audit_checkpoints
  for each statement execute function audit_checkpoints_guard();

-- The append-only guards allow one path: the archive function deletes events a checkpoint covers,
-- and the rows of terminal actions whose every event it archived. DELETE gets its own triggers, so
-- the UPDATE guards (0002, 0006/0007's transitions) stay exactly as they are.
create function action_audit_events_archive_only() returns trigger language plpgsql as $$
begin
  if current_setting('myca.audit_archiving', true) = 'on'
     and old.seq <= (select max(last_seq) from audit_checkpoints) then
    return old;
  end if;
  raise exception 'action_audit_events is append-only (% refused)', tg_op using errcode = 'insufficient_privilege';
end;
$$;
drop trigger action_audit_events_no_update on action_audit_events;
create trigger action_audit_events_no_update before update on action_audit_events
  for each row execute function action_audit_events_append_only();
create trigger action_audit_events_archive_only before delete on action_audit_events
  for each row execute function action_audit_events_archive_only();

create function action_audit_logs_archive_only() returns trigger language plpgsql as $$
begin
  if current_setting('myca.audit_archiving', true) = 'on'
     and old.status in ('rejected', 'expired', 'executed', 'failed', 'denied')
     and not exists (select 1 from action_audit_events where action_id = old.id) then
    return old;
  end if;
  raise exception 'action_audit_logs rows are never removed (% refused)', tg_op using errcode = 'insufficient_privilege';
end;
$$;
drop trigger action_audit_logs_transitions_only on action_audit_logs;
create trigger action_audit_logs_transitions_only before update on action_audit_logs
  for each row execute function action_audit_logs_transitions_only();
create trigger action_audit_logs_archive_only before delete on action_audit_logs
  for each row execute function action_audit_logs_archive_only();

-- When every event was archived, the chain continues from the latest checkpoint, not from genesis.
create or replace function myca_append_audit_events(events jsonb) returns text language plpgsql as $$
declare
  prev text;
  item jsonb;
  next_hash text;
  last_seq bigint;
begin
  perform pg_advisory_xact_lock(727361002);
  select hash into prev from action_audit_events order by seq desc limit 1;
  if prev is null then
    select c.last_hash into prev from audit_checkpoints c order by c.last_seq desc limit 1;
  end if;
  prev := coalesce(prev, repeat('0', 64));
  for item in select value from jsonb_array_elements(events) loop
    next_hash := encode(sha256(convert_to(prev || (item->>'body'), 'UTF8')), 'hex');
    insert into action_audit_events (action_id, event, actor, correlation_id, data, created_at, prev_hash, hash)
    values ((item->>'action_id')::uuid, item->>'event', item->>'actor', item->>'correlation_id', item->'data',
            (item->>'created_at')::timestamptz, prev, next_hash)
    returning seq into last_seq;
    prev := next_hash;
  end loop;
  return case when last_seq is null then null else last_seq::text || ':' || prev end;
end;
$$;

-- Archives one written segment: under the chain lock, re-checks its manifest against the rows (they
-- must be the oldest events, continue the previous checkpoint, match count and hashes, and archive
-- exactly the action rows the segment holds), records the checkpoint, deletes the events and those
-- action rows (terminal actions with no event left). Raises, changing nothing, when the manifest
-- does not hold: the segment is then stale and the next run replaces it. Returns the checkpoint id.
create function myca_archive_audit_segment(manifest jsonb) returns bigint language plpgsql as $$
declare
  m_first bigint := (manifest->>'first_seq')::bigint;
  m_last bigint := (manifest->>'last_seq')::bigint;
  expected_prev text;
  oldest bigint;
  n integer;
  first_prev text;
  last_h text;
  ids uuid[];
  ids_digest text;
  checkpoint_id bigint;
begin
  perform pg_advisory_xact_lock(727361002);
  select c.last_hash into expected_prev from audit_checkpoints c order by c.last_seq desc limit 1;
  expected_prev := coalesce(expected_prev, repeat('0', 64));
  select min(seq) into oldest from action_audit_events;
  select count(*) into n from action_audit_events where seq between m_first and m_last;
  select prev_hash into first_prev from action_audit_events where seq = m_first;
  select hash into last_h from action_audit_events where seq = m_last;
  select coalesce(array_agg(a.id order by a.id::text), '{}') into ids from action_audit_logs a
  where a.id in (select action_id from action_audit_events where seq between m_first and m_last)
    and a.status in ('rejected', 'expired', 'executed', 'failed', 'denied')
    and not exists (select 1 from action_audit_events e where e.action_id = a.id and e.seq > m_last);
  ids_digest := encode(sha256(convert_to(array_to_string(ids, ','), 'UTF8')), 'hex');
  if oldest is distinct from m_first or n <> (manifest->>'count')::integer
     or first_prev is distinct from manifest->>'prev_hash' or first_prev is distinct from expected_prev
     or last_h is distinct from manifest->>'last_hash' or ids_digest is distinct from manifest->>'actions_digest' then
    raise exception 'audit segment %-% does not match the events in Postgres (stale manifest)', m_first, m_last
      using errcode = 'serialization_failure';
  end if;
  perform set_config('myca.audit_archiving', 'on', true);
  insert into audit_checkpoints (first_seq, last_seq, prev_hash, last_hash, events, actions, segment_key, segment_sha256, segment_bytes, manifest)
  values (m_first, m_last, manifest->>'prev_hash', manifest->>'last_hash', n, cardinality(ids), manifest->>'key', manifest->>'sha256',
          (manifest->>'bytes')::integer, manifest)
  returning id into checkpoint_id;
  delete from action_audit_events where seq between m_first and m_last;
  delete from action_audit_logs where id = any(ids);
  perform set_config('myca.audit_archiving', 'off', true);
  return checkpoint_id;
end;
$$;
