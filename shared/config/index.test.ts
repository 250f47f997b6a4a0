import { describe, expect, it } from 'vitest';
import { readConfigFiles } from '../runtime/node-config.js';
import { ConfigError, loadConfig, sanitizeConfig } from './index.js';
import { interpolate } from './interpolate.js';

const files = readConfigFiles({});
const load = (env: Record<string, string>) => loadConfig({ env, files });
const errorOf = (run: () => unknown): ConfigError => {
  try {
    run();
  } catch (error) {
    if (error instanceof ConfigError) return error;
    throw error;
  }
  throw new Error('expected a ConfigError');
};

describe('interpolate', () => {
  it('resolves ${VAR}, ${VAR:-default} and mixed text, and records which variables fed each key', () => {
    const { value, sources } = interpolate(
      { a: '${A}', b: '${B:-fallback}', c: 'http://${HOST:-localhost}:${PORT}/x', d: '${UNSET}', n: 3 },
      { A: 'one', PORT: '81' },
    );
    expect(value).toEqual({ a: 'one', b: 'fallback', c: 'http://localhost:81/x', n: 3 });
    expect(sources.get('c')).toEqual(['HOST', 'PORT']);
    expect(sources.get('d')).toEqual(['UNSET']);
  });

  it('never lets an env value inject YAML structure', () => {
    const { value } = interpolate({ a: '${A}' }, { A: 'x\nb: injected' });
    expect(value).toEqual({ a: 'x\nb: injected' });
  });
});

