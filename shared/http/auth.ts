import { createHash } from 'node:crypto';
import type { Context, MiddlewareHandler } from 'hono';
import { createRemoteJWKSet, type JWTPayload, jwtVerify } from 'jose';
import type { ApiKeyEntry, Role } from '../config/index.js';
import { keyDirectory } from '../governance/directory.js';
import { SECRET_PREFIX } from '../governance/keys.js';
import type { ApiKeyStore, JwtVerifier, Principal } from '../identity.js';
import type { Services } from '../services.js';
import { ApiError } from './errors.js';
import type { AppEnv } from './types.js';

export type { ApiKeyStore, JwtVerifier, Principal } from '../identity.js';

const JWT_SHAPE = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;

/**
 * JWTs for human approvers, verified with jose (runs on Node and in workerd) against a remote JWKS
 * that jose caches and refreshes. The subject becomes the principal id (prefixed `jwt:` so it can
 * never collide with an API key id); the roles claim must name approver or admin: agents use keys.
 */
export function createJwtVerifier(options: { issuer: string; audience: string; jwksUrl: string; rolesClaim: string }): JwtVerifier {
  const jwks = createRemoteJWKSet(new URL(options.jwksUrl), { timeoutDuration: 3000, cooldownDuration: 30_000 });
  return {
    verify: async (token) => {
      let payload: JWTPayload;
      try {
        ({ payload } = await jwtVerify(token, jwks, {
          issuer: options.issuer,
          audience: options.audience,
          algorithms: ['RS256', 'ES256', 'EdDSA', 'PS256'],
        }));
      } catch (error) {
        throw new ApiError('UNAUTHENTICATED', {
          detail: `The token was not accepted: ${(error as Error).message}`,
          hint: 'sign in again',
          headers: { 'www-authenticate': 'Bearer realm="myca", error="invalid_token"' },
        });
      }
      const claim = payload[options.rolesClaim];
      const roles = Array.isArray(claim) ? claim.map(String) : typeof claim === 'string' ? claim.split(/[ ,]/) : [];
      const role: Role | undefined = roles.includes('admin') ? 'admin' : roles.includes('approver') ? 'approver' : undefined;
      if (!payload.sub || !role)
        throw new ApiError('FORBIDDEN', {
          detail: 'The token carries no approver or admin role',
          hint: `the ${options.rolesClaim} claim must include approver`,
        });
      return { id: `jwt:${payload.sub}`, role, ...(typeof payload.exp === 'number' ? { expiresAt: payload.exp * 1000 } : {}) };
    },
  };
}

/**
 * Hex SHA-256. node:crypto's synchronous hash runs on Node and in workerd (nodejs_compat) and, on
 * every authenticated request, costs a fraction of WebCrypto's thread-pool round trip.
 */
export function sha256Hex(text: string): string {
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
  const roles = new Map<string, Principal['role']>();
  for (const entry of entries) {
    const hash = entry.secret_sha256 ?? (entry.secret ? sha256Hex(entry.secret) : undefined);
    if (hash) {
      byHash.set(hash, { id: entry.id, role: entry.role });
      roles.set(entry.id, entry.role);
    }
  }
  return {
    size: byHash.size,
    roleOf: (id) => roles.get(id),
    // Lookup by hash: the map key is a digest of the secret, so its timing reveals nothing usable.
    verify: async (secret) => byHash.get(sha256Hex(secret)) ?? null,
  };
}

/** Admin passes every role check; anyone else needs one of `roles` (when given). */
function checkRole(principal: Principal, roles: ReadonlyArray<Role> | undefined): void {
  if (roles && !roles.includes(principal.role) && principal.role !== 'admin') {
    throw new ApiError('FORBIDDEN', {
      detail: `The role "${principal.role}" may not do this`,
      hint: `use a key with role ${roles.join(' or ')}`,
    });
  }
}

/** Requires `Authorization: Bearer <key>`; 401 without a known key, 403 when the role is not allowed. */
export function requireAuth(options: { roles?: ReadonlyArray<Role> } = {}): MiddlewareHandler<AppEnv> {
  return async function requireAuthMiddleware(c, next) {
    // Already authenticated by an outer requireAuth (e.g. /v1/*): only the role check is left.
    const known = c.get('principal');
    if (known) {
      if (options.roles && !options.roles.includes(known.role) && known.role !== 'admin') {
        throw new ApiError('FORBIDDEN', {
          detail: `The role "${known.role}" may not do this`,
          hint: `use a key with role ${options.roles.join(' or ')}`,
        });
      }
      await next();
      return;
    }
    const principal = await authenticate(c);
    checkRole(principal, options.roles);
    await next();
  };
}

/**
 * The principal of the request's `Authorization: Bearer <key or JWT>`, from its headers alone (the
 * body is not touched: observe calls this before reading the body of a /v1 request), set on the
 * context and the log line. 401 without a known key.
 */
export async function authenticate(c: Context<AppEnv>): Promise<Principal> {
  const known = c.get('principal');
  if (known) return known;
  const header = c.req.header('authorization') ?? '';
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
  if (!match?.[1]) {
    throw new ApiError('UNAUTHENTICATED', {
      detail: header ? 'The Authorization header is not a Bearer token' : 'No Authorization header',
      hint: 'send Authorization: Bearer <your MYCA API key>',
      headers: { 'www-authenticate': 'Bearer realm="myca"' },
    });
  }
  const services = c.get('services');
  const token = match[1];
  let principal: Principal | null;
  if (services.jwt && JWT_SHAPE.test(token)) principal = await services.jwt.verify(token);
  else principal = await verifyKey(services, token);
  if (!principal) {
    throw new ApiError('UNAUTHENTICATED', {
      detail: 'Unknown API key',
      hint: 'check the key; keys are set with MYCA_API_KEYS, config/auth.yaml or POST /v1/keys',
      headers: { 'www-authenticate': 'Bearer realm="myca", error="invalid_token"' },
    });
  }
  c.set('principal', principal);
  c.set('logFields', { ...c.get('logFields'), principal: principal.id });
  return principal;
}

/**
 * The principal of an API key — one made through `POST /v1/keys` (the key directory, from its cache
 * without a promise when it can answer so), or one of MYCA_API_KEYS / auth.yaml — or null.
 */
export async function verifyKey(services: Services, token: string): Promise<Principal | null> {
  if (!token.startsWith(SECRET_PREFIX)) return services.auth.verify(token);
  const directory = keyDirectory(services.kv);
  const cached = directory.verifyCached(services, token);
  return (cached !== undefined ? cached : await directory.verify(services, token)) ?? (await services.auth.verify(token));
}

/** The JWT verifier the configuration asks for, or null when JWTs are not accepted. */
export function jwtVerifierFor(jwt: {
  issuer?: string | undefined;
  audience?: string | undefined;
  jwks_url?: string | undefined;
  roles_claim: string;
}): JwtVerifier | null {
  if (!jwt.jwks_url || !jwt.issuer || !jwt.audience) return null;
  return createJwtVerifier({ issuer: jwt.issuer, audience: jwt.audience, jwksUrl: jwt.jwks_url, rolesClaim: jwt.roles_claim });
}
