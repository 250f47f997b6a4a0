import type { Principal } from '../../../shared/http/auth.js';
import { Layout } from './layout.js';
import { Category, Notice, Visible, when } from './shared.js';
import type { ActionRow } from './types.js';

export function HistoryPage(props: {
  rows: ActionRow[];
  principal: Principal;
  csrf: string;
  verify?: { ok: boolean; text: string } | undefined;
}) {
  return (
    <Layout title="History" principal={props.principal} csrf={props.csrf} section="history">
      <h1>History</h1>
      <form method="get" action="/approvals/history">
        <input type="hidden" name="verify" value="1" />
        <button type="submit">Check the audit chain</button>
      </form>
      {props.verify ? <Notice kind={props.verify.ok ? 'ok' : 'error'}>{props.verify.text}</Notice> : null}
      {props.rows.length === 0 ? (
        <p>No decisions yet.</p>
      ) : (
        <table class="stack">
          <thead>
            <tr>
              <th scope="col">Action</th>
              <th scope="col">Category</th>
              <th scope="col">Agent</th>
              <th scope="col">Decided by</th>
              <th scope="col">Decided at</th>
              <th scope="col">Outcome</th>
            </tr>
          </thead>
          <tbody>
            {props.rows.map((row) => (
              <tr data-id={row.id}>
                <td data-label="Action">
                  <a href={`/approvals/actions/${row.id}`}>
                    <code>{row.action_type}</code>
                  </a>
                </td>
                <td data-label="Category">
                  <Category category={row.action_category} />
                </td>
                <td data-label="Agent">
                  <Visible text={row.agent_id} />
                </td>
                <td data-label="Decided by">{row.approved_by ?? (row.status === 'expired' ? 'nobody (expired)' : '—')}</td>
                <td data-label="Decided at">{when(row.decided_at)}</td>
                <td data-label="Outcome">
                  <strong>{row.status}</strong>
                  {row.rejection_reason ? (
                    <>
                      : <Visible text={row.rejection_reason} />
                    </>
                  ) : null}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </Layout>
  );
}
