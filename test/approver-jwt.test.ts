import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiKeys, headers, keys, migratedDatabase } from './support/actions.js';
import type { TestDatabase } from './support/databases.js';
import { RUNTIMES, type RuntimeHandle, startRuntime } from './support/runtimes.js';

const ISSUER = 'https://myca-test.auth0.example/';
const AUDIENCE = 'https://api.myca.example';
const ROLES = 'https://myca.dev/roles';

describe.each(RUNTIMES)('approver JWTs on %s (loopback JWKS)', (runtime) => {
  let database: TestDatabase;
  let app: RuntimeHandle;
  let jwks: ReturnType<typeof createServer>;
  let sign: (claims: Record<string, unknown>, options?: { audience?: string; expires?: string; other?: boolean }) => Promise<string>;
  let counter = 0;

  beforeAll(async () => {
    const { publicKey, privateKey } = await generateKeyPair('RS256');
    const stranger = await generateKeyPair('RS256');
    const jwk = { ...(await exportJWK(publicKey)), kid: 'k1', alg: 'RS256', use: 'sig' };
    jwks = createServer((_request, response) => {
      response.writeHead(200, { 'content-type': 'application/json' });
      response.end(JSON.stringify({ keys: [jwk] }));
    });
    await new Promise<void>((resolve) => jwks.listen(0, '127.0.0.1', resolve));
    sign = (claims, options = {}) =>
      new SignJWT(claims)
        .setProtectedHeader({ alg: 'RS256', kid: 'k1' })
        .setIssuer(ISSUER)
        .setAudience(options.audience ?? AUDIENCE)
        .setIssuedAt()
        .setExpirationTime(options.expires ?? '5m')
        .sign(options.other ? stranger.privateKey : privateKey);
    database = await migratedDatabase();
    app = await startRuntime(runtime, {
      DATABASE_URL: database.url,
      MYCA_API_KEYS: apiKeys,
      MYCA_JWT_ISSUER: ISSUER,
      MYCA_JWT_AUDIENCE: AUDIENCE,
      MYCA_JWT_JWKS_URL: `http://127.0.0.1:${(jwks.address() as AddressInfo).port}/.well-known/jwks.json`,
      ACTION_HTTP_ALLOW_HOSTS: '127.0.0.1',
      ACTION_HTTP_ALLOW_PRIVATE: 'true',
    });
  });
  afterAll(async () => {
    await app?.close();
    jwks?.close();
    await database?.drop();
  });

  const hold = async () => {
    const response = await app.fetch('/v1/actions', {
      method: 'POST',
      headers: headers(keys.agent, `jwt-${runtime}-${counter++}`),
      body: JSON.stringify({ type: 'http.request', input: { method: 'POST', url: 'http://127.0.0.1:9/x' } }),
    });
    expect(response.status).toBe(202);
    return (await response.json()) as { id: string; digest: string };
  };
  const approveWith = (token: string, held: { id: string; digest: string }) =>
    app.fetch(`/v1/actions/${held.id}/approve`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ digest: held.digest }),
    });

  it('signs in to the approvals page with an approver JWT for no longer than the token is valid', async () => {
    const base = await app.url();
    const signIn = await fetch(`${base}/approvals/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', origin: base },
      body: new URLSearchParams({ credential: await sign({ sub: 'auth0|brief', [ROLES]: ['approver'] }, { expires: '3s' }) }).toString(),
      redirect: 'manual',
    });
    expect(signIn.status).toBe(303);
    const setCookie = signIn.headers.get('set-cookie') ?? '';
    expect(Number(/Max-Age=(\d+)/i.exec(setCookie)?.[1])).toBeLessThanOrEqual(3);
    const cookie = setCookie.split(';')[0] ?? '';
    expect((await fetch(`${base}/approvals`, { headers: { cookie }, redirect: 'manual' })).status).toBe(200);
    await new Promise((resolve) => setTimeout(resolve, 3500));
    const after = await fetch(`${base}/approvals`, { headers: { cookie }, redirect: 'manual' });
    expect(after.status, 'the session outlived its token').toBe(303);
  });

  it('lets a verified approver JWT approve, recorded under its subject', async () => {
    const held = await hold();
    const response = await approveWith(await sign({ sub: 'auth0|alice', [ROLES]: ['approver'] }), held);
    const body = (await response.json()) as { approved_by: string };
    expect(response.status, JSON.stringify(body)).not.toBe(401);
    expect(body.approved_by).toBe('jwt:auth0|alice');
  });

  it('refuses a wrong audience, an expired token, a foreign signature and a token without the approver role', async () => {
    const held = await hold();
    expect((await approveWith(await sign({ sub: 'a', [ROLES]: ['approver'] }, { audience: 'https://other' }), held)).status).toBe(401);
    expect((await approveWith(await sign({ sub: 'a', [ROLES]: ['approver'] }, { expires: '-1m' }), held)).status).toBe(401);
    expect((await approveWith(await sign({ sub: 'a', [ROLES]: ['approver'] }, { other: true }), held)).status).toBe(401);
    expect((await approveWith(await sign({ sub: 'a', [ROLES]: ['agent'] }), held)).status).toBe(403);
    const still = await app.fetch(`/v1/actions/${held.id}`, { headers: headers(keys.approver) });
    expect(await still.json()).toMatchObject({ status: 'pending' });
  });
});