describe('loadConfig', () => {
  it('refuses an action lease that does not outlast the action timeouts, naming the settings', () => {
    const error = errorOf(() => load({ ACTION_LEASE_S: '1' }));
    expect(error.issues[0]).toMatchObject({ key: 'actions.lease_s', env: ['ACTION_LEASE_S'] });
    expect(error.message).toMatch(/ACTION_TIMEOUT_MS 60000, ACTION_HTTP_TIMEOUT_MS 10000/);
    expect(() => load({ ACTION_LEASE_S: '60' })).toThrow(ConfigError);
    expect(() => load({ ACTION_LEASE_S: '70' })).not.toThrow();
    expect(() => load({ ACTION_LEASE_S: '11', ACTION_TIMEOUT_MS: '10000' })).not.toThrow();
    expect(() => load({ ACTION_LEASE_S: '1', ACTION_TIMEOUT_MS: '400', ACTION_HTTP_TIMEOUT_MS: '400' })).not.toThrow();
    expect(load({ ACTION_TIMEOUT_MS: '5000' }).actions.timeout_ms).toBe(5000);
  });

  it('gives sane defaults with an empty environment', () => {
    const config = load({});
    expect(config).toMatchObject({
      env: 'development',
      server: { host: '127.0.0.1', port: 8080 },
      data_dir: '.data',
      ready: { timeout_ms: 1000 },
    });
    expect(config.database.url).toBeUndefined();
    expect(config.apiKeys).toEqual([]);
  });

  it('lets environment variables override, typed', () => {
    const config = load({ PORT: '9090', HOST: '0.0.0.0', READY_TIMEOUT_MS: '250', DATABASE_URL: 'postgres://u:p@db:5432/x' });
    expect(config.server).toMatchObject({ host: '0.0.0.0', port: 9090 });
    expect(config.ready.timeout_ms).toBe(250);
  });

  it('names the key and the variable for a non-numeric port', () => {
    const error = errorOf(() => load({ PORT: 'eighty' }));
    expect(error.issues).toEqual([expect.objectContaining({ key: 'server.port', env: ['PORT'], value: 'eighty' })]);
    expect(error.message).toContain('server.port (set by PORT)');
    expect(error.message).toContain('"eighty"');
  });

  it('LLM_SPEND_RETENTION_DAYS: 400 days by default, 0 keeps all, a negative or non-integer value names the variable', () => {
    expect(load({}).governance.spend_retention_days).toBe(400);
    expect(load({ LLM_SPEND_RETENTION_DAYS: '0' }).governance.spend_retention_days).toBe(0);
    expect(load({ LLM_SPEND_RETENTION_DAYS: '30' }).governance.spend_retention_days).toBe(30);
    for (const bad of ['-1', '1.5', 'forever']) {
      const error = errorOf(() => load({ LLM_SPEND_RETENTION_DAYS: bad }));
      expect(error.issues).toEqual([
        expect.objectContaining({ key: 'governance.spend_retention_days', env: ['LLM_SPEND_RETENTION_DAYS'] }),
      ]);
    }
  });

  it('lists every bad key at once and never prints a secret value', () => {
    const secret = ['sk', 'live', 'a'.repeat(24)].join('-');
    const error = errorOf(() =>
      load({ MYCA_ENV: 'staging', UPSTASH_REDIS_REST_URL: 'http://127.0.0.1:1', MYCA_API_KEYS: `bot:robot:${secret}` }),
    );
    const keys = error.issues.map((issue) => issue.key);
    expect(keys).toEqual(expect.arrayContaining(['env', 'auth.api_keys']));
    expect(error.message).not.toContain(secret);
  });

  it('requires the Upstash token with the Upstash URL', () => {
    const error = errorOf(() => load({ UPSTASH_REDIS_REST_URL: 'http://127.0.0.1:8079' }));
    expect(error.issues[0]).toMatchObject({ key: 'kv.upstash_token' });
  });

  it('parses MYCA_API_KEYS in both forms and refuses duplicates', () => {
    const hash = 'a'.repeat(64);
    const config = load({ MYCA_API_KEYS: `planner:agent:${'s'.repeat(20)}, alice:approver:sha256:${hash}` });
    expect(config.apiKeys).toEqual([
      { id: 'planner', role: 'agent', secret: 's'.repeat(20) },
      { id: 'alice', role: 'approver', secret_sha256: hash },
    ]);
    expect(() => load({ MYCA_API_KEYS: `a:agent:${'x'.repeat(20)},a:admin:${'y'.repeat(20)}` })).toThrow(/used twice/);
    expect(() => load({ MYCA_API_KEYS: 'a:agent:short' })).toThrow(/entry 1/);
  });

  it('reads keys from auth.yaml when MYCA_API_KEYS is unset', () => {
    const auth = `keys:\n  - { id: ops, role: admin, secret_sha256: ${'b'.repeat(64)} }\n`;
    const config = loadConfig({ env: {}, files: { ...files, 'auth.yaml': auth } });
    expect(config.apiKeys).toEqual([{ id: 'ops', role: 'admin', secret_sha256: 'b'.repeat(64) }]);
  });

  it('reports broken YAML as a config error', () => {
    expect(() => loadConfig({ env: {}, files: { 'app.yaml': 'server: [unclosed' } })).toThrow(ConfigError);
  });
});

describe('sanitizeConfig', () => {
  it('shows secrets as *** and keeps the rest readable', () => {
    const config = load({
      // Built at run time so the secret scanner does not take the canary for a real credential.
      DATABASE_URL: ['postgres://myca', 'hunter2-password@db:5432/myca'].join(':'),
      UPSTASH_REDIS_REST_URL: 'http://127.0.0.1:8079',
      UPSTASH_REDIS_REST_TOKEN: 'upstash-token-value',
      MYCA_API_KEYS: `planner:agent:${'s'.repeat(20)}`,
    });
    const text = JSON.stringify(sanitizeConfig(config));
    expect(text).not.toContain('hunter2-password');
    expect(text).not.toContain('upstash-token-value');
    expect(text).not.toContain('s'.repeat(20));
    expect(text).toContain('postgres://myca:***@db:5432/myca');
    expect(text).toContain('"id":"planner"');
  });
});
