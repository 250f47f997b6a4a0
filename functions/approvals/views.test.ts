/**
 * The approvals pages as HTML, without a server or a database: every page and shared component
 * rendered (through `c.html`, as the routes do) from representative rows — pending, approved,
 * executed, rejected, expired and failed actions, runs, history, empty and error states — and read
 * for what a person relies on: what will happen, who asked, the CSRF fields and labelled controls,
 * and agent text shown as text.
 */
import { Hono } from 'hono';
import { describe, expect, it } from 'vitest';
import {
  Category,
  clip,
  DetailPage,
  duration,
  ErrorPage,
  HistoryPage,
  InboxPage,
  InboxTable,
  type Layout,
  LoginPage,
  Notice,
  RunPage,
  RunsPage,
  Visible,
  WhatHappens,
} from './views/index.js';

type Row = Parameters<typeof DetailPage>[0]['row'];
type InboxRow = Parameters<typeof InboxTable>[0]['rows'][number];
type Run = Parameters<typeof RunPage>[0]['run'];
type Node = ReturnType<typeof Layout>;

const NOW = Date.parse('2026-11-29T12:00:00.000Z');
const at = (offsetMs: number) => new Date(NOW + offsetMs);
const MIN = 60_000;
const CSRF = 'csrf-token-4f1c9a';
const alice = { id: 'alice', role: 'approver' as const };
const ID = '11111111-2222-4333-8444-555555555555';
const RUN_ID = 'aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee';
const DIGEST = 'd'.repeat(64);
/** Agent-written text that tries markup, a right-to-left override and a zero-width space. */
const HOSTILE = '<script>alert(1)</script>invoice\u202Efdp.exe\u200Bend';

function action(overrides: Partial<Row> = {}): Row {
  return {
    id: ID,
    correlation_id: 'corr-1',
    traceparent: null,
    agent_id: 'financial',
    agent_run_id: null,
    requested_by: 'financial-key',
    action_type: 'file.write',
    action_category: 'write',
    inputs: { path: 'finance/ledger.csv', content: 'date,amount\n2026-11-28,-4.20\n' },
    outputs: null,
    status: 'pending',
    error: null,
    approved_by: null,
    approval_required: true,
    created_at: at(-5 * MIN),
    decided_at: null,
    executed_at: null,
    duration_ms: null,
    digest: DIGEST,
    idempotency_key: null,
    request_hash: null,
    expires_at: at(55 * MIN),
    policy_version: 'v7',
    policy_rule: 'finance-writes',
    decision_comment: null,
    rejection_reason: null,
    lease_until: null,
    recovery_attempts: 0,
    ...overrides,
  };
}

const decided = (overrides: Partial<Row>) =>
  action({ approved_by: 'bob', decided_at: at(-2 * MIN), expires_at: at(55 * MIN), ...overrides });

const inboxRows: InboxRow[] = [
  { ...action({ agent_run_id: RUN_ID }), run_status: 'waiting_approval' },
  {
    ...action({
      id: '22222222-2222-4333-8444-555555555555',
      action_type: 'http.request',
      action_category: 'external',
      inputs: { method: 'POST', url: 'https://api.example/pay' },
      created_at: at(-3 * 60 * MIN),
      expires_at: null,
    }),
    run_status: null,
  },
  {
    ...action({
      id: '33333333-2222-4333-8444-555555555555',
      action_type: 'db.query',
      action_category: 'risky',
      inputs: { query: 'delete_invoices', params: [1] },
      agent_run_id: 'run-1', // a legacy run id (not a UUID): no run status
    }),
    run_status: null,
  },
  {
    ...action({
      id: '44444444-2222-4333-8444-555555555555',
      action_type: 'crm.note',
      action_category: 'unknown',
      inputs: { note: HOSTILE },
    }),
    run_status: null,
  },
];

const trail = [
  { seq: '1', event: 'requested', actor: 'financial-key', data: { type: 'file.write' }, created_at: at(-5 * MIN) },
  { seq: '2', event: 'held', actor: 'policy', data: { rule: 'finance-writes' }, created_at: at(-5 * MIN) },
];

