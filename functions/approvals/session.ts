import type { Sql } from 'postgres';
import type { Principal } from '../../shared/http/auth.js';
import { sha256Hex } from '../../shared/http/auth.js';
import type { KeyValueStore } from '../../shared/kv/index.js';
import { randomHex } from '../../shared/telemetry/correlation.js';

/** How long a sign-in lasts. */
export const SESSION_TTL_S = 8 * 3600;

export interface Session {
  principal: Principal;
  csrfToken: string;
  expiresAt: Date;
}

/** Starts a session; returns the cookie value (only its hash is stored). */
export async function createSession(sql: Sql, principal: Principal): Promise<{ id: string; session: Session }> {
  const id = randomHex(32);
  const csrfToken = randomHex(32);
  const [row] = await sql<{ expires_at: Date }[]>`
    insert into approval_sessions (id_hash, principal_id, role, csrf_token, expires_at)
    values (${sha256Hex(id)}, ${principal.id}, ${principal.role}, ${csrfToken}, now() + ${SESSION_TTL_S} * interval '1 second')
    returning expires_at`;
  return { id, session: { principal, csrfToken, expiresAt: row?.expires_at ?? new Date() } };
}

export async function findSession(sql: Sql, id: string | undefined): Promise<Session | null> {
  if (!id || !/^[0-9a-f]{64}$/.test(id)) return null;
  const [row] = await sql<{ principal_id: string; role: Principal['role']; csrf_token: string; expires_at: Date }[]>`
    select principal_id, role, csrf_token, expires_at from approval_sessions
    where id_hash = ${sha256Hex(id)} and expires_at > now()`;
  return row ? { principal: { id: row.principal_id, role: row.role }, csrfToken: row.csrf_token, expiresAt: row.expires_at } : null;
}

export async function endSession(sql: Sql, id: string | undefined): Promise<void> {
  if (!id) return;
  // Expired sessions go too: the table never grows without bound.
  await sql`delete from approval_sessions where id_hash = ${sha256Hex(id)} or expires_at < now()`;
}

/** Constant-time comparison of two tokens (a CSRF token must not leak through timing). */
export function sameToken(a: string, b: string): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a.charCodeAt(i) ^ b.charCodeAt(i);
  return diff === 0;
}

/** The sign-in lockout's window and limits. */
export const LOGIN_WINDOW_MS = 15 * 60_000;
const MAX_FAILURES_PER_ADDRESS = 10;
const MAX_FAILURES_PER_ACCOUNT = 10;
/** All API-key guesses share one count (a wrong key names no account): a ceiling on guessing from many addresses. */
const MAX_FAILURES_OF_KEYS = 100;

/**
 * Who a sign-in attempt is counted against: the client address (the last `X-Forwarded-For` entry,
 * which your proxy — or Cloudflare — appended; the ones before it are the client's to invent; else
 * `CF-Connecting-IP`)
 * and the account the credential names: a JWT's subject (read without trusting it), or, for API
 * keys, which carry no name, all of them together.
 */
export function signInSubjects(headers: { forwardedFor?: string; cfConnectingIp?: string }, credential: string) {
  const address = headers.forwardedFor?.split(',').at(-1)?.trim() || headers.cfConnectingIp?.trim() || 'direct';
  let account = 'api-keys';
  let accountLimit = MAX_FAILURES_OF_KEYS;
  const parts = credential.split('.');
  if (parts.length === 3) {
    try {
      const sub = (JSON.parse(atob((parts[1] ?? '').replace(/-/g, '+').replace(/_/g, '/'))) as { sub?: unknown }).sub;
      if (typeof sub === 'string' && sub.length > 0 && sub.length <= 256) {
        account = `jwt:${sha256Hex(sub).slice(0, 32)}`;
        accountLimit = MAX_FAILURES_PER_ACCOUNT;
      }
    } catch {
      // not a JWT after all: counted with the keys
    }
  }
  return { address, account, accountLimit };
}

/**
 * The sign-in lockout over the shared key-value store: 429 after too many failures from one address
 * or against one account within the window. Fails closed: when the store cannot be read, sign-in
 * is refused (503) rather than left unlimited.
 */
export function signInLockout(kv: KeyValueStore, now: number, subjects: ReturnType<typeof signInSubjects>) {
  const window = Math.floor(now / LOGIN_WINDOW_MS);
  const keys = [
    { key: `myca:login-failures:addr:${subjects.address}:${window}`, limit: MAX_FAILURES_PER_ADDRESS },
    { key: `myca:login-failures:acct:${subjects.account}:${window}`, limit: subjects.accountLimit },
  ];
  return {
    /** 'locked' when a limit is reached, 'unavailable' when the store cannot say, else 'open'. */
    check: async (): Promise<'open' | 'locked' | 'unavailable'> => {
      try {
        const counts = await Promise.all(keys.map(({ key }) => kv.get(key)));
        return counts.some((count, index) => Number(count ?? 0) >= (keys[index]?.limit ?? 0)) ? 'locked' : 'open';
      } catch {
        return 'unavailable';
      }
    },
    fail: async () => {
      await Promise.all(keys.map(({ key }) => kv.incr(key, { ttlMs: LOGIN_WINDOW_MS })));
    },
  };
}
