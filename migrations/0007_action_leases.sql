-- Every unfinished action has an owner's deadline: a row that is `approved` or `executing` is held
-- by the worker that moved it there until lease_until. A recovery sweep takes over rows whose
-- lease ran out (their worker is gone): it re-runs what is safe to re-run (recovery_attempts counts
-- those), and ends the rest as `failed` with an `interrupted` audit event.
alter table action_audit_logs add column lease_until timestamptz;
alter table action_audit_logs add column recovery_attempts integer not null default 0;

alter table action_audit_events drop constraint action_audit_events_event_check;
alter table action_audit_events add constraint action_audit_events_event_check
  check (event in ('requested', 'decided', 'approved', 'rejected', 'expired', 'executing', 'executed', 'failed', 'denied', 'interrupted'));

-- The rows' transition guard (0006) learns the sweep's one extra move: a re-run takes over an
-- `executing` row whose lease ran out, staying `executing` under a new lease, and counts it.
create or replace function action_audit_logs_transitions_only() returns trigger language plpgsql as $$
begin
  if tg_op <> 'UPDATE' then
    raise exception 'action_audit_logs rows are never removed (% refused)', tg_op using errcode = 'insufficient_privilege';
  end if;
  if (old.status, new.status) not in (
    ('pending', 'approved'), ('pending', 'rejected'), ('pending', 'expired'),
    ('approved', 'executing'), ('approved', 'failed'),
    ('executing', 'executed'), ('executing', 'failed')
  ) and not (old.status = 'executing' and new.status = 'executing' and new.recovery_attempts = old.recovery_attempts + 1) then
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
  if new.recovery_attempts < old.recovery_attempts then
    raise exception 'action_audit_logs: recovery_attempts only grows' using errcode = 'insufficient_privilege';
  end if;
  return new;
end;
$$;
