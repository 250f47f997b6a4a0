import { raw } from 'hono/html';
import type { Child } from 'hono/jsx';
import type { Principal } from '../../shared/http/auth.js';
import type { ActionRow } from '../action-execute/store.js';

/** Bidi controls, zero-width and other invisible characters: shown as visible markers, never obeyed. */
const INVISIBLE_RANGES: ReadonlyArray<readonly [number, number]> = [
  [0x00, 0x08],
  [0x0b, 0x0c],
  [0x0e, 0x1f],
  [0x7f, 0x7f], // C0 controls but tab and newline, DEL
  [0xad, 0xad],
  [0x61c, 0x61c],
  [0x180e, 0x180e], // soft hyphen, Arabic letter mark, Mongolian vowel separator
  [0x200b, 0x200f],
  [0x202a, 0x202e],
  [0x2060, 0x2064],
  [0x2066, 0x2069],
  [0xfeff, 0xfeff], // zero-width, bidi, BOM
];
const hex = (code: number) => `\\u${code.toString(16).padStart(4, '0')}`;
const INVISIBLE = new RegExp(
  `[${INVISIBLE_RANGES.map(([from, to]) => (from === to ? hex(from) : `${hex(from)}-${hex(to)}`)).join('')}]`,
  'g',
);

/** Text an agent gave us, escaped by JSX, with every invisible character made visible. */
export function Visible({ text }: { text: string | null | undefined }) {
  const value = text ?? '';
  const parts: Child[] = [];
  let last = 0;
  for (const match of value.matchAll(INVISIBLE)) {
    const index = match.index ?? 0;
    if (index > last) parts.push(value.slice(last, index));
    const code = `U+${(match[0].codePointAt(0) ?? 0).toString(16).toUpperCase().padStart(4, '0')}`;
    parts.push(
      <span class="hidden-char" title={`invisible character ${code}`}>
        {`[${code}]`}
      </span>,
    );
    last = index + match[0].length;
  }
  if (last < value.length) parts.push(value.slice(last));
  return <>{parts}</>;
}

/** A term and its agent-provided text in a facts list, or nothing when there is no text. */
const TextFact = ({ label, text }: { label: string; text: string | null | undefined }) =>
  text ? (
    <>
      <dt>{label}</dt>
      <dd>
        <Visible text={text} />
      </dd>
    </>
  ) : null;

/** Category by word and colour (and a sign for risky): readable without colour. */
export const Category = ({ category }: { category: string }) => <span class={`cat cat-${category}`}>{category}</span>;

