import type { Sql } from 'postgres';
import type { Principal } from '../../shared/http/auth.js';
import { sha256Hex } from '../../shared/http/auth.js';
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
