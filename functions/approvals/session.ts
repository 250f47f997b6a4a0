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

/**
 * Starts a session of {@link SESSION_TTL_S}, or shorter when the credential expires sooner (a JWT's
 * `exp`); returns the cookie value (only its hash is stored).
 */
export async function createSession(sql: Sql, principal: Principal): Promise<{ id: string; session: Session }> {
  const id = randomHex(32);
  const csrfToken = randomHex(32);
  const ends = principal.expiresAt === undefined ? null : new Date(principal.expiresAt);
  const [row] = await sql<{ expires_at: Date }[]>`
    insert into approval_sessions (id_hash, principal_id, role, csrf_token, expires_at)
    values (${sha256Hex(id)}, ${principal.id}, ${principal.role}, ${csrfToken},
      least(now() + ${SESSION_TTL_S} * interval '1 second', coalesce(${ends}::timestamptz, 'infinity')))
    returning expires_at`;
  return { id, session: { principal, csrfToken, expiresAt: row?.expires_at ?? new Date() } };
}

export async function findSession(sql: Sql, id: string | undefined): Promise<Session | null> {
  if (!id || !/^[0-9a-f]{64}$/.test(id)) return null;
  // The session of a key made through the API holds only while the key does, in the same query: not
  // revoked, the same role, and — begun before a rotation — not past the old secret's end (a rotation
  // after a leak also closes what the leak opened).
  const [row] = await sql<{ principal_id: string; role: Principal['role']; csrf_token: string; expires_at: Date }[]>`
    select s.principal_id, s.role, s.csrf_token, s.expires_at from approval_sessions s
    left join virtual_keys k on k.id = s.principal_id
    where s.id_hash = ${sha256Hex(id)} and s.expires_at > now()
      and (
        (k.id is null and s.principal_id !~ '^vk_[0-9a-f]{24}$')
        or (k.revoked_at is null and k.role = s.role
          and not (k.rotated_at is not null and s.created_at < k.rotated_at
            and coalesce(k.previous_secret_expires_at, k.rotated_at) <= now()))
      )`;
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

/**
 * The client address a sign-in attempt is counted against. X-Forwarded-For only when `trustProxy`
 * proxies append to it: the entry the nearest of them wrote (`trustProxy` from the right; the ones
 * before are the client's to invent). Else workerd's CF-Connecting-IP (Cloudflare sets it), else
 * the socket's address (Node), else `unknown`.
 */
export function clientAddress(source: {
  trustProxy: number;
  forwardedFor?: string | undefined;
  cfConnectingIp?: string | undefined;
  remoteAddress?: string | undefined;
}): string {
  if (source.trustProxy > 0 && source.forwardedFor) {
    const hops = source.forwardedFor
      .split(',')
      .map((entry) => entry.trim())
      .filter(Boolean);
    const entry = hops.at(-Math.min(source.trustProxy, hops.length));
    if (entry) return entry.slice(0, 64);
  }
  return (source.cfConnectingIp?.trim() || source.remoteAddress || 'unknown').slice(0, 64);
}

/**
 * Who a sign-in attempt is counted against: the client address, and for a JWT the account its
 * subject names (read without trusting it). An API key names no account: a wrong key is counted
 * against its address only, so failures elsewhere never lock out a right key.
 */
export function signInSubjects(address: string, credential: string) {
  let account: string | undefined;
  const parts = credential.split('.');
  if (parts.length === 3) {
    try {
      const sub = (JSON.parse(atob((parts[1] ?? '').replace(/-/g, '+').replace(/_/g, '/'))) as { sub?: unknown }).sub;
      if (typeof sub === 'string' && sub.length > 0 && sub.length <= 256) account = `jwt:${sha256Hex(sub).slice(0, 32)}`;
    } catch {
      // not a JWT after all: the address alone counts
    }
  }
  return { address, account };
}

/**
 * The sign-in lockout over the shared key-value store, race-free: every attempt first takes a slot
 * of its address's count (an atomic increment) and is refused (429) when that goes over the limit,
 * so parallel guesses cannot all pass a check made before any of them counted. A successful
 * sign-in gives its slot back. A failed JWT also counts against the account it names; over that
 * limit the failure answers 429, but a valid credential is never refused by others' failures.
 * Fails closed: when the store cannot count, sign-in is refused (503) rather than left unlimited.
 */
export function signInLockout(kv: KeyValueStore, now: number, subjects: ReturnType<typeof signInSubjects>) {
  const window = Math.floor(now / LOGIN_WINDOW_MS);
  const addressKey = `myca:login-failures:addr:${subjects.address}:${window}`;
  const accountKey = subjects.account ? `myca:login-failures:acct:${subjects.account}:${window}` : undefined;
  return {
    /** Takes the attempt's slot: 'locked' over the limit, 'unavailable' when the store cannot count, else 'open'. */
    begin: async (): Promise<'open' | 'locked' | 'unavailable'> => {
      try {
        const count = await kv.incr(addressKey, { ttlMs: LOGIN_WINDOW_MS });
        return count > MAX_FAILURES_PER_ADDRESS ? 'locked' : 'open';
      } catch {
        return 'unavailable';
      }
    },
    /** A valid credential: its slot is given back (successes do not count). */
    succeeded: async () => {
      await kv.incr(addressKey, { by: -1, ttlMs: LOGIN_WINDOW_MS });
    },
    /** A wrong credential: the address keeps its slot; a JWT's account counts it. 'locked' when the account is over its limit. */
    failed: async (): Promise<'locked' | 'counted'> => {
      if (!accountKey) return 'counted';
      const count = await kv.incr(accountKey, { ttlMs: LOGIN_WINDOW_MS });
      return count > MAX_FAILURES_PER_ACCOUNT ? 'locked' : 'counted';
    },
  };
}
