import { type Context, Hono } from 'hono';
import { deleteCookie, getCookie, setCookie } from 'hono/cookie';
import { type Principal, verifyKey } from '../../shared/http/auth.js';
import type { AppEnv } from '../../shared/http/types.js';
import { readForm } from '../../shared/http/validate.js';
import type { Services } from '../../shared/services.js';
import { requireDb } from '../actions/index.js';
import { COOKIE, isHttps } from './layout.js';
import { clientAddress, createSession, endSession, SESSION_TTL_S, signInLockout, signInSubjects } from './session.js';
import { LoginPage } from './views/index.js';

/** The peer of the Node server's socket (undefined in workerd and for in-process requests). */
const socketAddress = (c: Context): string | undefined =>
  (c.env as { incoming?: { socket?: { remoteAddress?: string } } } | undefined)?.incoming?.socket?.remoteAddress;

/** An API key or (when configured) a JWT, as the API accepts them. */
async function verifyCredential(services: Services, credential: string): Promise<Principal | null> {
  if (!credential) return null;
  const byKey = await verifyKey(services, credential);
  if (byKey) return byKey;
  if (services.jwt && credential.split('.').length === 3) return services.jwt.verify(credential).catch(() => null);
  return null;
}

/** Sign-in (`/approvals/login`, rate-limited per client and account) and sign-out. */
export function signInRoutes() {
  const app = new Hono<AppEnv>();
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
    const { id, session } = await createSession(requireDb(services).sql, principal);
    const maxAge = Math.max(1, Math.min(SESSION_TTL_S, Math.ceil((session.expiresAt.getTime() - services.clock.now()) / 1000)));
    setCookie(c, COOKIE, id, { httpOnly: true, secure: isHttps(c), sameSite: 'Strict', path: '/approvals', maxAge });
    c.get('logger').info('approver signed in', { principal: principal.id });
    return c.redirect('/approvals', 303);
  });
  return app;
}

/** Sign-out (behind the session check). */
export function signOutRoutes() {
  const app = new Hono<AppEnv>();
  app.post('/approvals/logout', async (c) => {
    await endSession(requireDb(c.get('services')).sql, getCookie(c, COOKIE));
    deleteCookie(c, COOKIE, { path: '/approvals', secure: isHttps(c) });
    return c.redirect('/approvals/login', 303);
  });
  return app;
}
