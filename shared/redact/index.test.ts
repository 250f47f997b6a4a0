import { describe, expect, it } from 'vitest';
import { isSecretKey, REDACTED, redact, redactString } from './index.js';

// Canaries are assembled at run time so that no committed file holds a real-looking secret.
const canary = {
  openai: ['sk', 'proj', 'Z'.repeat(10) + '9'.repeat(20)].join('-'),
  google: `AIza${'x'.repeat(35)}`,
  jwt: ['eyJhbGciOiJIUzI1NiJ9', 'eyJzdWIiOiIxMjM0NTY3ODkwIn0', 'dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U'].join('.'),
  pem: ['-----BEGIN PRIVATE KEY-----', 'MIIEvQIBADANBgkqhkiG9w0BAQEFAASC', '-----END PRIVATE KEY-----'].join('\n'),
  myca: `myca_${'f'.repeat(48)}`,
};

describe('redact', () => {
  it('masks values of secret-named keys at any depth, whatever they hold', () => {
    const out = redact({
      headers: { Authorization: 'anything', 'X-Api-Key': 'k' },
      nested: [{ password: 'p', client_secret: 'c' }],
      max_tokens: 100,
    });
    expect(out).toEqual({
      headers: { Authorization: REDACTED, 'X-Api-Key': REDACTED },
      nested: [{ password: REDACTED, client_secret: REDACTED }],
      max_tokens: 100,
    });
  });

  it('masks secret patterns inside free text and keeps the text around them', () => {
    for (const secret of Object.values(canary)) {
      const out = redactString(`before ${secret} after`);
      expect(out).not.toContain(secret);
      expect(out).toContain('before');
    }
    expect(redactString('Authorization: Bearer abcdefghijklmnop')).toBe('Authorization: Bearer ***');
    expect(redactString(['postgres://user', 'pw123@db/x'].join(':'))).toBe('postgres://user:***@db/x');
    expect(redactString('https://h/x?api_key=abc&q=1')).toBe('https://h/x?api_key=***&q=1');
  });

  it('masks secrets written as name and value inside strings: JSON members, env lines, header lines', () => {
    const shortKey = ['sk', 'abc123'].join('-');
    const cases: Array<[string, string]> = [
      ['{"user":"ann","password":"hunter2-horse"}', '{"user":"ann","password":"***"}'],
      ['{"api_key" : "abc def", "note": "ok"}', '{"api_key" : "***", "note": "ok"}'],
      [`OPENAI_API_KEY=${shortKey}\nMODE=fast\n`, 'OPENAI_API_KEY=***\nMODE=fast\n'],
      [`export DB_PASSWORD='pa ss'`, 'export DB_PASSWORD=***'],
      ['X-Auth: letmein-please\nAccept: */*', 'X-Auth: ***\nAccept: */*'],
      ['user=ann&password=hunter2&q=1', 'user=ann&password=***&q=1'],
    ];
    for (const [input, expected] of cases) expect(redactString(input), input).toBe(expected);
    // A bearer token anywhere, an action type included.
    expect(redactString('file.read Bearer abcdefgh12345678')).toBe('file.read Bearer ***');
    expect(redactString(`key ${canary.jwt}`)).toBe('key ***');
  });

  it('masks auth-like field names (x-auth, proxy_auth) but not author', () => {
    expect(redact({ 'X-Auth': 'a', proxy_auth: 'b', author: 'Ann', signature: 's' })).toEqual({
      'X-Auth': REDACTED,
      proxy_auth: REDACTED,
      author: 'Ann',
      signature: REDACTED,
    });
  });

  it('leaves ordinary text, numbers and token counts alone', () => {
    const input = {
      message: 'hello world',
      prompt_tokens: 12,
      total_tokens: 20,
      model: 'gpt-4o',
      path: 'scratch/a.txt',
      text: 'ratio: 3, max_tokens: 100, {"author":"Ann","keys":2}',
    };
    expect(redact(input)).toEqual(input);
    expect(isSecretKey('completion_tokens')).toBe(false);
    expect(isSecretKey('prompt_tokens_details')).toBe(false);
    expect(isSecretKey('first_token_timeout_ms')).toBe(false);
    expect(isSecretKey('UPSTASH_REDIS_REST_TOKEN')).toBe(true);
    expect(isSecretKey('refresh_token')).toBe(true);
  });

  it('never mutates its input and survives cycles and errors', () => {
    const input: Record<string, unknown> = { token: 't' };
    input.self = input;
    const out = redact({ input, error: new Error(`failed with ${canary.openai}`) }) as unknown as Record<string, Record<string, unknown>>;
    expect(input.token).toBe('t');
    expect(out.input?.self).toBe('[cycle]');
    expect(JSON.stringify(out)).not.toContain(canary.openai);
  });

  it('masks credential header names ending in a bare key, token, secret, signature or session word', () => {
    for (const name of [
      'x-auth-key',
      'Ocp-Apim-Subscription-Key',
      'subscriptionKey',
      'X-Vault-Token',
      'x-amz-security-token',
      'webhook_secret',
      'X-Hub-Signature',
      'x-session',
      'pwd',
      'pass',
      'PIN',
    ])
      expect(isSecretKey(name), name).toBe(true);
    for (const name of [
      'keyboard',
      'monkey',
      'turkey',
      'keys',
      'max_tokens',
      'idempotency_key',
      'cache_key',
      'x-auth-email',
      'passage',
      'compass',
      'spin',
    ])
      expect(isSecretKey(name), name).toBe(false);
  });

  it('masks what the review found leaking by value: Token/Digest schemes, GitHub/GitLab/SendGrid/Slack/AWS keys, PGP and cut-short PEM keys, quoted and short names', () => {
    const t = (parts: string[]) => parts.join('');
    const secrets: Array<[string, string]> = [
      [t(['Authorization: Token ', '9f8e7d6c5b4a39281706f5e4d3c2b1a0']), '9f8e7d6c5b4a39281706f5e4d3c2b1a0'],
      [t(['Authorization: Digest username="a", response="', '6629fae49393a05397450978507c4ef1"']), '6629fae49393a05397450978507c4ef1'],
      [t(['github_pat_', '11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyzABCDEF']), 'abcdefghijklmnopqrstuvwxyz'],
      [t(['token ghp_', 'aBcDeFgHiJkLmNoPqRsTuVwXyZ0123456789']), 'aBcDeFgHiJkLmNoPqRsTuVwXyZ0123456789'],
      [t(['glpat-', 'abcdefghij1234567890']), 'abcdefghij1234567890'],
      [t(['SG.', 'abcdefghijklmnopqrstuv', '.abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG']), 'abcdefghijklmnopqrstuv'],
      [t(['xoxb-', '123456789012-abcdefghij']), '123456789012-abcdefghij'],
      [t(['xoxp-', '123456789012-abcdefghij']), '123456789012-abcdefghij'],
      [t(['AKIA', 'IOSFODNN7EXAMPLE']), 'IOSFODNN7EXAMPLE'],
      [t(['aws_secret_access_key = ', 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY']), 'wJalrXUtnFEMI/K7MDENG'],
      [t(['-----BEGIN PGP PRIVATE KEY BLOCK-----\nlQOYBFsecretbody\n', '-----END PGP PRIVATE KEY BLOCK-----']), 'lQOYBFsecretbody'],
      [t(['-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEAsecretbody\n', 'more-secret-lines']), 'more-secret-lines'],
      [t(["{'password': '", "hunter2hunter2'}"]), 'hunter2hunter2'],
      [t(['pass: ', 'hunter2hunter2']), 'hunter2hunter2'],
      [t(['pwd=', 'hunter2hunter2']), 'hunter2hunter2'],
    ];
    for (const [text, secret] of secrets) expect(redactString(`before ${text} after`), text).not.toContain(secret);
    expect(redactString('Authorization: Token abcdefghij1234567890')).toBe('Authorization: Token ***');
    expect(redactString('-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----\nafter')).toBe('***\nafter');
  });

  it('leaves look-alike prose alone', () => {
    for (const text of [
      'the token verification failed; retry later',
      'Token budget: 4000 of 8000 used',
      'the monkey pressed the keyboard',
      'Digest of the week: fungi',
      'SG.1 is a section number',
      'passage: read chapter 3',
      'compass=north',
    ])
      expect(redactString(text), text).toBe(text);
  });

  it('masks the whole of a key made through POST /v1/keys whose random part holds a look-alike of another key', () => {
    // myca_vk_ then 43 base64url characters: "-sk-" within the first 16 of them (then 16 more) is about one key in 400 000.
    // The sk- pattern masks from there on first; what is left before it is too short for the myca_vk_ pattern.
    const secret = ['myca', 'vk', `${'Q'.repeat(13)}-sk-${'R'.repeat(26)}`].join('_');
    const out = redactString(`key ${secret} here`);
    expect(out).not.toContain('Q'.repeat(8));
    expect(out).not.toContain('R'.repeat(8));
  });

  it('stays linear on adversarial input: 1 MB strings built to backtrack finish fast', () => {
    const mb = 1_048_576;
    const inputs = [
      `-----BEGIN PRIVATE KEY-----${'-'.repeat(mb)}`,
      `-----BEGIN ${'A '.repeat(mb / 2)}`,
      `Token ${'a'.repeat(mb)}`,
      `Digest ${'a'.repeat(mb)}`,
      `"${'a'.repeat(60)}":"${'\\'.repeat(mb / 2)}`,
      `'${'a'.repeat(60)}':'${"\\'".repeat(mb / 3)}`,
      `${'a'.repeat(63)}=`.repeat(mb / 64),
      `aws_secret_access_key=${'A'.repeat(mb)}`,
      `SG.${'a'.repeat(mb)}`,
      `https://${'a:'.repeat(mb / 2)}`,
      'password: x '.repeat(mb / 12),
    ];
    for (const input of inputs) {
      const started = performance.now();
      redactString(input);
      // Linear work on 1 MB is a few ms; catastrophic backtracking would take minutes. A loose bound for loaded machines.
      expect(performance.now() - started, input.slice(0, 40)).toBeLessThan(2000);
    }
  });
});
