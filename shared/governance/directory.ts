import { agentsBoundTo } from '../config/agents.js';
import { ApiError } from '../http/errors.js';
import type { Principal } from '../identity.js';
import type { KeyValueStore } from '../kv/index.js';
import type { Services } from '../services.js';
import { findKey, findKeyBySecret, KEY_ID, type KeyPolicy, policyOfRow, SECRET_PREFIX, sha256Hex } from './keys.js';

/** How often an instance asks the key-value store whether any key changed (the revocation bound). */
export const GENERATION_CHECK_MS = 1000;
/** How long a looked-up key is trusted at most, even when the key-value store cannot be asked. */
export const KEY_MAX_AGE_MS = 10_000;
/** Looked-up digests kept at most (known and unknown); past it the cache starts over. */
const MAX_ENTRIES = 10_000;
const GENERATION_KEY = 'myca:keys:generation';

interface Entry {
  policy: KeyPolicy | null;
  until: number;
}

/**
 * The keys made through the API, looked up by the SHA-256 of the bearer secret and cached here per
 * instance (per isolate in workerd). Every change (create, patch, rotate, revoke) adds one to a
 * generation counter in the key-value store; each instance reads it at most every
 * {@link GENERATION_CHECK_MS} on use and forgets its cache when it moved. So a revoked key is refused
 * by every instance within about 1 s (plus one store read) while the store answers, and within
 * {@link KEY_MAX_AGE_MS} when it does not (entries are never trusted longer).
 */
export class KeyDirectory {
  private readonly bySecret = new Map<string, Entry>();
  private readonly byId = new Map<string, Entry>();
  private generation: string | null = null;
  private checkedAt = 0;
  private checking: Promise<void> | undefined;
  /** Goes up with every cache clear: a lookup that began before one must not refill the cache with what it read. */
  private epoch = 0;

  constructor(private readonly kv: KeyValueStore) {}

  /**
   * {@link verify}'s answer when it is known without waiting: the secret's entry is cached and no
   * generation check is due (so the revocation bound is the same). undefined: call {@link verify}.
   * The hot path of every request with such a key, without a promise.
   */
  verifyCached(services: Services, secret: string): Principal | null | undefined {
    if (!secret.startsWith(SECRET_PREFIX) || !services.db) return null;
    const now = services.clock.now();
    if (now - this.checkedAt >= GENERATION_CHECK_MS) return undefined;
    const cached = this.bySecret.get(sha256Hex(secret));
    if (!cached || cached.until <= now) return undefined;
    return cached.policy && { id: cached.policy.id, role: cached.policy.role };
  }

  /** The principal of a secret made through the API, or null (unknown, revoked, past its grace). */
  async verify(services: Services, secret: string): Promise<Principal | null> {
    if (!secret.startsWith(SECRET_PREFIX) || !services.db) return null;
    const checking = this.fresh(services.clock.now());
    if (checking) await checking;
    const digest = sha256Hex(secret);
    const now = services.clock.now();
    const cached = this.bySecret.get(digest);
    if (cached && cached.until > now) return cached.policy && { id: cached.policy.id, role: cached.policy.role };
    const epoch = this.epoch;
    const row = await findKeyBySecret(services.db.sql, digest).catch((error: unknown) => {
      throw new ApiError('UNAVAILABLE', {
        detail: 'The keys made through the API cannot be looked up now (the database did not answer)',
        hint: 'retry shortly; keys of MYCA_API_KEYS and auth.yaml keep working',
        cause: error,
      });
    });
    const policy = row ? policyOfRow(row, services.config) : null;
    // A rotated key's previous secret is trusted no longer than its grace.
    const graceEnd =
      row?.by_previous && row.previous_secret_expires_at ? row.previous_secret_expires_at.getTime() : Number.POSITIVE_INFINITY;
    const until = Math.min(now + KEY_MAX_AGE_MS, graceEnd);
    // Only secrets of real keys are remembered: a flood of made-up ones must not push them out. A
    // lookup that a cache clear overtook (a revocation seen meanwhile) answers but is not remembered.
    if (epoch === this.epoch) {
      if (row) this.remember(this.bySecret, digest, { policy, until });
      if (policy) this.remember(this.byId, policy.id, { policy, until: now + KEY_MAX_AGE_MS });
    }
    return policy && { id: policy.id, role: policy.role };
  }

