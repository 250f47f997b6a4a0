import type { Principal } from '../../../shared/http/auth.js';
import { Layout } from './layout.js';
import { Category, clip, duration, str, Visible } from './shared.js';
import type { ActionRow, InboxRow } from './types.js';

/** The pending actions table; also the fragment the live update swaps in. */
export function InboxTable({ rows, now }: { rows: InboxRow[]; now: number }) {
  if (rows.length === 0) return <p>Nothing is waiting for a decision.</p>;
  return (
    <table class="stack">
      <caption class="muted">Oldest first</caption>
      <thead>
        <tr>
          <th scope="col">Action</th>
          <th scope="col">Category</th>
          <th scope="col">Agent</th>
          <th scope="col">Run</th>
          <th scope="col">Requested by</th>
          <th scope="col">Waiting</th>
          <th scope="col">Expires in</th>
        </tr>
      </thead>
      <tbody>
        {rows.map((row) => (
          <tr data-id={row.id}>
            <td data-label="Action">
              <a href={`/approvals/actions/${row.id}`}>
                <code>{row.action_type}</code>
              </a>
              <div class="muted">
                <Summary row={row} />
              </div>
            </td>
            <td data-label="Category">
              <Category category={row.action_category} />
            </td>
            <td data-label="Agent">
              <Visible text={row.agent_id} />
            </td>
            <td data-label="Run">
              {row.agent_run_id ? (
                <span class="mono" title={row.agent_run_id}>
                  {row.agent_run_id.slice(0, 8)}
                  {row.run_status ? ` (${row.run_status})` : ''}
                </span>
              ) : (
                '—'
              )}
            </td>
            <td data-label="Requested by">{row.requested_by}</td>
            <td data-label="Waiting">{duration(now - row.created_at.getTime())}</td>
            <td data-label="Expires in">{row.expires_at ? duration(row.expires_at.getTime() - now) : '—'}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

/** One line saying what the action does. */
function Summary({ row }: { row: ActionRow }) {
  const input = row.inputs;
  if (row.action_type.startsWith('file.')) return <Visible text={str(input.path)} />;
  if (row.action_type === 'http.request')
    return (
      <>
        {str(input.method ?? 'GET')} <Visible text={str(input.url)} />
      </>
    );
  if (row.action_type === 'db.query') return <Visible text={str(input.query)} />;
  return <Visible text={clip(str(input), 80)} />;
}

export function InboxPage(props: {
  rows: InboxRow[];
  now: number;
  principal: Principal;
  csrf: string;
  filters: { category: string; agent: string };
  agents: string[];
  categories: readonly string[];
}) {
  return (
    <Layout title="Inbox" principal={props.principal} csrf={props.csrf} section="inbox">
      <h1>Waiting for a decision</h1>
      <form class="filters" method="get" action="/approvals">
        <div>
          <label for="category">Category</label>
          <select id="category" name="category">
            <option value="">all</option>
            {props.categories.map((category) => (
              <option value={category} selected={props.filters.category === category}>
                {category}
              </option>
            ))}
          </select>
        </div>
        <div>
          <label for="agent">Agent</label>
          <select id="agent" name="agent">
            <option value="">all</option>
            {props.agents.map((agent) => (
              <option value={agent} selected={props.filters.agent === agent}>
                {agent}
              </option>
            ))}
          </select>
        </div>
        <button type="submit">Filter</button>
      </form>
      <p id="live-status" class="muted" aria-live="polite">
        {props.rows.length} waiting
      </p>
      <div id="live" data-interval="2000">
        <InboxTable rows={props.rows} now={props.now} />
      </div>
    </Layout>
  );
}
