/**
 * The embedded default (`npm start`, PGlite) as a single-node deployment under concurrency: every
 * request answers without 5xx, racing approvals execute once, the audit chain verifies.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT_DIR } from '../shared/runtime/node-config.js';
import { apiKeys, headers, keys } from './support/actions.js';
import { run, type Started, start, stop } from './support/server-process.js';

describe('embedded mode (PGlite) under concurrency', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'myca-embedded-'));
  let server: Started;
  beforeAll(async () => {
    server = await start({ MYCA_DATA_DIR: dataDir, MYCA_API_KEYS: apiKeys });
  }, 90_000);
  afterAll(async () => {
    if (server) await stop(server);
    rmSync(dataDir, { recursive: true, force: true });
  });

  const post = (path: string, key: string, body: unknown, idempotencyKey?: string) =>
    fetch(`${server.url}${path}`, { method: 'POST', headers: headers(key, idempotencyKey), body: JSON.stringify(body) });

  const verifyChain = async () => {
    const verify = await fetch(`${server.url}/v1/audit/verify`, { headers: headers(keys.admin) });
    expect(verify.status).toBe(200);
    expect(await verify.json()).toMatchObject({ ok: true });
  };

  it('200 concurrent approvals of one held action: no 5xx, exactly one executes, the chain verifies', async () => {
    const held = await post(
      '/v1/actions',
      keys.agent,
      { type: 'file.write', input: { path: 'notes/race.md', content: 'once\n' } },
      'race-1',
    );
    expect(held.status).toBe(202);
    const { id, digest } = (await held.json()) as { id: string; digest: string };

    const approvers = [keys.approver, keys.approver2, keys.admin];
    const answers = await Promise.all(
      Array.from({ length: 200 }, (_, index) =>
        post(`/v1/actions/${id}/approve`, approvers[index % approvers.length] as string, { digest }).then(async (response) => ({
          status: response.status,
          body: (await response.json()) as { status?: string; code?: string },
        })),
      ),
    );
    const statuses = answers.map((answer) => answer.status);
    expect(statuses.filter((status) => status >= 500)).toEqual([]);
    expect(answers.filter((answer) => answer.status === 200 && answer.body.status === 'executed')).toHaveLength(1);
    expect(statuses.filter((status) => status !== 200).every((status) => status === 409)).toBe(true);
    expect(readFileSync(join(dataDir, 'files', 'notes', 'race.md'), 'utf8')).toBe('once\n');
    await verifyChain();
  }, 180_000);

  it('200 concurrent mixed actions (auto, held, reads, queries): no 5xx, the chain verifies', async () => {
    const bodies = Array.from({ length: 200 }, (_, index) => {
      switch (index % 4) {
        case 0:
          return { type: 'db.query', input: { query: 'audit_counts_by_status' } };
        case 1:
          return { type: 'file.write', input: { path: `scratch/mixed-${index}.md`, content: `${index}\n` } };
        case 2:
          return { type: 'file.write', input: { path: `notes/held-${index}.md`, content: `${index}\n` } };
        default:
          return { type: 'file.read', input: { path: 'notes/race.md' } };
      }
    });
    const answers = await Promise.all(
      bodies.map((body, index) =>
        post('/v1/actions', index % 2 ? keys.agent : keys.agent2, body, `mixed-${index}`).then(async (response) => ({
          index,
          status: response.status,
          body: (await response.json()) as { status?: string },
        })),
      ),
    );
    expect(answers.filter((answer) => answer.status >= 500)).toEqual([]);
    for (const answer of answers) {
      if (answer.index % 4 === 2) expect(answer).toMatchObject({ status: 202, body: { status: 'pending' } });
      else expect(answer).toMatchObject({ status: 200, body: { status: 'executed' } });
    }
    expect(existsSync(join(dataDir, 'files', 'scratch', 'mixed-1.md'))).toBe(true);
    await verifyChain();
  }, 180_000);

  it('a second process on the same data folder is refused, naming the first one’s pid', async () => {
    const second = run({ MYCA_DATA_DIR: dataDir, MYCA_API_KEYS: apiKeys, PORT: '0' });
    try {
      expect(await second.exited).toBe(1);
    } finally {
      if (second.child.exitCode === null) second.child.kill('SIGTERM');
    }
    const pid = readFileSync(join(dataDir, 'pg.pid'), 'utf8').trim();
    expect(second.output()).toMatch(new RegExp(`^the embedded database in .* is already open in process ${pid} `, 'm'));
    // npm run dev on the same folder is refused the same way.
    const dev = spawn(join(ROOT_DIR, 'node_modules', '.bin', 'tsx'), ['shared/runtime/dev.ts'], {
      cwd: ROOT_DIR,
      env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', MYCA_DATA_DIR: dataDir, MYCA_EMBEDDED_PG_PORT: '0' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let devOutput = '';
    dev.stderr?.on('data', (chunk: Buffer) => {
      devOutput += chunk.toString();
    });
    const devExit = await new Promise<number | null>((resolve) => dev.once('exit', resolve));
    expect(devExit).toBe(1);
    expect(devOutput).toContain(`already open in process ${pid}`);
    // The first one is untouched.
    expect((await fetch(`${server.url}/ready`)).status).toBe(200);
  }, 60_000);
});
