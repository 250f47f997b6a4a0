import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from './support/databases.js';
import { run, start, stop } from './support/server-process.js';

describe('npm start in embedded mode (no environment)', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'myca-data-'));
  afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

  it('serves /health and /ready from embedded Postgres, prints dev keys once and keeps them across a restart', async () => {
    const first = await start({ MYCA_DATA_DIR: dataDir });
    let agentKey: string | undefined;
    let adminKey: string | undefined;
    let anchored: { seq: number } | null | undefined;
    try {
      expect(first.output()).toContain('embedded mode');
      // One key per agent of agents.yaml, named after it (a key acts only as its own agent).
      agentKey = /agent\s+mycology\s+(myca_[0-9a-f]+)/.exec(first.output())?.[1];
      expect(agentKey).toBeTruthy();

      const health = await fetch(`${first.url}/health`);
      expect(health.status).toBe(200);
      const ready = await fetch(`${first.url}/ready`);
      expect(ready.status).toBe(200);
      expect(await ready.json()).toMatchObject({
        checks: { postgres: { status: 'up', mode: 'embedded' }, redis: { status: 'skipped', mode: 'memory' } },
      });
      const whoami = await fetch(`${first.url}/v1/whoami`, { headers: { authorization: `Bearer ${agentKey}` } });
      expect(await whoami.json()).toEqual({ id: 'mycology', role: 'agent' });
      // The audit tables, the chain function and the action flow work on the embedded Postgres too
      // (file.read: one of the actions mycology's agents.yaml entry lists; files live under data_dir).
      mkdirSync(join(dataDir, 'files', 'species'), { recursive: true });
      writeFileSync(join(dataDir, 'files', 'species', 'index.md'), '# Species');
      const action = await fetch(`${first.url}/v1/actions`, {
        method: 'POST',
        headers: { authorization: `Bearer ${agentKey}`, 'content-type': 'application/json', 'idempotency-key': 'embedded-1' },
        body: JSON.stringify({ type: 'file.read', input: { path: 'species/index.md' }, agent_id: 'mycology' }),
      });
      expect(await action.json()).toMatchObject({ status: 'executed', output: { content: '# Species' } });
      adminKey = /admin\s+dev-admin\s+(myca_[0-9a-f]+)/.exec(first.output())?.[1];
      const verify = await fetch(`${first.url}/v1/audit/verify`, { headers: { authorization: `Bearer ${adminKey}` } });
      anchored = ((await verify.json()) as { anchored: { seq: number } | null }).anchored;
      expect(anchored?.seq).toBeGreaterThan(0);
    } finally {
      expect(await stop(first)).toBe(0);
    }

    const second = await start({ MYCA_DATA_DIR: dataDir });
    try {
      expect(second.output()).not.toMatch(/myca_[0-9a-f]{48}/);
      const whoami = await fetch(`${second.url}/v1/whoami`, { headers: { authorization: `Bearer ${agentKey}` } });
      expect(whoami.status).toBe(200);
      // The key-value store is kept in the data folder: the chain's anchored head outlived the restart,
      // so deleting the newest audit events is still caught.
      const verify = await fetch(`${second.url}/v1/audit/verify`, { headers: { authorization: `Bearer ${adminKey}` } });
      expect(await verify.json()).toMatchObject({ ok: true, anchored });
      expect(second.output()).toContain('kv.json');
    } finally {
      await stop(second);
    }
  }, 120_000);
});

describe('npm start with a configured Postgres', () => {
  let database: TestDatabase;
  beforeAll(async () => {
    database = await createTestDatabase();
  });
  afterAll(() => database?.drop());

  it('exits non-zero on invalid config, naming the key and the variable', async () => {
    const { exited, output } = run({ PORT: 'abc' });
    expect(await exited).toBe(2);
    expect(output()).toContain('server.port (set by PORT)');
  });

  it('stops cleanly (exit 0) on a SIGTERM that arrives while it is still starting', async () => {
    const { child, exited, output } = run({ PORT: '0', DATABASE_URL: database.url, LOG_LEVEL: 'debug' }, { direct: true });
    // The first debug line (migrations) comes well before "listening": the signal lands mid-start.
    while (!output().includes('"level":"debug"') && child.exitCode === null) await new Promise((resolve) => setTimeout(resolve, 10));
    child.kill('SIGTERM');
    expect(await exited, output()).toBe(0);
    expect(output()).toContain('"msg":"shutting down"');
  });

  it('refuses to start in production without API keys', async () => {
    const { exited, output } = run({ MYCA_ENV: 'production', DATABASE_URL: database.url });
    expect(await exited).toBe(1);
    expect(output()).toContain('MYCA_API_KEYS');
  });

  it('uses DATABASE_URL and Upstash when set, and logs its sanitized config once', async () => {
    const server = await start({
      DATABASE_URL: database.url,
      UPSTASH_REDIS_REST_URL: inject('upstashUrl'),
      UPSTASH_REDIS_REST_TOKEN: inject('upstashToken'),
      MYCA_API_KEYS: `ops:admin:${'z'.repeat(24)}`,
    });
    try {
      const ready = await fetch(`${server.url}/ready`);
      expect(await ready.json()).toMatchObject({
        status: 'ready',
        checks: { postgres: { mode: 'postgres' }, redis: { status: 'up', mode: 'upstash' } },
      });
      expect(server.output().match(/"msg":"effective configuration"/g)?.length).toBe(1);
      expect(server.output()).not.toContain(inject('upstashToken'));
      expect(server.output()).not.toContain('z'.repeat(24));
    } finally {
      await stop(server);
    }
  });
});
