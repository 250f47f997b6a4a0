-- action_audit_logs holds each action's current state; the chain (action_audit_events) holds its
-- history. The row may change only by one of the defined transitions, and only in the columns a
-- transition sets: nothing else about an action (who, what, input, digest, policy, expiry) can be
-- rewritten after it was recorded, and rows cannot be deleted. GET /v1/audit/verify also checks
-- each row's status against its last event, which catches a transition made without its event.
create function action_audit_logs_transitions_only() returns trigger language plpgsql as $$
begin
  if tg_op <> 'UPDATE' then
    raise exception 'action_audit_logs rows are never removed (% refused)', tg_op using errcode = 'insufficient_privilege';
  end if;
  if (old.status, new.status) not in (
    ('pending', 'approved'), ('pending', 'rejected'), ('pending', 'expired'),
    ('approved', 'executing'), ('approved', 'failed'),
    ('executing', 'executed'), ('executing', 'failed')
  ) then
    raise exception 'action_audit_logs: % -> % is not a transition', old.status, new.status using errcode = 'insufficient_privilege';
  end if;
  if (new.id, new.correlation_id, new.traceparent, new.agent_id, new.agent_run_id, new.requested_by, new.action_type,
      new.action_category, new.inputs, new.approval_required, new.created_at, new.digest, new.idempotency_key,
      new.request_hash, new.expires_at, new.policy_version, new.policy_rule)
     is distinct from
     (old.id, old.correlation_id, old.traceparent, old.agent_id, old.agent_run_id, old.requested_by, old.action_type,
      old.action_category, old.inputs, old.approval_required, old.created_at, old.digest, old.idempotency_key,
      old.request_hash, old.expires_at, old.policy_version, old.policy_rule) then
    raise exception 'action_audit_logs: only the outcome columns change in a transition' using errcode = 'insufficient_privilege';
  end if;
  return new;
end;
$$;
create trigger action_audit_logs_transitions_only before update or delete on action_audit_logs
  for each row execute function action_audit_logs_transitions_only();
create trigger action_audit_logs_no_truncate before truncate on action_audit_logs
  for each statement execute function action_audit_logs_transitions_only();

-- The append function now answers with the chain's new head, `seq:hash`, so the application can
-- anchor it outside the database (the key-value store): deleting the newest events is then caught.
drop function myca_append_audit_events(jsonb);
create function myca_append_audit_events(events jsonb) returns text language plpgsql as $$
declare
  prev text;
  item jsonb;
  next_hash text;
  last_seq bigint;
begin
  perform pg_advisory_xact_lock(727361002);
  select hash into prev from action_audit_events order by seq desc limit 1;
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
