import { type Context, Hono, type MiddlewareHandler } from 'hono';
import { deleteCookie, getCookie, setCookie } from 'hono/cookie';
import { csrf } from 'hono/csrf';
import { secureHeaders } from 'hono/secure-headers';
import { verifyChain } from '../../shared/audit/chain.js';
import { CATEGORIES } from '../../shared/config/index.js';
import type { Principal } from '../../shared/http/auth.js';
import { ApiError } from '../../shared/http/errors.js';
import type { AppEnv } from '../../shared/http/types.js';
import { isUuid, readForm } from '../../shared/http/validate.js';
import type { Services } from '../../shared/services.js';
import { requireDb } from '../action-execute/index.js';
import { type ActionRow, expireDue, findAction } from '../action-execute/store.js';
import { resumeAfterDecision } from '../agent-run/index.js';
import { approveAction, decider, rejectAction } from '../approve/index.js';
import { CSS, JS } from './assets.js';
import {
  clientAddress,
  createSession,
  endSession,
  findSession,
  SESSION_TTL_S,
  sameToken,
  signInLockout,
  signInSubjects,
} from './session.js';
import {
  type AuditEventRow,
  DetailPage,
  HistoryPage,
  InboxPage,
  type InboxRow,
  InboxTable,
  Layout,
  LoginPage,
  Notice,
  type RunContext,
  type RunEventView,
  RunPage,
  type RunRowView,
  RunsPage,
} from './views/index.js';

const COOKIE = 'myca_approvals';

/** The peer of the Node server's socket (undefined in workerd and for in-process requests). */
const socketAddress = (c: Context): string | undefined =>
  (c.env as { incoming?: { socket?: { remoteAddress?: string } } } | undefined)?.incoming?.socket?.remoteAddress;

const isHttps = (c: Context) => new URL(c.req.url).protocol === 'https:' || c.req.header('x-forwarded-proto') === 'https';

/** An API key or (when configured) a JWT, as the API accepts them. */
async function verifyCredential(services: Services, credential: string): Promise<Principal | null> {
  if (!credential) return null;
  const byKey = await services.auth.verify(credential);
  if (byKey) return byKey;
  if (services.jwt && credential.split('.').length === 3) return services.jwt.verify(credential).catch(() => null);
  return null;
}

function page(c: Context<AppEnv>, status: 200 | 400 | 401 | 403 | 404 | 409 | 413 | 422 | 502 | 503, title: string, text: string) {
  const principal = c.get('principal');
  return c.html(
    <Layout title={title} principal={principal} csrf={c.get('csrfToken')}>
      <h1>{title}</h1>
      <Notice kind="error">{text}</Notice>
      <p>
        <a href="/approvals">Back to the inbox</a>
      </p>
    </Layout>,
    status,
  );
}

/**
 * The approvals inbox: a server-rendered page (Hono JSX) where a person signs in with an approver
 * credential, sees held actions, reviews one and approves or rejects it through the same functions
 * as the API (claim, digest, separation of duties, exactly-once execution).
 */
