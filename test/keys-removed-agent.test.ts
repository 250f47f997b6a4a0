import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT_DIR } from '../shared/runtime/node-config.js';
import { apiKeys, headers, keys, migratedDatabase } from './support/actions.js';
import type { TestDatabase } from './support/databases.js';
import { type RuntimeHandle, startRuntime } from './support/runtimes.js';

/**
 * A key made through POST /v1/keys names its agents (checked against agents.yaml then). When an
 * agent later leaves agents.yaml, its actions list goes with it: a key still naming it must not
 * act as an unconfigured agent, which only the policy holds (every catalog action, db.query
 * included). Configured keys already drop agents that do not exist (configPolicy).
 */
describe('a key whose agent left agents.yaml (node)', () => {
  let database: TestDatabase;
  let before: RuntimeHandle;
  let after: RuntimeHandle;
  const configDir = mkdtempSync(join(tmpdir(), 'myca-removed-agent-'));

  beforeAll(async () => {
    database = await migratedDatabase();
    before = await startRuntime('node', { DATABASE_URL: database.url, MYCA_API_KEYS: apiKeys });
    cpSync(join(ROOT_DIR, 'config'), configDir, { recursive: true });
    const agents = readFileSync(join(configDir, 'agents.yaml'), 'utf8');
    const start = agents.indexOf('\n  corporate:');
    expect(start).toBeGreaterThan(0);
    const end = nextAgent(agents, start);
    writeFileSync(join(configDir, 'agents.yaml'), agents.slice(0, start) + agents.slice(end));
    after = await startRuntime('node', { DATABASE_URL: database.url, MYCA_API_KEYS: apiKeys, MYCA_CONFIG_DIR: configDir });
  });
  afterAll(async () => {
    await before?.close();
    await after?.close();
    await database?.drop();
    rmSync(configDir, { recursive: true, force: true });
  });

  it('no longer acts as the removed agent, and so gets none of the actions its list did not give it', async () => {
    const made = await before.fetch('/v1/keys', {
      method: 'POST',
      headers: headers(keys.admin),
      body: JSON.stringify({ name: 'drafts bot', agents: ['corporate'] }),
    });
    expect(made.status).toBe(201);
    const { secret } = (await made.json()) as { secret: string };
    const query = { type: 'db.query', input: { query: 'audit_counts_by_status' }, agent_id: 'corporate' };
    // While corporate is configured, db.query is not on its list.
    const refused = await before.fetch('/v1/actions', {
      method: 'POST',
      headers: headers(secret, 'q-before'),
      body: JSON.stringify(query),
    });
    expect(refused.status).toBe(403);

    const agents = (await (await after.fetch('/v1/agents', { headers: headers(secret) })).json()) as { data: Array<{ name: string }> };
    expect(agents.data.map((agent) => agent.name)).not.toContain('corporate');
    const response = await after.fetch('/v1/actions', { method: 'POST', headers: headers(secret, 'q-after'), body: JSON.stringify(query) });
    const body = (await response.json()) as { status?: string; policy_rule?: string; output?: unknown };
    expect(response.status, `${response.status} ${body.status} by ${body.policy_rule}`).toBe(403);
  });
});

/** Where the agent entry starting at `start` ends: the next line indented exactly two spaces. */
function nextAgent(text: string, start: number): number {
  const pattern = /\n {2}[a-z][a-z0-9_-]*:/g;
  pattern.lastIndex = start + 1;
  const match = pattern.exec(text);
  return match ? match.index : text.length;
}
