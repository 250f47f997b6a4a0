import type { Context, Hono, MiddlewareHandler } from 'hono';
import { getCookie } from 'hono/cookie';
import { csrf } from 'hono/csrf';
import { secureHeaders } from 'hono/secure-headers';
import { KEY_ID } from '../../shared/governance/keys.js';
import { ApiError } from '../../shared/http/errors.js';
import type { AppEnv } from '../../shared/http/types.js';
import { readForm } from '../../shared/http/validate.js';
import { requireDb } from '../actions/index.js';
import { CSS, JS } from './assets.js';
import { endSession, findSession, sameToken } from './session.js';
import { ErrorPage } from './views/index.js';

/** The session cookie's name. */
export const COOKIE = 'myca_approvals';

export const isHttps = (c: Context) => new URL(c.req.url).protocol === 'https:' || c.req.header('x-forwarded-proto') === 'https';

/** A page saying what went wrong, in the layout, with a way back. */
export function page(c: Context<AppEnv>, status: 200 | 400 | 401 | 403 | 404 | 409 | 413 | 422 | 502 | 503, title: string, text: string) {
  return c.html(<ErrorPage title={title} text={text} principal={c.get('principal')} csrf={c.get('csrfToken')} />, status);
}

/** Security headers and the Origin check on every page and form; the style sheet and script. */
export function guard(app: Hono<AppEnv>): void {
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
}

/** Everything but sign-in needs a session; every POST also needs the session's CSRF token. */
export const signedIn: MiddlewareHandler<AppEnv> = async (c, next) => {
  const services = c.get('services');
  const sql = requireDb(services).sql;
  const cookie = getCookie(c, COOKIE);
  let session = await findSession(sql, cookie);
  // A configured key's session ends when the server restarts without that key (or with another role).
  // Keys made through the API are held to their row by findSession itself; a JWT's session ends with
  // the token (createSession).
  const { id, role } = session?.principal ?? {};
  if (id && !id.startsWith('jwt:') && !KEY_ID.test(id) && services.auth.roleOf(id) !== role) {
    await endSession(sql, cookie);
    session = null;
  }
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
