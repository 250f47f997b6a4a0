import type { Sql } from 'postgres';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createMemoryStore } from '../kv/memory.js';
import type { Services } from '../services.js';
import { GENERATION_CHECK_MS, KEY_MAX_AGE_MS, KeyDirectory } from './directory.js';
import { type KeyRow, sha256Hex } from './keys.js';

const ID = 'vk_0123456789abcdef01234567';
const SECRET = `myca_vk_${'s'.repeat(43)}`;

/**
 * A directory over a stand-in for Postgres that counts its lookups, can revoke the key, and can hold
 * an answer back (`hold`: the query ran and read the row, its answer arrives when released).
 */
function setup() {
  const state = { revoked: false, lookups: 0, hold: null as null | ((release: () => void) => void) };
  const row: KeyRow = {
    id: ID,
    name: 'cached',
    role: 'agent',
    agents: [],
    models: null,
    allow_unpriced: false,
    rpm: 10,
    tpm: null,
    budget_usd: null,
    budget_period: null,
    created_at: new Date(),
    updated_at: new Date(),
    rotated_at: null,
    revoked_at: null,
    previous_secret_expires_at: null,
  };
  const sql = ((first: unknown, ...values: unknown[]) => {
    // sql(COLUMNS): a column list inside the query; the query itself is a tagged template.
    if (!Array.isArray(first) || !('raw' in first)) return first;
    state.lookups++;
    const bySecret = (first as string[]).join('?').includes('secret_sha256');
    if (bySecret && !values.includes(sha256Hex(SECRET))) return Promise.resolve([]);
    const answer = state.revoked
      ? bySecret
        ? []
        : [{ ...row, revoked_at: new Date() }]
      : [bySecret ? { ...row, by_previous: false } : row];
    const hold = state.hold;
    return hold ? new Promise((resolve) => hold(() => resolve(answer))) : Promise.resolve(answer);
  }) as unknown as Sql;
  const kv = createMemoryStore();
  const services = {
    db: { sql },
    kv,
    clock: { now: () => Date.now() },
    config: { agents: { agents: {} }, apiKeys: [], governance: { config_keys_allow_unpriced: false } },
  } as unknown as Services;
  // Two instances over the same store: `other` revokes, `directory` must notice.
  return { state, services, directory: new KeyDirectory(kv), other: new KeyDirectory(kv) };
}

describe('KeyDirectory: answers from its cache without a promise, within the same revocation bound', () => {
  beforeEach(() => {
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(new Date('2026-03-01T00:00:00Z'));
  });
  afterEach(() => vi.useRealTimers());

  it('verifyCached and policyCached answer only what verify and policy have cached, and only until a generation check is due', async () => {
    const { state, services, directory } = setup();
    // Nothing cached yet: the caller must ask (and a non-API secret is never one).
    expect(directory.verifyCached(services, SECRET)).toBeUndefined();
    expect(directory.policyCached(services, ID)).toBeUndefined();
    expect(directory.verifyCached(services, 'myca_other')).toBeNull();
    expect(await directory.verify(services, SECRET)).toEqual({ id: ID, role: 'agent' });
    expect(state.lookups).toBe(1);
    expect(directory.verifyCached(services, SECRET)).toEqual({ id: ID, role: 'agent' });
    expect(directory.policyCached(services, ID)).toMatchObject({ id: ID, rpm: 10, source: 'data' });
    expect(state.lookups).toBe(1);
    // A configured key's defaults need no lookup at all.
    expect(directory.policyCached(services, 'planner')).toMatchObject({ id: 'planner', source: 'config', rpm: null });
    // Once a generation check is due, the cache does not answer: verify and policy check first.
    vi.setSystemTime(Date.now() + GENERATION_CHECK_MS);
    expect(directory.verifyCached(services, SECRET)).toBeUndefined();
    expect(directory.policyCached(services, ID)).toBeUndefined();
  });

  it('a key revoked on another instance is refused here within the generation check, cached path or not', async () => {
    const { state, services, directory, other } = setup();
    await directory.verify(services, SECRET);
    expect(directory.verifyCached(services, SECRET)).toEqual({ id: ID, role: 'agent' });
    state.revoked = true;
    await other.changed();
    // Within the second the cached answer stands (the documented bound), then it is gone.
    vi.setSystemTime(Date.now() + GENERATION_CHECK_MS);
    expect(directory.verifyCached(services, SECRET)).toBeUndefined();
    expect(await directory.verify(services, SECRET)).toBeNull();
    expect(directory.verifyCached(services, SECRET)).toBeUndefined();
    expect(await directory.policy(services, ID)).toBeNull();
    expect(directory.policyCached(services, ID)).toBeUndefined();
  });

  it('never trusts a cached key longer than KEY_MAX_AGE_MS, even right after a check that found nothing changed', async () => {
    const { state, services, directory } = setup();
    await directory.verify(services, SECRET);
    await directory.policy(services, ID);
    vi.setSystemTime(Date.now() + KEY_MAX_AGE_MS - GENERATION_CHECK_MS / 2);
    // The generation check runs (nothing changed) and the entry is still young enough: no lookup.
    expect(await directory.verify(services, SECRET)).toEqual({ id: ID, role: 'agent' });
    expect(state.lookups).toBe(1);
    expect(directory.verifyCached(services, SECRET)).toEqual({ id: ID, role: 'agent' });
    vi.setSystemTime(Date.now() + GENERATION_CHECK_MS / 2);
    // No check is due, but the entry is as old as it may be: the cache does not answer.
    expect(directory.verifyCached(services, SECRET)).toBeUndefined();
    expect(directory.policyCached(services, ID)).toBeUndefined();
  });

  // An outside review's case: a lookup that read the key before its revocation and landed after this
  // instance's generation check had seen the revocation was cached for KEY_MAX_AGE_MS (10 s), and
  // answered without a promise: the revoked key worked ~10 s, not ~1 s.
  it.each(['verify', 'policy'] as const)(
    '%s: a lookup begun before a revocation is not cached past the generation check that saw it',
    async (lookup) => {
      const { state, services, directory, other } = setup();
      const ask = () => (lookup === 'verify' ? directory.verify(services, SECRET) : directory.policy(services, ID));
      const unknown = (c: string) => directory.verify(services, `myca_vk_${c.repeat(43)}`);
      // Prime the generation (a first check), so the next one is due in a second.
      expect(await unknown('x')).toBeNull();
      let release: (() => void) | undefined;
      state.hold = (r) => {
        release = r;
      };
      // A request looks the key up; Postgres read the row (live) but the answer is slow.
      const inFlight = ask();
      await Promise.resolve();
      state.hold = null;
      // Another instance revokes the key (committed, generation bumped); this one's next check sees it.
      state.revoked = true;
      await other.changed();
      vi.setSystemTime(Date.now() + GENERATION_CHECK_MS);
      expect(await unknown('y')).toBeNull();
      // The slow lookup lands now, with the pre-revocation row: answered, never remembered.
      release?.();
      await inFlight;
      vi.setSystemTime(Date.now() + 200);
      const cached = directory.verifyCached(services, SECRET);
      expect(cached !== undefined ? cached : await directory.verify(services, SECRET)).toBeNull();
      expect(directory.policyCached(services, ID) ?? (await directory.policy(services, ID))).toBeNull();
    },
  );
});