function run(overrides: Partial<Run> = {}): Run {
  return {
    id: RUN_ID,
    agent_name: 'financial',
    status: 'waiting_approval',
    requested_by: 'financial-key',
    input: 'write the ledger',
    step: 2,
    pending: [{ action_id: ID, type: 'file.write' }],
    output: null,
    error: null,
    created_at: at(-90 * MIN),
    updated_at: at(-MIN),
    ...overrides,
  };
}

const common = { principal: alice, csrf: CSRF };
const detail = (row: Row, extra: Partial<Parameters<typeof DetailPage>[0]> = {}) =>
  DetailPage({ row, events: trail, run: null, now: NOW, ...common, ...extra });

/** Every page (and the inbox fragment) with representative data: the split must render each unchanged. */
const PAGES = {
  login: () => LoginPage({}),
  'login-error': () => LoginPage({ error: 'That key or token is not valid.' }),
  inbox: () =>
    InboxPage({
      rows: inboxRows,
      now: NOW,
      ...common,
      filters: { category: 'write', agent: 'financial' },
      agents: ['financial', 'planner'],
      categories: ['read', 'write', 'external', 'risky'],
    }),
  'inbox-empty': () => InboxPage({ rows: [], now: NOW, ...common, filters: { category: '', agent: '' }, agents: [], categories: ['read'] }),
  'inbox-fragment': () => InboxTable({ rows: inboxRows, now: NOW }),
  'detail-pending': () => detail(action({ agent_run_id: RUN_ID, inputs: { path: HOSTILE, content: HOSTILE } }), { run: run() }),
  'detail-pending-own': () => detail(action({ requested_by: 'alice' })),
  'detail-pending-refused': () =>
    detail(action(), { notice: { kind: 'error', text: 'Your decision was not recorded: The action is already rejected.' } }),
  'detail-pending-past-deadline': () => detail(action({ expires_at: at(-MIN) })),
  'detail-approved': () => detail(decided({ status: 'approved' })),
  'detail-executed': () =>
    detail(decided({ status: 'executed', outputs: { path: 'finance/ledger.csv', bytes: 29 }, executed_at: at(-MIN) }), {
      notice: { kind: 'ok', text: 'Approved and executed.' },
      run: run({ status: 'succeeded', pending: [] }),
    }),
  'detail-rejected': () => detail(decided({ status: 'rejected', rejection_reason: `not this month ${HOSTILE}` })),
  'detail-expired': () => detail(action({ status: 'expired', expires_at: at(-MIN), decided_at: at(-MIN) })),
  'detail-failed': () =>
    detail(decided({ status: 'failed', error: `disk full <b>${HOSTILE}</b>`, outputs: { code: 'EIO' } }), {
      notice: { kind: 'error', text: 'Approved, but the action failed: disk full' },
    }),
  'detail-http': () =>
    detail(
      action({
        action_type: 'http.request',
        action_category: 'external',
        inputs: {
          method: 'POST',
          url: 'https://api.example/pay?x=<y>',
          headers: { authorization: '***', 'x-note': HOSTILE },
          body: '{"a":1}',
        },
      }),
    ),
  'detail-db': () =>
    detail(action({ action_type: 'db.query', action_category: 'risky', inputs: { query: 'delete_invoices', params: [42, 'x'] } }), {
      querySql: 'delete from invoices where id = $1 and note <> $2',
    }),
  'detail-file-delete': () => detail(action({ action_type: 'file.delete', inputs: { path: 'finance/old.csv' } })),
  'detail-file-read': () => detail(action({ action_type: 'file.read', action_category: 'read', inputs: { path: 'finance/a.csv' } })),
  'detail-other-type': () => detail(action({ action_type: 'crm.note', action_category: 'unknown', inputs: { note: HOSTILE } })),
  history: () =>
    HistoryPage({
      ...common,
      rows: [
        decided({ status: 'executed' }),
        decided({ id: '55555555-2222-4333-8444-555555555555', status: 'rejected', rejection_reason: HOSTILE }),
        action({ id: '66666666-2222-4333-8444-555555555555', status: 'expired', decided_at: at(-MIN) }),
        decided({ id: '77777777-2222-4333-8444-555555555555', status: 'failed', error: 'disk full' }),
      ],
    }),
  'history-verified': () => HistoryPage({ ...common, rows: [], verify: { ok: true, text: 'The audit chain holds: 12 events, head abc…' } }),
  'history-broken': () => HistoryPage({ ...common, rows: [], verify: { ok: false, text: 'The audit chain is broken at event 7: hash' } }),
  runs: () =>
    RunsPage({
      ...common,
      now: NOW,
      runs: [
        run({
          pending: [
            { action_id: ID, type: 'file.write' },
            { action_id: ID, type: 'file.delete' },
          ],
        }),
        run({ id: 'bbbbbbbb-bbbb-4ccc-8ddd-eeeeeeeeeeee', status: 'succeeded', pending: [], input: `${'x'.repeat(130)}${HOSTILE}` }),
      ],
    }),
  'runs-empty': () => RunsPage({ ...common, now: NOW, runs: [] }),
  'run-waiting': () =>
    RunPage({
      ...common,
      run: run({ input: HOSTILE }),
      events: [{ seq: 1, type: 'tool_call', data: { text: 'y'.repeat(700) }, created_at: at(-MIN) }],
    }),
  'run-done': () =>
    RunPage({ ...common, run: run({ status: 'failed', pending: [], output: 'Written.', error: `model refused ${HOSTILE}` }), events: [] }),
  'error-page': () => ErrorPage({ title: 'Not found', text: `There is no action ${HOSTILE}.`, principal: alice, csrf: CSRF }),
} satisfies Record<string, () => Node>;

