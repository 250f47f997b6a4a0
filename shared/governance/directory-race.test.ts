import type { Sql } from 'postgres';
import { describe, expect, it } from 'vitest';
import { createMemoryStore } from '../kv/memory.js';
import type { Services } from '../services.js';
import { GENERATION_CHECK_MS, KeyDirectory } from './directory.js';
import { type KeyRow, sha256Hex } from './keys.js';

// An outside review's case: a lookup that read the key before its revocation, and landed after this
// instance's generation check already saw the revocation, was cached for KEY_MAX_AGE_MS (10 s) and
// answered without a promise by verifyCached / policyCached: the revoked key worked ~10 s, not ~1 s.

const ID = 'vk_0123456789abcdef0123abcd';
const SECRET = `myca_vk_${'r'.repeat(43)}`;

function setup() {
  const row: KeyRow = {
    id: ID,
    name: 'race',
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
  const state = { revoked: false, hold: null as null | ((release: () => void) => void) };
  const sql = ((first: unknown, ...values: unknown[]) => {
    if (!Array.isArray(first) || !('raw' in first)) return first;
    const bySecret = (first as string[]).join('?').includes('secret_sha256');
    // The database answers with what it saw when the query ran (before the revocation)...
    if (bySecret && !values.includes(sha256Hex(SECRET))) return Promise.resolve([]);
    const answer = state.revoked
      ? bySecret
        ? []
        : [{ ...row, revoked_at: new Date() }]
      : [bySecret ? { ...row, by_previous: false } : row];
    // ...but the answer may arrive late (a slow or busy pool).
    const hold = state.hold;
    if (!hold) return Promise.resolve(answer);
    return new Promise((resolve) => hold(() => resolve(answer)));
  }) as unknown as Sql;
  const kv = createMemoryStore();
  const services = {
    db: { sql },
    kv,
    clock: { now: () => Date.now() },
    config: { agents: { agents: {} }, apiKeys: [], governance: { config_keys_allow_unpriced: false } },
  } as unknown as Services;
  return { state, services, directory: new KeyDirectory(kv), other: new KeyDirectory(kv) };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('revocation racing an in-flight key lookup', () => {
  it('verify: a lookup begun before a revocation is not cached past the generation check that saw it', async () => {
    const { state, services, directory, other } = setup();
    // Prime the directory's generation (a first check), so the next one is due in 1 s.
    expect(await directory.verify(services, `myca_vk_${'x'.repeat(43)}`)).toBeNull();
    let release: (() => void) | undefined;
    state.hold = (r) => {
      release = r;
    };
    // A request looks the key up; Postgres read the row (live) but the answer is slow.
    const inFlight = directory.verify(services, SECRET);
    await sleep(5);
    state.hold = null;
    // Another instance revokes the key (committed, generation bumped).
    state.revoked = true;
    await other.changed();
    // This instance's next generation check is due and sees the change (caches forgotten).
    await sleep(GENERATION_CHECK_MS + 50);
    expect(await directory.verify(services, `myca_vk_${'y'.repeat(43)}`)).toBeNull();
    // The slow lookup lands now, with the pre-revocation row.
    release?.();
    await inFlight;
    // Well past the ~1 s bound after the revocation (and after a check that saw it), the key must be refused.
    await sleep(200);
    const cached = directory.verifyCached(services, SECRET);
    const principal = cached !== undefined ? cached : await directory.verify(services, SECRET);
    expect(principal).toBeNull();
    expect(directory.policyCached(services, ID)).toBeUndefined();
  }, 10_000);
  it('policy (the key gate, actions, agent runs): a lookup begun before a revocation is not cached past the check that saw it', async () => {
    const { state, services, directory, other } = setup();
    expect(await directory.verify(services, `myca_vk_${'x'.repeat(43)}`)).toBeNull();
    let release: (() => void) | undefined;
    state.hold = (r) => {
      release = r;
    };
    const inFlight = directory.policy(services, ID);
    await sleep(5);
    state.hold = null;
    state.revoked = true;
    await other.changed();
    await sleep(GENERATION_CHECK_MS + 50);
    expect(await directory.verify(services, `myca_vk_${'y'.repeat(43)}`)).toBeNull();
    release?.();
    await inFlight;
    await sleep(200);
    const policy = directory.policyCached(services, ID) ?? (await directory.policy(services, ID));
    expect(policy).toBeNull();
  }, 10_000);
});