export function duration(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min`;
  const h = Math.floor(m / 60);
  if (h < 48) return `${h} h ${m % 60} min`;
  return `${Math.floor(h / 24)} d ${h % 24} h`;
}

const when = (date: Date | null) =>
  date ? <time datetime={date.toISOString()}>{date.toISOString().replace('T', ' ').slice(0, 19)} UTC</time> : '—';

export function Layout(props: { title: string; principal?: Principal; csrf?: string; children: Child }) {
  // The doctype keeps browsers in standards mode (without it the layout rules are the quirks ones).
  return (
    <>
      {raw('<!DOCTYPE html>')}
      <html lang="en">
        <head>
          <meta charset="utf-8" />
          <meta name="viewport" content="width=device-width, initial-scale=1" />
          <title>{props.title} · MYCA approvals</title>
          <link rel="stylesheet" href="/approvals/assets/app.css" />
          <script src="/approvals/assets/app.js" defer />
        </head>
        <body>
          <header class="top">
            <strong>MYCA approvals</strong>
            {props.principal ? (
              <>
                <nav aria-label="Sections">
                  <a href="/approvals">Inbox</a>
                  <a href="/approvals/runs">Agent runs</a>
                  <a href="/approvals/history">History</a>
                </nav>
                <span class="muted">
                  Signed in as <strong>{props.principal.id}</strong> ({props.principal.role})
                </span>
                <form method="post" action="/approvals/logout">
                  <input type="hidden" name="csrf" value={props.csrf ?? ''} />
                  <button type="submit">Sign out</button>
                </form>
              </>
            ) : null}
          </header>
          <main>{props.children}</main>
        </body>
      </html>
    </>
  );
}

export function Notice({ kind, children }: { kind: 'ok' | 'error'; children: Child }) {
  return (
    <div class={kind === 'error' ? 'notice error' : 'notice'} role={kind === 'error' ? 'alert' : 'status'}>
      {children}
    </div>
  );
}

export function LoginPage({ error }: { error?: string }) {
  return (
    <Layout title="Sign in">
      <section class="login">
        <h1>Sign in</h1>
        <p>Approvers sign in with their API key or JWT. Agent keys cannot sign in here.</p>
        {error ? <Notice kind="error">{error}</Notice> : null}
        <form method="post" action="/approvals/login">
          <label for="credential">Approver key or JWT</label>
          <input id="credential" name="credential" type="password" autocomplete="off" required />
          <button type="submit">Sign in</button>
        </form>
      </section>
    </Layout>
  );
}

export interface InboxRow extends ActionRow {
  run_status: string | null;
}

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

const str = (value: unknown) => (typeof value === 'string' ? value : value === undefined || value === null ? '' : JSON.stringify(value));

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
  return <Visible text={str(input).slice(0, 80)} />;
}

const PREVIEW = 4000;

/** The (redacted) input, rendered as what will happen. */
export function WhatHappens({ row, querySql }: { row: ActionRow; querySql?: string }) {
  const input = row.inputs;
  const content = str(input.content ?? input.body);
  const preview = content.length > PREVIEW ? `${content.slice(0, PREVIEW)}…` : content;
  switch (row.action_type) {
    case 'file.write':
      return (
        <>
          <p>
            Write <strong>{new TextEncoder().encode(content).byteLength} bytes</strong> to{' '}
            <code>
              <Visible text={str(input.path)} />
            </code>{' '}
            (created or replaced):
          </p>
          <pre>
            <Visible text={preview} />
          </pre>
        </>
      );
    case 'file.delete':
    case 'file.read':
      return (
        <p>
          {row.action_type === 'file.delete' ? 'Delete' : 'Read'} the file{' '}
          <code>
            <Visible text={str(input.path)} />
          </code>
        </p>
      );
    case 'http.request': {
      const headers = (input.headers ?? {}) as Record<string, unknown>;
      return (
        <>
          <p>
            <strong>{str(input.method ?? 'GET')}</strong>{' '}
            <code>
              <Visible text={str(input.url)} />
            </code>
          </p>
          {Object.keys(headers).length > 0 ? (
            <table>
              <caption class="muted">Headers</caption>
              <tbody>
                {Object.entries(headers).map(([name, value]) => (
                  <tr>
                    <th scope="row">
                      <Visible text={name} />
                    </th>
                    <td class="mono">
                      <Visible text={str(value)} />
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          ) : null}
          {content ? (
            <pre>
              <Visible text={preview} />
            </pre>
          ) : null}
        </>
      );
    }
    case 'db.query':
      return (
        <>
          <p>
            Run the named query <code>{str(input.query)}</code> with parameters:
          </p>
          <pre>
            <Visible text={JSON.stringify(input.params ?? [], null, 2)} />
          </pre>
          {querySql ? (
            <details>
              <summary>Its SQL (from policy.yaml)</summary>
              <pre>{querySql}</pre>
            </details>
          ) : null}
        </>
      );
    default:
      return (
        <pre>
          <Visible text={JSON.stringify(input, null, 2)} />
        </pre>
      );
  }
}

export interface AuditEventRow {
  seq: string;
  event: string;
  actor: string;
  data: Record<string, unknown>;
  created_at: Date;
}

export interface RunContext {
  id: string;
  agent_name: string;
  status: string;
  input: string;
  step: number;
}

/** A numbered list of events (an action's audit trail, a run's events) with their data as text. */
function EventTable(props: {
  id: string;
  title: string;
  events: ReadonlyArray<{ seq: string | number; name: string; actor?: string; created_at: Date | null; data: unknown }>;
  withActor?: boolean;
  maxData?: number;
}) {
  return (
    <section aria-labelledby={props.id}>
      <h2 id={props.id}>{props.title}</h2>
      <table class="stack">
        <thead>
          <tr>
            <th scope="col">#</th>
            <th scope="col">Event</th>
            {props.withActor ? <th scope="col">By</th> : null}
            <th scope="col">At</th>
            <th scope="col">Details</th>
          </tr>
        </thead>
        <tbody>
          {props.events.map((event) => (
            <tr>
              <td data-label="#">{event.seq}</td>
              <td data-label="Event">{event.name}</td>
              {props.withActor ? <td data-label="By">{event.actor}</td> : null}
              <td data-label="At">{when(event.created_at)}</td>
              <td data-label="Details" class="mono">
                <Visible text={JSON.stringify(event.data).slice(0, props.maxData)} />
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}

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
      {props.notice ? <Notice kind={props.notice.kind}>{props.notice.text}</Notice> : null}

      <section aria-labelledby="what">
        <h2 id="what">{whatHeading(row.status, pending)}</h2>
        <WhatHappens row={row} {...(props.querySql ? { querySql: props.querySql } : {})} />
        <p class="muted">Secrets in the request are shown as ***; the approved request runs exactly as submitted.</p>
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
          <pre>
            <Visible text={JSON.stringify(row.outputs, null, 2).slice(0, PREVIEW)} />
          </pre>
        </section>
      ) : null}

      <EventTable id="trail" title="Audit trail" events={props.events.map((event) => ({ ...event, name: event.event }))} withActor />
    </Layout>
  );
}

export function HistoryPage(props: {
  rows: ActionRow[];
  principal: Principal;
  csrf: string;
  verify?: { ok: boolean; text: string } | undefined;
}) {
  return (
    <Layout title="History" principal={props.principal} csrf={props.csrf}>
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
    <Layout title="Inbox" principal={props.principal} csrf={props.csrf}>
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

export interface RunRowView {
  id: string;
  agent_name: string;
  status: string;
  requested_by: string;
  input: string;
  step: number;
  pending: Array<{ action_id: string; type: string }>;
  output: string | null;
  error: string | null;
  created_at: Date;
  updated_at: Date;
}

export interface RunEventView {
  seq: number;
  type: string;
  data: Record<string, unknown>;
  created_at: Date;
}

/** Agent runs, newest first: what each was asked, where it stands, what it waits for. */
export function RunsPage(props: { runs: RunRowView[]; principal: Principal; csrf: string; now: number }) {
  return (
    <Layout title="Agent runs" principal={props.principal} csrf={props.csrf}>
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
                  <Visible text={run.input.length > 120 ? `${run.input.slice(0, 120)}…` : run.input} />
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
