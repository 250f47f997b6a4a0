import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiKeys, keys, migratedDatabase } from '../../test/support/actions.js';
import type { TestDatabase } from '../../test/support/databases.js';
import { type RuntimeHandle, startRuntime } from '../../test/support/runtimes.js';
import { clientAddress } from './session.js';

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
  let direct: RuntimeHandle;
  let down: RuntimeHandle;
  const signIn = (target: RuntimeHandle, credential: string, forwardedFor: string) =>
    target.fetch('/approvals/login', {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', origin: 'http://localhost', 'x-forwarded-for': forwardedFor },
      body: new URLSearchParams({ credential }).toString(),
    });

  beforeAll(async () => {
    database = await migratedDatabase();
    // Behind one proxy: the last X-Forwarded-For entry is the client.
    app = await startRuntime('node', { DATABASE_URL: database.url, MYCA_API_KEYS: apiKeys, TRUST_PROXY: '1' });
    // No proxy (the default): X-Forwarded-For is the client's to invent and is ignored.
    direct = await startRuntime('node', { DATABASE_URL: database.url, MYCA_API_KEYS: apiKeys });
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
    await direct?.close();
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

  it('a wrong-key flood from ever-new addresses never locks the right key out (API keys share no account)', async () => {
    for (let i = 0; i < 100; i++) expect((await signIn(app, `myca_guess_${i}`, `198.18.${i}.9`)).status).toBe(401);
    expect((await signIn(app, keys.approver, '192.0.2.200')).status).toBe(303);
  });

  it('counts parallel guesses from one address before judging them: at most 10 get an answer', async () => {
    const results = await Promise.all(Array.from({ length: 60 }, (_, i) => signIn(app, `myca_race_${i}`, '203.0.113.7')));
    const statuses = results.map((response) => response.status);
    expect(statuses.filter((status) => status === 401)).toHaveLength(10);
    expect(statuses.filter((status) => status === 429)).toHaveLength(50);
  });

  it('successful sign-ins do not count against their address', async () => {
    for (let i = 0; i < 12; i++) expect((await signIn(app, keys.approver, '203.0.113.33')).status).toBe(303);
    expect((await signIn(app, 'myca_wrong_after', '203.0.113.33')).status).toBe(401);
  });

  it('without TRUST_PROXY, ignores X-Forwarded-For: rotating it does not escape the limit', async () => {
    let status = 0;
    let i = 0;
    for (; i < 30 && status !== 429; i++) status = (await signIn(direct, `myca_spoof_${i}`, `198.51.100.${i}`)).status;
    expect(status).toBe(429);
    expect(i).toBe(11);
  });

  it('fails closed: with the store down, sign-in is refused (503), even with a valid key', async () => {
    const response = await signIn(down, keys.approver, '203.0.113.9');
    expect(response.status).toBe(503);
    expect(response.headers.get('set-cookie')).toBeNull();
  });
});

describe('clientAddress (whom a sign-in is counted against)', () => {
  it('reads X-Forwarded-For only as far as TRUST_PROXY says, else the socket or CF-Connecting-IP', () => {
    const forwardedFor = '6.6.6.6, 198.51.100.1, 10.0.0.2';
    expect(clientAddress({ trustProxy: 0, forwardedFor, remoteAddress: '192.0.2.9' })).toBe('192.0.2.9');
    expect(clientAddress({ trustProxy: 1, forwardedFor, remoteAddress: '192.0.2.9' })).toBe('10.0.0.2');
    expect(clientAddress({ trustProxy: 2, forwardedFor, remoteAddress: '192.0.2.9' })).toBe('198.51.100.1');
    expect(clientAddress({ trustProxy: 5, forwardedFor: '198.51.100.1', remoteAddress: '192.0.2.9' })).toBe('198.51.100.1');
    expect(clientAddress({ trustProxy: 0, forwardedFor, cfConnectingIp: '203.0.113.5' })).toBe('203.0.113.5');
    expect(clientAddress({ trustProxy: 0 })).toBe('unknown');
  });
});
