import type { Principal } from '../../../shared/http/auth.js';
import { Layout } from './layout.js';
import { Category, clip, duration, EventTable, Notice, PREVIEW, Pre, TextFact, Visible, when } from './shared.js';
import type { ActionRow, AuditEventRow, ReviewFacts, RunContext } from './types.js';
import { WhatHappens } from './what-happens.js';

/** The request's section title: what will happen while it waits, what happened once it ran. */
function whatHeading(status: string, pending: boolean): string {
  if (pending) return 'What will happen';
  if (status === 'executed' || status === 'failed' || status === 'executing') return 'What happened';
  return 'What was asked';
}

export function DetailPage(props: {
  row: ActionRow;
  events: AuditEventRow[];
  run: RunContext | null;
  principal: Principal;
  csrf: string;
  now: number;
  querySql?: string;
  /** What the page cannot show of the exact input: masked parts, the real size of a write. */
  facts?: ReviewFacts;
  notice?: { kind: 'ok' | 'error'; text: string } | undefined;
}) {
  const { row } = props;
  const pending = row.status === 'pending' && (!row.expires_at || row.expires_at.getTime() > props.now);
  const own = row.requested_by === props.principal.id;
  return (
    <Layout title={row.action_type} principal={props.principal} csrf={props.csrf}>
      <p>
        <a href="/approvals">← Inbox</a>
      </p>
      <h1>
        <code>{row.action_type}</code> <Category category={row.action_category} />
      </h1>
      <p>
        Status: <strong id="action-status">{row.status}</strong>
        {row.status === 'pending' && row.expires_at ? ` · expires in ${duration(row.expires_at.getTime() - props.now)}` : ''}
      </p>
      {props.notice ? (
        <Notice kind={props.notice.kind}>
          <Visible text={props.notice.text} />
        </Notice>
      ) : null}

      <section aria-labelledby="what">
        <h2 id="what">{whatHeading(row.status, pending)}</h2>
        <WhatHappens
          row={row}
          {...(props.querySql ? { querySql: props.querySql } : {})}
          {...(props.facts?.contentBytes != null ? { contentBytes: props.facts.contentBytes } : {})}
        />
        {props.facts?.masked ? (
          <Notice kind="error">
            Parts of this request look like secrets and are shown here as ***. {pending ? 'Approving runs' : 'It ran'} the request exactly
            as submitted, those parts included, unseen here: {pending ? 'reject it' : 'check it'} if they should not be there.
          </Notice>
        ) : (
          <p class="muted">Secrets in the request are shown as ***; the approved request runs exactly as submitted.</p>
        )}
      </section>

      {pending ? (
        <section aria-labelledby="decide">
          <h2 id="decide">Decide</h2>
          {own ? (
            <Notice kind="error">You requested this action yourself; another approver must decide it (separation of duties).</Notice>
          ) : null}
          <div class="decide">
            <form method="post" action={`/approvals/actions/${row.id}/approve`}>
              <input type="hidden" name="csrf" value={props.csrf} />
              <input type="hidden" name="digest" value={row.digest} />
              <label for="comment">Comment (optional)</label>
              <textarea id="comment" name="comment" rows={2} maxlength={2000} />
              <button class="approve" type="submit">
                Approve and execute
              </button>
            </form>
            <form method="post" action={`/approvals/actions/${row.id}/reject`}>
              <input type="hidden" name="csrf" value={props.csrf} />
              <label for="reason">Reason (required; the agent is told)</label>
              <textarea id="reason" name="reason" rows={2} maxlength={2000} required />
              <button class="reject" type="submit">
                Reject
              </button>
            </form>
          </div>
        </section>
      ) : null}

      <section aria-labelledby="facts">
        <h2 id="facts">Request</h2>
        <dl class="facts">
          <dt>Agent</dt>
          <dd>
            <Visible text={row.agent_id} />
          </dd>
          <dt>Requested by</dt>
          <dd>{row.requested_by}</dd>
          <dt>Requested at</dt>
          <dd>{when(row.created_at)}</dd>
          <dt>Policy rule</dt>
          <dd>
            <code>{row.policy_rule}</code> (policy {row.policy_version})
          </dd>
          <dt>Digest</dt>
          <dd class="mono">{row.digest}</dd>
          <dt>Correlation id</dt>
          <dd class="mono">{row.correlation_id}</dd>
          {row.approved_by ? (
            <>
              <dt>Decided by</dt>
              <dd>
                {row.approved_by} at {when(row.decided_at)}
              </dd>
            </>
          ) : null}
          <TextFact label="Reason" text={row.rejection_reason} />
          <TextFact label="Error" text={row.error} />
        </dl>
      </section>

      {props.run ? (
        <section aria-labelledby="run">
          <h2 id="run">Agent run</h2>
          <dl class="facts">
            <dt>Run</dt>
            <dd class="mono">
              <a href={`/approvals/runs/${props.run.id}`}>{props.run.id}</a>
            </dd>
            <dt>Agent</dt>
            <dd>{props.run.agent_name}</dd>
            <dt>Status</dt>
            <dd>
              {props.run.status} after {props.run.step} step(s)
            </dd>
            <dt>Asked to</dt>
            <dd>
              <Visible text={props.run.input} />
            </dd>
          </dl>
        </section>
      ) : null}

      {row.outputs && row.status !== 'pending' ? (
        <section aria-labelledby="outcome">
          <h2 id="outcome">Outcome</h2>
          <Pre>
            <Visible text={clip(JSON.stringify(row.outputs, null, 2), PREVIEW)} />
          </Pre>
        </section>
      ) : null}

      <EventTable id="trail" title="Audit trail" events={props.events.map((event) => ({ ...event, name: event.event }))} withActor />
    </Layout>
  );
}
