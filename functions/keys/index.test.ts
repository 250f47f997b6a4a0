import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { apiKeys, headers, keys, migratedDatabase } from '../../test/support/actions.js';
import type { TestDatabase } from '../../test/support/databases.js';
import { RUNTIMES, type RuntimeHandle, startRuntime } from '../../test/support/runtimes.js';

interface KeyBody {
  id: string;
  secret?: string;
  read_only: boolean;
  source: string;
  role: string;
  rpm: number | null;
  budget_usd: number | null;
  budget_period: string | null;
  revoked_at: string | null;
  previous_secret_expires_at: string | null;
  usage?: { budget_used_usd: number | null; budget_resets_at: string | null } | null;
}

describe.each(RUNTIMES)('keys as data on %s: two instances sharing Postgres and the key-value store', (runtime) => {
  let database: TestDatabase;
  let a: RuntimeHandle;
  let b: RuntimeHandle;
  const admin = headers(keys.admin);
  const whoami = (app: RuntimeHandle, secret: string) => app.fetch('/v1/whoami', { headers: { authorization: `Bearer ${secret}` } });
  const create = async (app: RuntimeHandle, body: Record<string, unknown>) => {
    const response = await app.fetch('/v1/keys', { method: 'POST', headers: admin, body: JSON.stringify(body) });
    expect(response.status, JSON.stringify(app.logs().filter((line) => line.level === 'error'))).toBe(201);
    return (await response.json()) as KeyBody & { secret: string };
  };
  /** Polls until `secret` gets `status` on `app`; returns how long that took (ms). */
  const until = async (app: RuntimeHandle, secret: string, status: number) => {
    const started = Date.now();
    while ((await whoami(app, secret)).status !== status) {
      if (Date.now() - started > 5000) throw new Error(`still not ${status} after 5 s`);
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
    return Date.now() - started;
  };

  beforeAll(async () => {
    database = await migratedDatabase();
    const env = {
      DATABASE_URL: database.url,
      MYCA_API_KEYS: apiKeys,
      UPSTASH_REDIS_REST_URL: inject('upstashUrl'),
      UPSTASH_REDIS_REST_TOKEN: inject('upstashToken'),
    };
    [a, b] = await Promise.all([startRuntime(runtime, env), startRuntime(runtime, env)]);
  });
  afterAll(async () => {
    await a?.close();
    await b?.close();
    await database?.drop();
  });

  it('makes a key whose secret is shown once and works on the other instance; only admins may', async () => {
    const made = await create(a, { name: 'fleet', agents: ['mycology'], rpm: 60, budget_usd: 5, budget_period: 'day' });
    expect(made.id).toMatch(/^vk_[0-9a-f]{24}$/);
    expect(made.secret).toMatch(/^myca_vk_[A-Za-z0-9_-]{43}$/);
    expect(made).toMatchObject({ role: 'agent', source: 'data', read_only: false, rpm: 60, budget_usd: 5, budget_period: 'day' });
    expect(await (await whoami(b, made.secret)).json()).toEqual({ id: made.id, role: 'agent' });
    const again = (await (await b.fetch(`/v1/keys/${made.id}`, { headers: admin })).json()) as KeyBody;
    expect(again).not.toHaveProperty('secret');
    expect(again.usage).toMatchObject({ budget_used_usd: 0 });
    expect(Date.parse(again.usage?.budget_resets_at ?? '')).toBeGreaterThan(Date.now());
    // Not the secret, not its digest: nowhere in the listing.
    const listing = await (await a.fetch('/v1/keys', { headers: admin })).text();
    expect(listing).not.toContain(made.secret);
    for (const key of [keys.agent, keys.approver]) {
      expect((await a.fetch('/v1/keys', { headers: headers(key) })).status).toBe(403);
      expect((await a.fetch('/v1/keys', { method: 'POST', headers: headers(key), body: JSON.stringify({ name: 'x' }) })).status).toBe(403);
    }
    // A key made through the API is no admin either, unless made one.
    expect((await a.fetch('/v1/keys', { headers: headers(made.secret) })).status).toBe(403);
  });

  it('lists the keys of MYCA_API_KEYS read-only, and refuses to change them', async () => {
    const { data } = (await (await a.fetch('/v1/keys', { headers: admin })).json()) as { data: KeyBody[] };
    expect(data.find((key) => key.id === 'planner')).toMatchObject({ source: 'config', read_only: true, role: 'agent' });
    expect(data.find((key) => key.id === 'root')).toMatchObject({ source: 'config', read_only: true, role: 'admin' });
    for (const [method, path] of [
      ['PATCH', '/v1/keys/planner'],
      ['POST', '/v1/keys/planner/rotate'],
      ['DELETE', '/v1/keys/planner'],
    ] as const) {
      const response = await a.fetch(path, { method, headers: admin, body: method === 'DELETE' ? null : JSON.stringify({ name: 'x' }) });
      expect(response.status, `${method} ${path}`).toBe(409);
    }
    expect((await whoami(a, keys.agent)).status).toBe(200);
  });

  it('refuses bad input with 4xx problems and changes nothing', async () => {
    const before = await (await a.fetch('/v1/keys', { headers: admin })).text();
    for (const body of [
      { name: '' },
      { name: 'x', role: 'root' },
      { name: 'x', rpm: 0 },
      { name: 'x', rpm: 1.5 },
      { name: 'x', budget_usd: 5 },
      { name: 'x', budget_usd: -1, budget_period: 'day' },
      { name: 'x', budget_usd: 1, budget_period: 'week' },
      { name: 'x', models: ['planning; drop table'] },
      { name: 'x', agents: ['nobody'] },
      { name: 'x', secret: 'myca_vk_mine' },
      { name: 'x', id: 'vk_000000000000000000000000' },
    ]) {
      const response = await a.fetch('/v1/keys', { method: 'POST', headers: admin, body: JSON.stringify(body) });
      expect(response.status, JSON.stringify(body)).toBe(400);
      expect(response.headers.get('content-type')).toContain('application/problem+json');
    }
    for (const id of ['vk_123', '..%2F..', 'vk_000000000000000000000000', "x'or'1"]) {
      expect((await a.fetch(`/v1/keys/${id}`, { headers: admin })).status, id).toBe(404);
      expect((await a.fetch(`/v1/keys/${id}`, { method: 'DELETE', headers: admin })).status, id).toBe(404);
    }
    expect(await (await a.fetch('/v1/keys', { headers: admin })).text()).toBe(before);
  });

  it('a revoked key is refused by the other instance within 1.5 s (the generation check: 1 s + one store read)', async () => {
    const made = await create(a, { name: 'to revoke' });
    // Both instances have it cached as valid.
    expect((await whoami(a, made.secret)).status).toBe(200);
    expect((await whoami(b, made.secret)).status).toBe(200);
    const revoked = await a.fetch(`/v1/keys/${made.id}`, { method: 'DELETE', headers: admin });
    expect(revoked.status).toBe(200);
    expect(((await revoked.json()) as KeyBody).revoked_at).not.toBeNull();
    expect((await whoami(a, made.secret)).status).toBe(401);
    expect(await until(b, made.secret, 401)).toBeLessThan(1500);
    // Revoked is final: no rotation, no change.
    expect((await a.fetch(`/v1/keys/${made.id}/rotate`, { method: 'POST', headers: admin })).status).toBe(409);
    expect((await a.fetch(`/v1/keys/${made.id}`, { method: 'PATCH', headers: admin, body: JSON.stringify({ rpm: 5 }) })).status).toBe(409);
  });

  it('rotation: the new secret works at once, the old one for its grace only', async () => {
    const made = await create(a, { name: 'to rotate' });
    expect((await whoami(b, made.secret)).status).toBe(200);
    const rotate = await a.fetch(`/v1/keys/${made.id}/rotate`, {
      method: 'POST',
      headers: admin,
      body: JSON.stringify({ grace_seconds: 2 }),
    });
    expect(rotate.status).toBe(200);
    const rotated = (await rotate.json()) as KeyBody & { secret: string; grace_seconds: number };
    expect(rotated.secret).not.toBe(made.secret);
    expect(rotated.grace_seconds).toBe(2);
    expect(rotated.previous_secret_expires_at).not.toBeNull();
    expect((await whoami(b, rotated.secret)).status).toBe(200);
    expect((await whoami(b, made.secret)).status).toBe(200);
    // Past the grace, on either instance.
    await until(b, made.secret, 401);
    expect((await whoami(a, made.secret)).status).toBe(401);
    expect((await whoami(a, rotated.secret)).status).toBe(200);
    // Without a body: the default grace (an hour).
    const plain = (await (
      await a.fetch(`/v1/keys/${made.id}/rotate`, { method: 'POST', headers: { authorization: admin.authorization } })
    ).json()) as KeyBody;
    expect(Date.parse(plain.previous_secret_expires_at ?? '') - Date.now()).toBeGreaterThan(3500_000);
  });

  it('a change to a key reaches the other instance within 1.5 s', async () => {
    const made = await create(a, { name: 'roles' });
    expect((await b.fetch('/v1/keys', { headers: headers(made.secret) })).status).toBe(403);
    const patched = await a.fetch(`/v1/keys/${made.id}`, { method: 'PATCH', headers: admin, body: JSON.stringify({ role: 'admin' }) });
    expect(patched.status).toBe(200);
    const started = Date.now();
    while ((await b.fetch('/v1/keys', { headers: headers(made.secret) })).status !== 200) {
      expect(Date.now() - started).toBeLessThan(1500);
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
    expect((await a.fetch(`/v1/keys/${made.id}`, { method: 'PATCH', headers: admin, body: JSON.stringify({}) })).status).toBe(400);
  });

  it('GET /v1/spend: admins only, checked query, totals and groups', async () => {
    expect((await a.fetch('/v1/spend', { headers: headers(keys.agent) })).status).toBe(403);
    for (const query of ['group_by=user', 'from=yesterday', 'from=2026-12-01&to=2026-11-01', 'from=2020-01-01&to=2026-01-01']) {
      const response = await a.fetch(`/v1/spend?${query}`, { headers: admin });
      expect(response.status, query).toBe(400);
    }
    const response = await b.fetch('/v1/spend?group_by=day&from=2026-01-01&to=2026-01-02', { headers: admin });
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({
      object: 'spend',
      group_by: 'day',
      from: '2026-01-01T00:00:00.000Z',
      to: '2026-01-02T00:00:00.000Z',
      currency: 'USD',
      totals: { requests: 0, errors: 0, prompt_tokens: 0, completion_tokens: 0, cost_usd: 0 },
      data: [],
    });
  });
});
