import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newSecret } from '../shared/governance/keys.js';
import { redactString } from '../shared/redact/index.js';
import { apiKeys, headers, keys, migratedDatabase } from './support/actions.js';
import type { TestDatabase } from './support/databases.js';
import { type RuntimeHandle, startRuntime } from './support/runtimes.js';

// The secrets POST /v1/keys hands out: `myca_vk_` and 43 base64url characters (which may hold - and _).
describe('secrets of keys made through the API', () => {
  it('are masked in free text, as configured MYCA keys are', () => {
    for (let i = 0; i < 20; i++) {
      const secret = newSecret();
      expect(redactString(`deploy with ${secret} tonight`), secret).not.toContain(secret.slice('myca_vk_'.length));
    }
  });

  describe('in an action (node)', () => {
    let database: TestDatabase;
    let app: RuntimeHandle;
    let sql: postgres.Sql;
    const filesRoot = mkdtempSync(join(tmpdir(), 'myca-vk-redact-'));

    beforeAll(async () => {
      database = await migratedDatabase();
      sql = postgres(database.url, { max: 1, onnotice: () => {} });
      app = await startRuntime('node', { DATABASE_URL: database.url, MYCA_API_KEYS: apiKeys, MYCA_FILES_ROOT: filesRoot });
    });
    afterAll(async () => {
      await app?.close();
      await sql?.end();
      await database?.drop();
      rmSync(filesRoot, { recursive: true, force: true });
    });

    it('never stores a key secret in the audit row or shows it on GET /v1/actions/:id', async () => {
      const made = await app.fetch('/v1/keys', {
        method: 'POST',
        headers: headers(keys.admin),
        body: JSON.stringify({ name: 'ci bot', agents: ['corporate'] }),
      });
      expect(made.status).toBe(201);
      const { secret } = (await made.json()) as { secret: string };
      const written = await app.fetch('/v1/actions', {
        method: 'POST',
        headers: headers(keys.corporate, `vk-redact-${Date.now()}`),
        body: JSON.stringify({ type: 'file.write', input: { path: 'scratch/ci.md', content: `CI uses ${secret}\n` } }),
      });
      expect(written.status).toBe(200);
      const { id } = (await written.json()) as { id: string };
      const [row] = await sql<{ inputs: unknown }[]>`select inputs from action_audit_logs where id = ${id}`;
      expect(JSON.stringify(row?.inputs)).not.toContain(secret);
      const shown = await (await app.fetch(`/v1/actions/${id}`, { headers: headers(keys.approver) })).text();
      expect(shown).not.toContain(secret);
    });
  });
});