export function createApprovals() {
  const app = new Hono<AppEnv>();

  const headers = secureHeaders({
    contentSecurityPolicy: {
      defaultSrc: ["'none'"],
      scriptSrc: ["'self'"],
      styleSrc: ["'self'"],
      imgSrc: ["'self'"],
      connectSrc: ["'self'"],
      formAction: ["'self'"],
      frameAncestors: ["'none'"],
      baseUri: ["'none'"],
    },
    xFrameOptions: 'DENY',
    referrerPolicy: 'no-referrer',
    strictTransportSecurity: false,
  });
  app.use('/approvals', headers);
  app.use('/approvals/*', headers);
  // Origin check on every state change (the per-session token below is the second net).
  const sameOrigin = csrf({
    origin: (origin, c) => URL.canParse(origin) && new URL(origin).host === (c.req.header('host') ?? new URL(c.req.url).host),
  });
  app.use('/approvals/*', async (c, next) => {
    try {
      return await sameOrigin(c, next);
    } catch (error) {
      // Hono's csrf refuses with a bare 403; say why (a valid key was not the problem).
      if (error instanceof Error && 'status' in error && error.status === 403 && !(error instanceof ApiError))
        throw new ApiError('FORBIDDEN', {
          detail: 'This form did not come from this page: its Origin header is missing or names another site',
          hint: 'submit it from the approvals page in a browser, or send an Origin header naming this host (e.g. -H "Origin: http://127.0.0.1:8080")',
        });
      throw error;
    }
  });

  app.get('/approvals/assets/app.css', (c) =>
    c.body(CSS, 200, { 'content-type': 'text/css; charset=utf-8', 'cache-control': 'max-age=300' }),
  );
  app.get('/approvals/assets/app.js', (c) =>
    c.body(JS, 200, { 'content-type': 'text/javascript; charset=utf-8', 'cache-control': 'max-age=300' }),
  );

  app.get('/approvals/login', (c) => c.html(<LoginPage />));
  app.post('/approvals/login', async (c) => {
    const services = c.get('services');
    const form = await readForm(c);
    const credential = String(form.credential ?? '').trim();
    // Attempts are counted per client address and failed JWTs per account (shared key-value store,
    // 15-minute windows); when the store is down, sign-in is refused rather than left unlimited.
    const address = clientAddress({
      trustProxy: services.config.server.trust_proxy,
      forwardedFor: c.req.header('x-forwarded-for'),
      cfConnectingIp: services.runtime === 'node' ? undefined : c.req.header('cf-connecting-ip'),
      remoteAddress: socketAddress(c),
    });
    const subjects = signInSubjects(address, credential);
    const lockout = signInLockout(services.kv, services.clock.now(), subjects);
    const state = await lockout.begin();
    if (state === 'unavailable') {
      c.get('logger').error('approvals sign-in refused: the failure counter cannot be read', { client: subjects.address });
      return c.html(<LoginPage error="Sign-in is unavailable right now (its guard cannot be checked); try again shortly." />, 503, {
        'retry-after': '30',
      });
    }
    const tooMany = () => {
      c.get('logger').warn('approvals sign-in locked out', { client: subjects.address, account: subjects.account ?? null });
      return c.html(<LoginPage error="Too many failed sign-ins from here or for this account; wait 15 minutes." />, 429, {
        'retry-after': '900',
      });
    };
    if (state === 'locked') return tooMany();
    const principal = await verifyCredential(services, credential);
    if (!principal) {
      const counted = await lockout.failed().catch((error: unknown) => {
        c.get('logger').error('counting a failed sign-in failed', { error: error as Error });
        return 'counted' as const;
      });
      if (counted === 'locked') return tooMany();
      c.get('logger').warn('approvals sign-in failed', { client: subjects.address });
      return c.html(<LoginPage error="That key or token is not valid." />, 401);
    }
    await lockout
      .succeeded()
      .catch((error: unknown) => c.get('logger').error('releasing a sign-in attempt failed', { error: error as Error }));
    if (principal.role === 'agent') {
      c.get('logger').warn('an agent key tried to sign in to the approvals page', { principal: principal.id });
      return c.html(<LoginPage error="Agent keys cannot sign in: this page is for approvers. Use an approver key." />, 403);
    }
    const { id } = await createSession(requireDb(services).sql, principal);
    setCookie(c, COOKIE, id, { httpOnly: true, secure: isHttps(c), sameSite: 'Strict', path: '/approvals', maxAge: SESSION_TTL_S });
    c.get('logger').info('approver signed in', { principal: principal.id });
    return c.redirect('/approvals', 303);
  });

  // Everything else needs a session; every POST also needs the session's CSRF token.
  const signedIn: MiddlewareHandler<AppEnv> = async (c, next) => {
    const services = c.get('services');
    const session = await findSession(requireDb(services).sql, getCookie(c, COOKIE));
    if (!session) {
      if (c.req.method === 'GET' && !c.req.header('x-myca-fragment')) return c.redirect('/approvals/login', 303);
      return c.text('Sign in again', 401);
    }
    c.set('principal', session.principal);
    c.set('csrfToken', session.csrfToken);
    if (c.req.method === 'POST') {
      const form = await readForm(c);
      const token = typeof form.csrf === 'string' ? form.csrf : '';
      if (!token || !sameToken(token, session.csrfToken)) {
        c.get('logger').warn('approvals form without a valid CSRF token', { principal: session.principal.id, path: c.req.path });
        return page(c, 403, 'Refused', 'The form did not carry its security token (CSRF). Reload the page and try again.');
      }
    }
    await next();
  };
  app.use('/approvals', signedIn);
  app.use('/approvals/actions/*', signedIn);
  app.use('/approvals/history', signedIn);
  app.use('/approvals/runs', signedIn);
  app.use('/approvals/runs/*', signedIn);
  app.use('/approvals/logout', signedIn);

  app.post('/approvals/logout', async (c) => {
    await endSession(requireDb(c.get('services')).sql, getCookie(c, COOKIE));
    deleteCookie(c, COOKIE, { path: '/approvals', secure: isHttps(c) });
    return c.redirect('/approvals/login', 303);
  });

  app.get('/approvals', async (c) => {
    const services = c.get('services');
    const sql = requireDb(services).sql;
    const category = (CATEGORIES as readonly string[]).includes(c.req.query('category') ?? '') ? (c.req.query('category') as string) : '';
    const agent = /^[A-Za-z0-9._-]{1,64}$/.test(c.req.query('agent') ?? '') ? (c.req.query('agent') as string) : '';
    await expireDue(sql, c.get('correlationId')).catch(() => 0);
    const rows = await sql<InboxRow[]>`
      select a.*, r.status as run_status from action_audit_logs a
      -- CASE fixes the order: the cast runs only on a real UUID (a join condition's AND does not promise that).
      left join agent_runs r on r.id = case
        when a.agent_run_id ~* '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$' then a.agent_run_id::uuid end
      where a.status = 'pending'
        and (${category} = '' or a.action_category = ${category})
        and (${agent} = '' or a.agent_id = ${agent})
      order by a.created_at asc limit 500`;
    const now = services.clock.now();
    if (c.req.header('x-myca-fragment') === 'inbox') return c.html(<InboxTable rows={rows} now={now} />);
    const agents = await sql<{ agent_id: string }[]>`select distinct agent_id from action_audit_logs where status = 'pending' order by 1`;
    return c.html(
      <InboxPage
        rows={rows}
        now={now}
        principal={c.get('principal')}
        csrf={c.get('csrfToken')}
        filters={{ category, agent }}
        agents={[...new Set([...agents.map((row) => row.agent_id), ...(agent ? [agent] : [])])]}
        categories={CATEGORIES}
      />,
    );
  });

  /** The detail page of one action, with an optional notice (a decision's result or refusal). */
  const detail = async (
    c: Context<AppEnv>,
    id: string,
    notice?: PageNotice | ((row: ActionRow) => PageNotice | undefined),
    status: 200 | 400 | 403 | 409 = 200,
  ) => {
    const services = c.get('services');
    const sql = requireDb(services).sql;
    await expireDue(sql, c.get('correlationId')).catch(() => 0);
    const row = isUuid(id) ? await findAction(sql, id) : undefined;
    if (!row) return page(c, 404, 'Not found', `There is no action ${id}.`);
    const events = await sql<AuditEventRow[]>`
      select seq::text, event, actor, data, created_at from action_audit_events where action_id = ${id} order by seq`;
    let run: RunContext | null = null;
    if (row.agent_run_id && isUuid(row.agent_run_id)) {
      [run = null] = await sql<RunContext[]>`select id, agent_name, status, input, step from agent_runs where id = ${row.agent_run_id}`;
    }
    const querySql = row.action_type === 'db.query' ? services.config.policy.queries[String(row.inputs.query)]?.sql : undefined;
    return c.html(
      <DetailPage
        row={row}
        events={events}
        run={run}
        principal={c.get('principal')}
        csrf={c.get('csrfToken')}
        now={services.clock.now()}
        notice={typeof notice === 'function' ? notice(row) : notice}
        {...(querySql ? { querySql } : {})}
      />,
      status,
    );
  };

  app.get('/approvals/actions/:id', async (c) => {
    const done = c.req.query('done');
    // After a decision: what came of it, told from the row the page shows (one read, not two).
    return detail(c, c.req.param('id'), done === 'approved' || done === 'rejected' ? (row) => outcomeNotice(done, row) : undefined);
  });

  const decide = async (c: Context<AppEnv>, verb: 'approve' | 'reject') => {
    const services = c.get('services');
    const id = c.req.param('id') ?? '';
    if (!isUuid(id)) return page(c, 404, 'Not found', `There is no action ${id}.`);
    const form = await readForm(c);
    try {
      if (verb === 'approve') {
        const digest = String(form.digest ?? '');
        if (!/^[0-9a-f]{64}$/.test(digest))
          return detail(c, id, { kind: 'error', text: 'The form did not carry the digest you reviewed.' }, 400);
        const comment = String(form.comment ?? '').trim();
        const decided = await approveAction(decider(c), id, { digest, ...(comment ? { comment: comment.slice(0, 2000) } : {}) });
        resumeAfterDecision(c, services, decided.row.agent_run_id, 'approved');
      } else {
        const reason = String(form.reason ?? '').trim();
        if (!reason) return detail(c, id, { kind: 'error', text: 'Say why you reject it: the agent is told the reason.' }, 400);
        const rejected = await rejectAction(decider(c), id, { reason: reason.slice(0, 2000) });
        resumeAfterDecision(c, services, rejected.agent_run_id, 'rejected');
      }
    } catch (error) {
      if (!(error instanceof ApiError)) throw error;
      // A stale page: decided elsewhere, expired, changed, or the approver's own request.
      const status = error.status === 403 ? 403 : 409;
      return detail(
        c,
        id,
        { kind: 'error', text: `Your decision was not recorded: ${error.message}.${error.hint ? ` (${error.hint})` : ''}` },
        status,
      );
    }
    return c.redirect(`/approvals/actions/${id}?done=${verb === 'approve' ? 'approved' : 'rejected'}`, 303);
  };
  app.post('/approvals/actions/:id/approve', (c) => decide(c, 'approve'));
  app.post('/approvals/actions/:id/reject', (c) => decide(c, 'reject'));

  app.get('/approvals/history', async (c) => {
    const services = c.get('services');
    const sql = requireDb(services).sql;
    const rows = await sql<ActionRow[]>`
      select * from action_audit_logs where decided_at is not null order by decided_at desc limit 200`;
    let verify: { ok: boolean; text: string } | undefined;
    if (c.req.query('verify')) {
      const result = await verifyChain(sql, { kv: services.kv });
      verify = result.ok
        ? { ok: true, text: `The audit chain holds: ${result.events} events, head ${result.head?.slice(0, 16)}…` }
        : { ok: false, text: `The audit chain is broken at event ${result.broken?.seq}: ${result.broken?.reason}` };
    }
    return c.html(<HistoryPage rows={rows} principal={c.get('principal')} csrf={c.get('csrfToken')} verify={verify} />);
  });

  app.get('/approvals/runs', async (c) => {
    const services = c.get('services');
    const runs = await requireDb(services).sql<RunRowView[]>`
      select id, agent_name, status, requested_by, input, step, pending, output, error, created_at, updated_at
      from agent_runs order by created_at desc limit 100`;
    return c.html(<RunsPage runs={runs} principal={c.get('principal')} csrf={c.get('csrfToken')} now={services.clock.now()} />);
  });

  app.get('/approvals/runs/:id', async (c) => {
    const sql = requireDb(c.get('services')).sql;
    const id = c.req.param('id');
    const [run] = isUuid(id)
      ? await sql<RunRowView[]>`
          select id, agent_name, status, requested_by, input, step, pending, output, error, created_at, updated_at
          from agent_runs where id = ${id}`
      : [];
    if (!run) return page(c, 404, 'Not found', `There is no run ${id}.`);
    const events = await sql<RunEventView[]>`select seq, type, data, created_at from agent_run_events where run_id = ${id} order by seq`;
    return c.html(<RunPage run={run} events={events} principal={c.get('principal')} csrf={c.get('csrfToken')} />);
  });

  return app;
}

type PageNotice = { kind: 'ok' | 'error'; text: string };

function outcomeNotice(done: 'approved' | 'rejected', row: ActionRow): PageNotice {
  if (done === 'rejected') return { kind: 'ok', text: 'Rejected. The agent is told your reason.' };
  if (row.status === 'executed') return { kind: 'ok', text: 'Approved and executed.' };
  if (row.status === 'failed') return { kind: 'error', text: `Approved, but the action failed: ${row.error ?? 'unknown error'}` };
  return { kind: 'ok', text: `Approved (now ${row.status}).` };
}