  /**
   * {@link policy}'s answer when it is known without waiting: a configured key's defaults, or a live
   * key's cached policy while no generation check is due (the same revocation bound). undefined: call
   * {@link policy}.
   */
  policyCached(services: Services, id: string): KeyPolicy | undefined {
    if (!KEY_ID.test(id) || !services.db) return configPolicy(services, id);
    const now = services.clock.now();
    if (now - this.checkedAt >= GENERATION_CHECK_MS) return undefined;
    const cached = this.byId.get(id);
    return cached && cached.until > now && cached.policy ? cached.policy : undefined;
  }

  /** The policy of a key id: a live key of the API (null once revoked), else a configured key's defaults. */
  async policy(services: Services, id: string): Promise<KeyPolicy | null> {
    if (!KEY_ID.test(id) || !services.db) return configPolicy(services, id);
    const checking = this.fresh(services.clock.now());
    if (checking) await checking;
    const now = services.clock.now();
    const cached = this.byId.get(id);
    if (cached && cached.until > now && cached.policy) return cached.policy;
    const epoch = this.epoch;
    const row = await findKey(services.db.sql, id);
    if (!row || row.revoked_at) return null;
    const policy = policyOfRow(row, services.config);
    if (epoch === this.epoch) this.remember(this.byId, id, { policy, until: now + KEY_MAX_AGE_MS });
    return policy;
  }

  /** Tells every instance that keys changed (after the change is committed). */
  async changed(): Promise<void> {
    this.forget();
    const generation = await this.kv.incr(GENERATION_KEY);
    this.generation = String(generation);
    this.checkedAt = Date.now();
  }

  /** Clears both caches; a lookup begun before keeps its answer to itself (see `epoch`). */
  private forget(): void {
    this.bySecret.clear();
    this.byId.clear();
    this.epoch++;
  }

  private remember(map: Map<string, Entry>, key: string, entry: Entry): void {
    if (map.size >= MAX_ENTRIES) map.clear();
    map.set(key, entry);
  }

  private fresh(now: number): Promise<void> | undefined {
    if (now - this.checkedAt < GENERATION_CHECK_MS) return undefined;
    this.checking ??= this.kv
      .get(GENERATION_KEY)
      .then(
        (generation) => {
          if (generation !== this.generation) {
            this.forget();
            this.generation = generation;
          }
          this.checkedAt = Date.now();
        },
        // The store is down: entries still expire after KEY_MAX_AGE_MS; ask again at the next check.
        () => {
          this.checkedAt = Date.now();
        },
      )
      .finally(() => {
        this.checking = undefined;
      });
    return this.checking;
  }
}

/** A key of MYCA_API_KEYS or auth.yaml: no limits of its own (the global rate limit applies), any model. */
export function configPolicy(services: Services, id: string): KeyPolicy {
  const entry = services.config.apiKeys.find((key) => key.id === id);
  return {
    id,
    name: id,
    role: entry?.role ?? 'agent',
    source: 'config',
    // Only agents that exist: a key's own name is no agent unless agents.yaml defines it.
    agents: agentsBoundTo(services.config.agents, id).filter((name) => Object.hasOwn(services.config.agents.agents, name)),
    models: null,
    allow_unpriced: services.config.governance.config_keys_allow_unpriced,
    rpm: null,
    tpm: null,
    budget_usd: null,
    budget_period: null,
  };
}

/**
 * The agents a key acts as (actions, agent runs): a key made through the API, its own `agents` plus
 * those whose agents.yaml `keys` name it (policyOfRow); a configured key, agentsBoundTo. None once revoked.
 */
export async function boundAgents(services: Services, keyId: string): Promise<string[]> {
  if (!KEY_ID.test(keyId) || !services.db) return agentsBoundTo(services.config.agents, keyId);
  const policy = await keyDirectory(services.kv)
    .policy(services, keyId)
    .catch((error: unknown) => {
      throw new ApiError('UNAVAILABLE', {
        detail: 'The key’s agents cannot be looked up now (the database did not answer)',
        hint: 'retry shortly',
        headers: { 'retry-after': '1' },
        cause: error,
      });
    });
  return policy?.agents ?? [];
}

const directories = new WeakMap<KeyValueStore, KeyDirectory>();

/** The instance's (isolate's) directory over `kv`. */
export function keyDirectory(kv: KeyValueStore): KeyDirectory {
  let directory = directories.get(kv);
  if (!directory) {
    directory = new KeyDirectory(kv);
    directories.set(kv, directory);
  }
  return directory;
}
