import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiKeys, headers, keys, migratedDatabase } from './support/actions.js';
import type { TestDatabase } from './support/databases.js';
import { RUNTIMES, type RuntimeHandle, startRuntime } from './support/runtimes.js';

// Source code and JSON often hold the six characters \u0000 as text (a backslash, then u0000): not a
// NUL character, and nothing Postgres refuses. The audit row must record them as they are.
const SOURCE = ['const END = "', '\\', 'u0000";\n'].join('');

describe.each(RUNTIMES)('input holding an escape sequence as text on %s', (runtime) => {
  let database: TestDatabase;
  let app: RuntimeHandle;
  let sql: postgres.Sql;
  const filesRoot = mkdtempSync(join(tmpdir(), 'myca-escaped-text-'));

  beforeAll(async () => {
    database = await migratedDatabase();
    sql = postgres(database.url, { max: 1, onnotice: () => {} });
    app = await startRuntime(runtime, { DATABASE_URL: database.url, MYCA_API_KEYS: apiKeys, MYCA_FILES_ROOT: filesRoot });
  });
  afterAll(async () => {
    await app?.close();
    await sql?.end();
    await database?.drop();
    rmSync(filesRoot, { recursive: true, force: true });
  });

  it('writes a file whose content holds the text \\u0000 and records it in the audit row unchanged', async () => {
    const key = `escaped-${runtime}`;
    const response = await app.fetch('/v1/actions', {
      method: 'POST',
      headers: headers(keys.corporate, key),
      body: JSON.stringify({ type: 'file.write', input: { path: 'scratch/end.js', content: SOURCE } }),
    });
    const body = (await response.json()) as { code?: string; detail?: string; status?: string };
    expect(response.status, `${response.status} ${body.code}: ${body.detail}`).toBe(200);
    expect(await app.files.read('scratch/end.js')).toBe(SOURCE);
    const [row] = await sql<{ content: string }[]>`
      select inputs->>'content' as content from action_audit_logs where idempotency_key = ${key}`;
    expect(row?.content).toBe(SOURCE);
  });
});
