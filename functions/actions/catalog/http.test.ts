import { describe, expect, it } from 'vitest';
import { isBlockedAddress } from '../../../shared/net/address-guard.js';
import { checkUrl, withoutCredentials } from './http.js';
import { ActionError } from './types.js';

const policy = (hosts: string[]) => ({
  allow_hosts: hosts,
  allow_private: false,
  timeout_ms: 1000,
  max_response_bytes: 1024,
  max_redirects: 3,
  secret_headers: ['x-vendor-sig'],
});

describe('the address filter of http.request (only public unicast passes)', () => {
  const blocked = [
    // IPv4-compatible, site-local, discard: passed before.
    '::7f00:1',
    'fec0::1',
    '100::1',
    // Embedded IPv4 forms, judged as the IPv4 address they carry.
    '::ffff:127.0.0.1',
    '::ffff:169.254.169.254',
    '64:ff9b::7f00:1',
    '64:ff9b::a9fe:a9fe',
    '2002:7f00:1::1',
    '2002:a00:1::1',
    // Everything else that is not unicast.
    '2001::1',
    '2001:db8::1',
    '::1',
    '::',
    'fe80::1',
    'fe80::1%eth0',
    'fc00::1',
    'fd12:3456::1',
    'ff02::1',
    '5f00::1',
    '127.0.0.1',
    '10.1.2.3',
    '172.16.0.1',
    '192.168.1.1',
    '169.254.169.254',
    '100.64.0.1',
    '0.0.0.0',
    '192.0.0.1',
    '198.18.0.1',
    '240.0.0.1',
    '255.255.255.255',
    '224.0.0.1',
    'not-an-address',
  ];
  it.each(blocked)('refuses %s', (address) => {
    expect(isBlockedAddress(address)).toBe(true);
    expect(isBlockedAddress(`[${address}]`)).toBe(true);
  });

  it.each(['8.8.8.8', '2606:4700:4700::1111', '::ffff:8.8.8.8', '64:ff9b::808:808', '2002:808:808::1'])(
    'lets public %s pass',
    (address) => {
      expect(isBlockedAddress(address)).toBe(false);
    },
  );

  it('refuses the literals in URLs even when they are allowlisted', () => {
    for (const host of ['[::7f00:1]', '[fec0::1]', '[100::1]']) {
      const error = (() => {
        try {
          checkUrl(`http://${host}/`, policy([host.slice(1, -1)]));
        } catch (caught) {
          return caught;
        }
      })();
      expect(error, host).toBeInstanceOf(ActionError);
      expect((error as ActionError).status).toBe(403);
    }
  });
});

describe('withoutCredentials (a redirect to another origin)', () => {
  it('keeps only content negotiation and caching headers: credentials of every name are dropped', () => {
    const out = withoutCredentials(
      {
        Authorization: 'Bearer a',
        cookie: 'c',
        'Proxy-Authorization': 'p',
        'X-Api-Key': 'k',
        'X-Auth': 'x',
        'X-Vendor-Sig': 's',
        'X-Auth-Key': 'cf-global-key',
        'X-Auth-Email': 'ops@example.org',
        'Ocp-Apim-Subscription-Key': 'azure-sub-key',
        'X-Custom-Credential-Thing': 'c',
        accept: 'application/json',
        'Content-Type': 'text/plain',
        'user-agent': 'myca',
        'x-trace': 't',
      },
      ['x-vendor-sig'],
    );
    expect(out).toEqual({ accept: 'application/json', 'Content-Type': 'text/plain', 'user-agent': 'myca' });
  });
});

describe('failureOf (what an unexpected execution error tells the caller)', () => {
  it('names errno codes by meaning and hides server paths', async () => {
    const { failureOf } = await import('../run.js');
    const tooLong = Object.assign(new Error("ENAMETOOLONG: name too long, open '/srv/myca/files/aaaa'"), { code: 'ENAMETOOLONG' });
    expect(failureOf(tooLong)).toMatchObject({ status: 400, message: 'a name in the path is too long' });
    const odd = failureOf(new Error('cannot load /srv/myca/dist/node/main.js at file:///srv/myca/x.js'));
    expect(odd.message).not.toContain('/srv/myca');
    expect(failureOf(new Error('fetch failed: http://api.example.org/a/b')).message).toContain('http://api.example.org/a/b');
  });
});