/** The HTML a route sends for `node` (through `c.html`, exactly as the approvals routes answer). */
async function render(node: Node): Promise<string> {
  const app = new Hono();
  app.get('/', (c) => c.html(node));
  return (await app.request('/')).text();
}

const count = (html: string, needle: string) => html.split(needle).length - 1;

/** Form controls a person fills in (not hidden fields) that no <label for> names. */
function unlabelled(html: string): string[] {
  const labels = new Set([...html.matchAll(/<label for="([^"]+)"/g)].map((m) => m[1]));
  return [...html.matchAll(/<(input|textarea|select)\b([^>]*)>/g)]
    .filter(([, , attrs]) => !/type="hidden"/.test(attrs ?? ''))
    .map(([tag, , attrs]) => ({ tag, id: /\bid="([^"]+)"/.exec(attrs ?? '')?.[1] }))
    .filter(({ id }) => !id || !labels.has(id))
    .map(({ tag }) => tag);
}

/** Agent text must arrive as text: no markup it wrote, and its invisible characters shown as markers. */
function expectHostileShownAsText(html: string) {
  expect(html).not.toContain('<script>alert');
  expect(html).toContain('&lt;script&gt;alert(1)&lt;/script&gt;invoice');
  expect(html).toContain('<span class="hidden-char" title="invisible character U+202E">[U+202E]</span>fdp.exe');
  expect(html).toContain('<span class="hidden-char" title="invisible character U+200B">[U+200B]</span>end');
  expect(html).not.toMatch(/[\u202E\u200B]/);
}

describe('approvals pages (server-rendered HTML)', () => {
  it.each(Object.entries(PAGES))('%s: a whole page in standards mode, its controls labelled, ids unique', async (name, page) => {
    const html = await render(page());
    if (name === 'inbox-fragment') {
      expect(html.startsWith('<table class="stack">')).toBe(true);
      return;
    }
    expect(html.startsWith('<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"/>')).toBe(true);
    expect(html).toContain('<link rel="stylesheet" href="/approvals/assets/app.css"/>');
    expect(unlabelled(html)).toEqual([]);
    const ids = [...html.matchAll(/\bid="([^"]+)"/g)].map((m) => m[1]);
    expect(ids.length).toBe(new Set(ids).size);
  });

  it('signed in: the sections, who is signed in, and a sign-out form carrying the CSRF token', async () => {
    const html = await render(PAGES.inbox());
    expect(html).toContain('<title>Inbox · MYCA approvals</title>');
    expect(html).toContain(
      '<nav aria-label="Sections"><a href="/approvals" aria-current="page">Inbox</a><a href="/approvals/runs">Agent runs</a>',
    );
    expect(html).toContain('Signed in as <strong>alice</strong> (approver)');
    expect(html).toContain(`<form method="post" action="/approvals/logout"><input type="hidden" name="csrf" value="${CSRF}"/>`);
  });

  it('the navigation marks the section a list page belongs to as the current page, and no other', async () => {
    const current = async (page: () => Node) =>
      [...(await render(page())).matchAll(/<a href="([^"]+)" aria-current="page">/g)].map((m) => m[1]);
    expect(await current(PAGES.inbox)).toEqual(['/approvals']);
    expect(await current(PAGES['inbox-empty'])).toEqual(['/approvals']);
    expect(await current(PAGES.runs)).toEqual(['/approvals/runs']);
    expect(await current(PAGES.history)).toEqual(['/approvals/history']);
    for (const page of [PAGES['detail-pending'], PAGES['run-waiting'], PAGES['error-page']]) expect(await current(page)).toEqual([]);
    expect(await render(PAGES['detail-pending']())).not.toContain('aria-current');
  });

  it('sign-in page: no navigation, a labelled credential field, and the error as an alert', async () => {
    const plain = await render(PAGES.login());
    expect(plain).not.toContain('<nav');
    expect(plain).not.toContain('name="csrf"');
    expect(plain).toContain('<label for="credential">Approver key or JWT</label>');
    expect(plain).toContain('type="password"');
    expect(plain).not.toContain('role="alert"');
    const error = await render(PAGES['login-error']());
    expect(error).toContain('<div class="notice error" role="alert">That key or token is not valid.</div>');
  });

  it('inbox: each held action with its category, agent, run, waiting time and deadline; filters keep their choice', async () => {
    const html = await render(PAGES.inbox());
    expect(html).toContain('<p id="live-status" class="muted" aria-live="polite">4 waiting</p>');
    expect(html).toContain('<div id="live" data-interval="2000"><table class="stack">');
    expect(count(html, '<tr data-id=')).toBe(4);
    expect(html).toContain(`<a href="/approvals/actions/${ID}"><code>file.write</code></a><div class="muted">finance/ledger.csv</div>`);
    expect(html).toContain('<span class="cat cat-risky">risky</span>');
    expect(html).toContain(`<span class="mono" title="${RUN_ID}">aaaaaaaa (waiting_approval)</span>`);
    expect(html).toContain('<span class="mono" title="run-1">run-1</span>');
    expect(html).toContain('POST https://api.example/pay');
    expect(html).toContain('<td data-label="Waiting">5 min</td><td data-label="Expires in">55 min</td>');
    expect(html).toContain('<td data-label="Waiting">3 h 0 min</td><td data-label="Expires in">—</td>');
    expect(html).toContain('<option value="write" selected="">write</option>');
    expect(html).toContain('<option value="financial" selected="">financial</option><option value="planner">planner</option>');
    expectHostileShownAsText(html);
    const empty = await render(PAGES['inbox-empty']());
    expect(empty).toContain('<p id="live-status" class="muted" aria-live="polite">0 waiting</p>');
    expect(empty).toContain('<p>Nothing is waiting for a decision.</p>');
    // The live update swaps in the table alone.
    expect(await render(PAGES['inbox-fragment']())).not.toContain('<html');
  });

  it('a pending action: what will happen, and approve (bound to the digest) and reject forms with their CSRF token', async () => {
    const html = await render(PAGES['detail-pending']());
    expect(html).toContain('<title>file.write · MYCA approvals</title>');
    expect(html).toContain('Status: <strong id="action-status">pending</strong> · expires in 55 min');
    expect(html).toContain('<h2 id="what">What will happen</h2>');
    expect(html).toMatch(/Write <strong>\d+ bytes<\/strong> to <code>/);
    expect(html).toContain(`<form method="post" action="/approvals/actions/${ID}/approve">`);
    expect(html).toContain(`<form method="post" action="/approvals/actions/${ID}/reject">`);
    expect(html).toContain(`<input type="hidden" name="digest" value="${DIGEST}"/>`);
    expect(count(html, `<input type="hidden" name="csrf" value="${CSRF}"/>`)).toBe(3); // sign out, approve, reject
    expect(html).toContain('<label for="comment">Comment (optional)</label>');
    expect(html).toContain('<textarea id="reason" name="reason" rows="2" maxlength="2000" required="">');
    expect(html).not.toContain('separation of duties');
    expect(html).toContain(`<a href="/approvals/runs/${RUN_ID}">${RUN_ID}</a>`);
    expect(html).toContain('<dd>waiting_approval after 2 step(s)</dd>');
    expect(html).toContain('<td data-label="Event">held</td><td data-label="By">policy</td>');
    expect(html).toContain('<time datetime="2026-11-29T11:55:00.000Z">2026-11-29 11:55:00 UTC</time>');
    expect(html).not.toContain('<h2 id="outcome">');
    expectHostileShownAsText(html);
  });

  it('the requester sees the separation-of-duties notice; a refused decision says why', async () => {
    expect(await render(PAGES['detail-pending-own']())).toContain(
      'role="alert">You requested this action yourself; another approver must decide it (separation of duties).</div>',
    );
    expect(await render(PAGES['detail-pending-refused']())).toContain(
      '<div class="notice error" role="alert">Your decision was not recorded: The action is already rejected.</div>',
    );
  });

  it('decided, expired or past its deadline: no decision forms; what was asked or what happened, who decided, the outcome', async () => {
    for (const name of [
      'detail-pending-past-deadline',
      'detail-approved',
      'detail-executed',
      'detail-rejected',
      'detail-expired',
      'detail-failed',
    ] as const) {
      const html = await render(PAGES[name]());
      expect(html, name).not.toContain('/approve"');
      expect(html, name).not.toContain('id="decide"');
      expect(count(html, 'name="csrf"'), name).toBe(1); // only sign out
    }
    const past = await render(PAGES['detail-pending-past-deadline']());
    expect(past).toContain('<h2 id="what">What was asked</h2>');
    const executed = await render(PAGES['detail-executed']());
    expect(executed).toContain('<h2 id="what">What happened</h2>');
    expect(executed).toContain('<div class="notice" role="status">Approved and executed.</div>');
    expect(executed).toContain('<dt>Decided by</dt><dd>bob at <time');
    expect(executed).toContain('<h2 id="outcome">Outcome</h2><pre tabindex="0">{\n  &quot;path&quot;: &quot;finance/ledger.csv&quot;');
    expect(executed).toContain('<dd>succeeded after 2 step(s)</dd>');
    const rejected = await render(PAGES['detail-rejected']());
    expect(rejected).toContain('<h2 id="what">What was asked</h2>');
    expect(rejected).toContain('<dt>Reason</dt><dd>not this month ');
    expectHostileShownAsText(rejected);
    const expired = await render(PAGES['detail-expired']());
    expect(expired).toContain('Status: <strong id="action-status">expired</strong></p>');
    expect(expired).not.toContain('Decided by');
    const failed = await render(PAGES['detail-failed']());
    expect(failed).toContain('<h2 id="what">What happened</h2>');
    expect(failed).toContain('<dt>Error</dt><dd>disk full &lt;b&gt;');
    expect(failed).toContain('Approved, but the action failed: disk full');
    expectHostileShownAsText(failed);
  });

  it('each action type says what it does: HTTP method, URL and headers; a named query, its parameters and SQL; delete, read', async () => {
    const http = await render(PAGES['detail-http']());
    expect(http).toContain('<strong>POST</strong> <code>https://api.example/pay?x=&lt;y&gt;</code>');
    expect(http).toContain('<caption class="muted">Headers</caption>');
    expect(http).toContain('<th scope="row">authorization</th><td class="mono">***</td>');
    expect(http).toContain('<pre tabindex="0">{&quot;a&quot;:1}</pre>');
    expectHostileShownAsText(http);
    const db = await render(PAGES['detail-db']());
    expect(db).toContain('Run the named query <code>delete_invoices</code> with parameters:');
    expect(db).toContain('<pre tabindex="0">[\n  42,\n  &quot;x&quot;\n]</pre>');
    expect(db).toContain(
      '<summary>Its SQL (from policy.yaml)</summary><pre tabindex="0">delete from invoices where id = $1 and note &lt;&gt; $2</pre>',
    );
    expect(await render(PAGES['detail-file-delete']())).toContain('Delete the file <code>finance/old.csv</code>');
    expect(await render(PAGES['detail-file-read']())).toContain('Read the file <code>finance/a.csv</code>');
    const other = await render(PAGES['detail-other-type']());
    expect(other).toContain('<pre tabindex="0">{\n  &quot;note&quot;: &quot;&lt;script&gt;');
    expect(other).toContain('[U+202E]');
  });

  it('history: each decision with who and when, expiry as nobody, the reason as text; the chain check result', async () => {
    const html = await render(PAGES.history());
    expect(count(html, '<tr data-id=')).toBe(4);
    expect(html).toContain('<td data-label="Decided by">bob</td>');
    expect(html).toContain('<td data-label="Decided by">nobody (expired)</td>');
    expect(html).toContain('<td data-label="Outcome"><strong>rejected</strong>: &lt;script&gt;');
    expect(html).toContain('<td data-label="Outcome"><strong>failed</strong></td>');
    expect(html).toContain('<button type="submit">Check the audit chain</button>');
    expectHostileShownAsText(html);
    const verified = await render(PAGES['history-verified']());
    expect(verified).toContain('<div class="notice" role="status">The audit chain holds: 12 events, head abc…</div>');
    expect(verified).toContain('<p>No decisions yet.</p>');
    expect(await render(PAGES['history-broken']())).toContain(
      '<div class="notice error" role="alert">The audit chain is broken at event 7: hash</div>',
    );
  });

  it('runs: newest first as given, long requests cut at 120 characters, how many actions each waits for', async () => {
    const html = await render(PAGES.runs());
    expect(html).toContain(`<tr data-run="${RUN_ID}"><td data-label="Run" class="mono"><a href="/approvals/runs/${RUN_ID}">aaaaaaaa</a>`);
    expect(html).toContain('<strong>waiting_approval</strong> (2 waiting)</td>');
    expect(html).toContain('<td data-label="Started">1 h 30 min ago</td>');
    expect(html).toContain(`<td data-label="Asked to">${'x'.repeat(120)}…</td>`);
    expect(await render(PAGES['runs-empty']())).toContain('<p>No agent runs yet.</p>');
  });

  it('one run: its request as text, the actions it waits for as links, answer and error, events cut at 600 characters', async () => {
    const waiting = await render(PAGES['run-waiting']());
    expect(waiting).toContain('<title>Run aaaaaaaa · MYCA approvals</title>');
    expect(waiting).toContain('Run of <code>financial</code>: <span id="run-status">waiting_approval</span>');
    expect(waiting).toContain(`<li><a href="/approvals/actions/${ID}"><code>file.write</code> (11111111)</a></li>`);
    expect(waiting).toContain(`<td data-label="Details" class="mono">${'{&quot;text&quot;:&quot;'}${'y'.repeat(591)}</td>`);
    expect(waiting).not.toContain('<td data-label="By">');
    expectHostileShownAsText(waiting);
    const done = await render(PAGES['run-done']());
    expect(done).not.toContain('id="waiting"');
    expect(done).toContain('<dt>Answer</dt><dd>Written.</dd>');
    expect(done).toContain('<dt>Error</dt><dd>model refused ');
    expectHostileShownAsText(done);
  });

  it('shows the invisible characters that can hide text from the approver: tag characters, Hangul fillers, joiners', async () => {
    // "ASCII smuggling": each letter as its invisible tag character (U+E0000 + code), read by models, unseen by people.
    const smuggled = [...'rm -rf'].map((letter) => String.fromCodePoint(0xe0000 + (letter.codePointAt(0) ?? 0))).join('');
    const others = ['\u3164', '\u115F', '\uFFA0', '\u034F', '\u17B4', '\u206A', '\u{1BCA0}', '\u{1D173}'];
    const html = await render(Visible({ text: `fine${smuggled}${others.join('')}.` }));
    expect([...html].filter((char) => [...smuggled, ...others].includes(char))).toEqual([]);
    expect(html.startsWith('fine<span class="hidden-char" title="invisible character U+E0072">[U+E0072]</span>')).toBe(true);
    for (const code of ['E006D', 'E0020', 'E002D', 'E0066', '3164', '115F', 'FFA0', '034F', '17B4', '206A', '1BCA0', '1D173'])
      expect(html).toContain(`<span class="hidden-char" title="invisible character U+${code}">[U+${code}]</span>`);
    expect(html.endsWith('</span>.')).toBe(true);
    // Emoji keep their variation selector and joiner-free text is left alone.
    expect(await render(Visible({ text: 'ok \u2764\uFE0F, caf\u00E9 \u{1F600}' }))).toBe('ok \u2764\uFE0F, caf\u00E9 \u{1F600}');
  });

  it('every preformatted block (input, parameters, SQL, outcome) can be reached and scrolled from the keyboard', async () => {
    for (const page of [
      PAGES['detail-pending'],
      PAGES['detail-http'],
      PAGES['detail-db'],
      PAGES['detail-executed'],
      PAGES['detail-other-type'],
    ]) {
      const html = await render(page());
      const blocks = [...html.matchAll(/<pre\b[^>]*>/g)].map((m) => m[0]);
      expect(blocks.length).toBeGreaterThan(0);
      expect(blocks.filter((tag) => !tag.includes('tabindex="0"'))).toEqual([]);
    }
  });

  it('the shared pieces: durations, categories, notices, visible invisible characters, the error page', async () => {
    expect([0, 59_400, 60_000, 59 * MIN, 60 * MIN, 47 * 60 * MIN + 59 * MIN, 49 * 60 * MIN, -5].map(duration)).toEqual([
      '0 s',
      '59 s',
      '1 min',
      '59 min',
      '1 h 0 min',
      '47 h 59 min',
      '2 d 1 h',
      '0 s',
    ]);
    expect(await render(Category({ category: 'risky' }))).toBe('<span class="cat cat-risky">risky</span>');
    expect(await render(Notice({ kind: 'ok', children: 'done' }))).toBe('<div class="notice" role="status">done</div>');
    expect(await render(Visible({ text: null }))).toBe('');
    expect(await render(Visible({ text: 'a\u0000b\tc\u00ADd\uFEFF' }))).toBe(
      'a<span class="hidden-char" title="invisible character U+0000">[U+0000]</span>b\tc' +
        '<span class="hidden-char" title="invisible character U+00AD">[U+00AD]</span>d' +
        '<span class="hidden-char" title="invisible character U+FEFF">[U+FEFF]</span>',
    );
    expect(await render(WhatHappens({ row: action({ inputs: { path: 'p', content: 'é'.repeat(5000) } }) }))).toContain(
      `Write <strong>10000 bytes</strong> to <code>p</code> (created or replaced):</p><pre tabindex="0">${'é'.repeat(4000)}…</pre>`,
    );
    // A cut never splits a character beyond the basic plane (half a surrogate pair draws as U+FFFD).
    const emoji = await render(WhatHappens({ row: action({ inputs: { path: 'p', content: `${'a'.repeat(3999)}🍄🍄` } }) }));
    expect(emoji).toContain(`<pre tabindex="0">${'a'.repeat(3999)}…</pre>`);
    expect(emoji).not.toMatch(/[\uD800-\uDBFF](?![\uDC00-\uDFFF])/);
    expect(clip('🍄🍄', 3, '…')).toBe('🍄…');
    expect(clip('🍄🍄', 4, '…')).toBe('🍄🍄');
    expect(clip('abc', 2)).toBe('ab');
    const error = await render(PAGES['error-page']());
    expect(error).toContain('<title>Not found · MYCA approvals</title>');
    expect(error).toContain('role="alert">There is no action &lt;script&gt;alert(1)&lt;/script&gt;invoice');
    // What the caller sent (an id in the URL) is shown with its invisible characters made visible.
    expect(error).toContain('invoice<span class="hidden-char" title="invisible character U+202E">[U+202E]</span>fdp.exe');
    const failed = await render(
      DetailPage({
        row: action({ status: 'failed' }),
        events: [],
        run: null,
        principal: alice,
        csrf: CSRF,
        now: NOW,
        notice: { kind: 'error', text: 'failed: a\u200Bb' },
      }),
    );
    expect(failed).toContain('failed: a<span class="hidden-char" title="invisible character U+200B">[U+200B]</span>b');
  });
});
