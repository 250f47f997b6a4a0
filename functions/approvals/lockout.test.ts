import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiKeys, keys, migratedDatabase } from '../../test/support/actions.js';
import type { TestDatabase } from '../../test/support/databases.js';
import { type RuntimeHandle, startRuntime } from '../../test/support/runtimes.js';

/** A JWT-shaped credential naming `sub` (unsigned: it only has to name the account it guesses at). */
const jwtFor = (sub: string, n: number) =>
  [
    Buffer.from('{"alg":"RS256"}').toString('base64url'),
    Buffer.from(JSON.stringify({ sub, n })).toString('base64url'),
    'c2lnbmF0dXJl',
  ].join('.');

describe('the approvals sign-in lockout (no browser)', () => {
  let database: TestDatabase;
  let app: RuntimeHandle;
  let down: RuntimeHandle;
  const signIn = (target: RuntimeHandle, credential: string, forwardedFor: string) =>
    target.fetch('/approvals/login', {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', origin: 'http://localhost', 'x-forwarded-for': forwardedFor },
      body: new URLSearchParams({ credential }).toString(),
    });

  beforeAll(async () => {
    database = await migratedDatabase();
    app = await startRuntime('node', { DATABASE_URL: database.url, MYCA_API_KEYS: apiKeys });
    // A key-value store that does not answer (nothing listens on port 9).
    down = await startRuntime('node', {
      DATABASE_URL: database.url,
      MYCA_API_KEYS: apiKeys,
      UPSTASH_REDIS_REST_URL: 'http://127.0.0.1:9',
      UPSTASH_REDIS_REST_TOKEN: 'test-token-000000',
    });
  });
  afterAll(async () => {
    await app?.close();
    await down?.close();
    await database?.drop();
  });

  it('counts the address your proxy appended, not the ones the client wrote before it', async () => {
    for (let i = 0; i < 10; i++) expect((await signIn(app, `myca_wrong_${i}`, `10.9.${i}.1, 203.0.113.70`)).status).toBe(401);
    expect((await signIn(app, keys.approver, `10.9.99.1, 203.0.113.70`)).status).toBe(429);
    expect((await signIn(app, keys.approver, '198.51.100.70')).status).toBe(303);
  });

  it('locks an account guessed at from many addresses', async () => {
    for (let i = 0; i < 10; i++) expect((await signIn(app, jwtFor('alice', i), `203.0.113.${100 + i}`)).status).toBe(401);
    const locked = await signIn(app, jwtFor('alice', 99), '203.0.113.200');
    expect(locked.status).toBe(429);
    expect(await locked.text()).toContain('Too many failed sign-ins');
    // Another account is not affected.
    expect((await signIn(app, jwtFor('bob', 1), '203.0.113.201')).status).toBe(401);
  });

  it('bounds API-key guessing from ever-new addresses', async () => {
    let status = 0;
    for (let i = 0; i < 120 && status !== 429; i++) status = (await signIn(app, `myca_guess_${i}`, `198.18.${i}.9`)).status;
    expect(status).toBe(429);
  });

  it('fails closed: with the store down, sign-in is refused (503), even with a valid key', async () => {
    const response = await signIn(down, keys.approver, '203.0.113.9');
    expect(response.status).toBe(503);
    expect(response.headers.get('set-cookie')).toBeNull();
  });
});
