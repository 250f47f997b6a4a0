-- Every unfinished action has an owner's deadline: a row that is `approved` or `executing` is held
-- by the worker that moved it there until lease_until. A recovery sweep takes over rows whose
-- lease ran out (their worker is gone): it re-runs what is safe to re-run (recovery_attempts counts
-- those), and ends the rest as `failed` with an `interrupted` audit event.
alter table action_audit_logs add column lease_until timestamptz;
alter table action_audit_logs add column recovery_attempts integer not null default 0;

alter table action_audit_events drop constraint action_audit_events_event_check;
alter table action_audit_events add constraint action_audit_events_event_check
  check (event in ('requested', 'decided', 'approved', 'rejected', 'expired', 'executing', 'executed', 'failed', 'denied', 'interrupted'));
