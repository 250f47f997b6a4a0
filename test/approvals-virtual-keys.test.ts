import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiKeys, headers, keys, migratedDatabase } from './support/actions.js';
import type { TestDatabase } from './support/databases.js';
import { type RuntimeHandle, startRuntime } from './support/runtimes.js';

/**
 * The approvals page takes "an approver (or admin) API key or JWT" (docs/ACTION_AUDIT.md), and keys
 * made through POST /v1/keys are API keys like the configured ones: revoking one is refused
 * everywhere within about 1 s (docs/API.md). A session begun with such a key must end with it.
 */
describe('the approvals page and keys made through the API (node)', () => {
  let database: TestDatabase;
  let app: RuntimeHandle;
  let base: string;

  beforeAll(async () => {
    database = await migratedDatabase();
    app = await startRuntime('node', { DATABASE_URL: database.url, MYCA_API_KEYS: apiKeys });
    base = await app.url();
  });
  afterAll(async () => {
    await app?.close();
    await database?.drop();
  });

  /** Signs in to the approvals page with a credential; the session cookie. */
  const signIn = async (origin: string, credential: string) => {
    const response = await fetch(`${origin}/approvals/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', origin },
      body: new URLSearchParams({ credential }).toString(),
      redirect: 'manual',
    });
    expect(response.status, 'the approvals page refused a valid approver key').toBe(303);
    return (response.headers.get('set-cookie') ?? '').split(';')[0] ?? '';
  };

  it('signs in an approver key made through POST /v1/keys, and ends its session once the key is revoked', async () => {
    const made = await app.fetch('/v1/keys', {
      method: 'POST',
      headers: headers(keys.admin),
      body: JSON.stringify({ name: 'night-shift approver', role: 'approver' }),
    });
    expect(made.status).toBe(201);
    const key = (await made.json()) as { id: string; secret: string };
    // The key works on the API.
    expect((await app.fetch('/v1/whoami', { headers: headers(key.secret) })).status).toBe(200);

    const signIn = await fetch(`${base}/approvals/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', origin: base },
      body: new URLSearchParams({ credential: key.secret }).toString(),
      redirect: 'manual',
    });
    expect(signIn.status, 'the approvals page refused a valid approver key').toBe(303);
    const cookie = (signIn.headers.get('set-cookie') ?? '').split(';')[0] ?? '';
    expect((await fetch(`${base}/approvals`, { headers: { cookie }, redirect: 'manual' })).status).toBe(200);

    expect((await app.fetch(`/v1/keys/${key.id}`, { method: 'DELETE', headers: headers(keys.admin) })).status).toBe(200);
    await new Promise((resolve) => setTimeout(resolve, 1100));
    expect((await app.fetch('/v1/whoami', { headers: headers(key.secret) })).status).toBe(401);
    const after = await fetch(`${base}/approvals`, { headers: { cookie }, redirect: 'manual' });
    expect(after.status, 'the revoked key’s session still opens the inbox').not.toBe(200);
  });

  it('ends the session begun with a key’s secret once the key is rotated without grace (the secret opens nothing any more)', async () => {
    const made = await app.fetch('/v1/keys', {
      method: 'POST',
      headers: headers(keys.admin),
      body: JSON.stringify({ name: 'leaked approver', role: 'approver' }),
    });
    expect(made.status).toBe(201);
    const key = (await made.json()) as { id: string; secret: string };
    const cookie = await signIn(base, key.secret);
    expect((await fetch(`${base}/approvals`, { headers: { cookie }, redirect: 'manual' })).status).toBe(200);

    const rotated = await app.fetch(`/v1/keys/${key.id}/rotate`, {
      method: 'POST',
      headers: headers(keys.admin),
      body: JSON.stringify({ grace_seconds: 0 }),
    });
    expect(rotated.status).toBe(200);
    await new Promise((resolve) => setTimeout(resolve, 1100));
    expect((await app.fetch('/v1/whoami', { headers: headers(key.secret) })).status).toBe(401);
    const after = await fetch(`${base}/approvals`, { headers: { cookie }, redirect: 'manual' });
    expect(after.status, 'the session begun with the rotated-out secret still opens the inbox').not.toBe(200);
  });

  it('ends the session of a configured approver key once the key is removed from MYCA_API_KEYS', async () => {
    const night = `myca_${'c7'.repeat(16)}`;
    const before = await startRuntime('node', { DATABASE_URL: database.url, MYCA_API_KEYS: `${apiKeys},night:approver:${night}` });
    let cookie: string;
    try {
      const origin = await before.url();
      cookie = await signIn(origin, night);
      expect((await fetch(`${origin}/approvals`, { headers: { cookie }, redirect: 'manual' })).status).toBe(200);
    } finally {
      await before.close();
    }
    // Restarted without the key: the API refuses it, and so must the session it opened.
    expect((await app.fetch('/v1/whoami', { headers: headers(night) })).status).toBe(401);
    const after = await fetch(`${base}/approvals`, { headers: { cookie }, redirect: 'manual' });
    expect(after.status, 'the removed key’s session still opens the inbox').not.toBe(200);
  });
});
