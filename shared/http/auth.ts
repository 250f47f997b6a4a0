import { createHash } from 'node:crypto';
import type { MiddlewareHandler } from 'hono';
import type { ApiKeyEntry, Role } from '../config/index.js';
import { ApiError } from './errors.js';
import type { AppEnv } from './types.js';

/** Who is calling: the id of the key's owner and what it may do. */
export interface Principal {
  id: string;
  role: Role;
}

/** Looks callers up by the SHA-256 of their key; raw keys are never kept in memory. */
export interface ApiKeyStore {
  /** The principal of this bearer secret, or null. */
  verify(secret: string): Promise<Principal | null>;
  readonly size: number;
}

/**
 * Hex SHA-256. node:crypto's synchronous hash runs on Node and in workerd (nodejs_compat) and, on
 * every authenticated request, costs a fraction of WebCrypto's thread-pool round trip.
 */
export async function sha256Hex(text: string): Promise<string> {
  return createHash('sha256').update(text).digest('hex');
}

/**
 * Builds the store from configured entries, hashing raw secrets once.
 *
 * @example
 * const store = await createApiKeyStore([{ id: 'planner', role: 'agent', secret: 'myca_…' }]);
 * await store.verify('myca_…'); // → { id: 'planner', role: 'agent' }
 */
export async function createApiKeyStore(entries: ReadonlyArray<ApiKeyEntry>): Promise<ApiKeyStore> {
  const byHash = new Map<string, Principal>();
  for (const entry of entries) {
    const hash = entry.secret_sha256 ?? (entry.secret ? await sha256Hex(entry.secret) : undefined);
    if (hash) byHash.set(hash, { id: entry.id, role: entry.role });
  }
  return {
    size: byHash.size,
    // Lookup by hash: the map key is a digest of the secret, so its timing reveals nothing usable.
    verify: async (secret) => byHash.get(await sha256Hex(secret)) ?? null,
  };
}

/** Requires `Authorization: Bearer <key>`; 401 without a known key, 403 when the role is not allowed. */
export function requireAuth(options: { roles?: ReadonlyArray<Role> } = {}): MiddlewareHandler<AppEnv> {
  return async function requireAuthMiddleware(c, next) {
    const header = c.req.header('authorization') ?? '';
    const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
    if (!match?.[1]) {
      throw new ApiError('UNAUTHENTICATED', {
        detail: header ? 'The Authorization header is not a Bearer token' : 'No Authorization header',
        hint: 'send Authorization: Bearer <your MYCA API key>',
        headers: { 'www-authenticate': 'Bearer realm="myca"' },
      });
    }
    const principal = await c.get('services').auth.verify(match[1]);
    if (!principal) {
      throw new ApiError('UNAUTHENTICATED', {
        detail: 'Unknown API key',
        hint: 'check the key; keys are set with MYCA_API_KEYS or config/auth.yaml',
        headers: { 'www-authenticate': 'Bearer realm="myca", error="invalid_token"' },
      });
    }
    if (options.roles && !options.roles.includes(principal.role) && principal.role !== 'admin') {
      throw new ApiError('FORBIDDEN', {
        detail: `The role "${principal.role}" may not do this`,
        hint: `use a key with role ${options.roles.join(' or ')}`,
      });
    }
    c.set('principal', principal);
    c.set('logFields', { ...c.get('logFields'), principal: principal.id });
    await next();
  };
}
