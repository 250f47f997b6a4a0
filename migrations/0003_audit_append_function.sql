-- Appends audit events in one statement: takes the chain lock, links each event to the one before
-- it and inserts it. The application sends each event with its canonical JSON text (`body`); the
-- hash is SHA-256(prev_hash || body), exactly what the verifier recomputes from the stored row.
-- One statement instead of a lock, a read and an insert per event: the lock is held for the
-- shortest time the chain allows.
create function myca_append_audit_events(events jsonb) returns integer language plpgsql as $$
declare
  prev text;
  item jsonb;
  next_hash text;
  appended integer := 0;
begin
  perform pg_advisory_xact_lock(727361002);
  select hash into prev from action_audit_events order by seq desc limit 1;
  prev := coalesce(prev, repeat('0', 64));
  for item in select value from jsonb_array_elements(events) loop
    next_hash := encode(sha256(convert_to(prev || (item->>'body'), 'UTF8')), 'hex');
    insert into action_audit_events (action_id, event, actor, correlation_id, data, created_at, prev_hash, hash)
    values ((item->>'action_id')::uuid, item->>'event', item->>'actor', item->>'correlation_id', item->'data',
            (item->>'created_at')::timestamptz, prev, next_hash);
    prev := next_hash;
    appended := appended + 1;
  end loop;
  return appended;
end;
$$;
