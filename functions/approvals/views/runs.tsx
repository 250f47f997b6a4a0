import type { Principal } from '../../../shared/http/auth.js';
import { Layout } from './layout.js';
import { clip, duration, EventTable, TextFact, Visible } from './shared.js';
import type { RunEventView, RunRowView } from './types.js';

/** Agent runs, newest first: what each was asked, where it stands, what it waits for. */
export function RunsPage(props: { runs: RunRowView[]; principal: Principal; csrf: string; now: number }) {
  return (
    <Layout title="Agent runs" principal={props.principal} csrf={props.csrf} section="runs">
      <h1>Agent runs</h1>
      {props.runs.length === 0 ? (
        <p>No agent runs yet.</p>
      ) : (
        <table class="stack">
          <thead>
            <tr>
              <th scope="col">Run</th>
              <th scope="col">Agent</th>
              <th scope="col">Asked to</th>
              <th scope="col">Status</th>
              <th scope="col">Steps</th>
              <th scope="col">Started</th>
            </tr>
          </thead>
          <tbody>
            {props.runs.map((run) => (
              <tr data-run={run.id}>
                <td data-label="Run" class="mono">
                  <a href={`/approvals/runs/${run.id}`}>{run.id.slice(0, 8)}</a>
                </td>
                <td data-label="Agent">{run.agent_name}</td>
                <td data-label="Asked to">
                  <Visible text={clip(run.input, 120, '…')} />
                </td>
                <td data-label="Status">
                  <strong>{run.status}</strong>
                  {run.pending.length > 0 ? ` (${run.pending.length} waiting)` : ''}
                </td>
                <td data-label="Steps">{run.step}</td>
                <td data-label="Started">{duration(props.now - run.created_at.getTime())} ago</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </Layout>
  );
}

/** One run: its request, the actions it waits for (links to decide them), and its events in order. */
export function RunPage(props: { run: RunRowView; events: RunEventView[]; principal: Principal; csrf: string }) {
  const { run } = props;
  return (
    <Layout title={`Run ${run.id.slice(0, 8)}`} principal={props.principal} csrf={props.csrf}>
      <p>
        <a href="/approvals/runs">← Agent runs</a>
      </p>
      <h1>
        Run of <code>{run.agent_name}</code>: <span id="run-status">{run.status}</span>
      </h1>
      <dl class="facts">
        <dt>Asked to</dt>
        <dd>
          <Visible text={run.input} />
        </dd>
        <dt>Started by</dt>
        <dd>{run.requested_by}</dd>
        <dt>Steps</dt>
        <dd>{run.step}</dd>
        <TextFact label="Answer" text={run.output} />
        <TextFact label="Error" text={run.error} />
      </dl>
      {run.pending.length > 0 ? (
        <section aria-labelledby="waiting">
          <h2 id="waiting">Waiting for a decision</h2>
          <ul>
            {run.pending.map((item) => (
              <li>
                <a href={`/approvals/actions/${item.action_id}`}>
                  <code>{item.type}</code> ({item.action_id.slice(0, 8)})
                </a>
              </li>
            ))}
          </ul>
        </section>
      ) : null}
      <EventTable id="events" title="Events" events={props.events.map((event) => ({ ...event, name: event.type }))} maxData={600} />
    </Layout>
  );
}
