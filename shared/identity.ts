import type { Role } from './config/index.js';

// Who calls, and the ports that say so: types only, so that Services (services.ts) can name them
// without importing the HTTP layer, which itself names Services (no import circle).

/** Who is calling: the id of the key's owner and what it may do. */
export interface Principal {
  id: string;
  role: Role;
  /** When the credential itself stops being valid (a JWT's `exp`, epoch ms); a session never outlives it. */
  expiresAt?: number;
}

/** Looks callers up by the SHA-256 of their key; raw keys are never kept in memory. */
export interface ApiKeyStore {
  /** The principal of this bearer secret, or null. */
  verify(secret: string): Promise<Principal | null>;
  /** The role of a configured key's id, or undefined when no configured key has it (any more). */
  roleOf(id: string): Principal['role'] | undefined;
  readonly size: number;
}

/** Verifies approver JWTs (issuer, audience, signature against the JWKS); null where none are accepted. */
export interface JwtVerifier {
  verify(token: string): Promise<Principal>;
}
