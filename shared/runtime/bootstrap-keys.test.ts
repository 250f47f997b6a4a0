import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../../test/support/databases.js';
import { createDatabase, type Database } from '../db/index.js';
import { migrate, readMigrations } from '../db/migrate.js';
import { createLogger } from '../log/index.js';
import { resolveApiKeys } from './bootstrap-keys.js';
import { loadNodeConfig, ROOT_DIR } from './node-config.js';

describe('development API keys', () => {
  let database: TestDatabase;
  let db: Database;
  beforeAll(async () => {
    database = await createTestDatabase();
    db = createDatabase(database.url, { max: 1 });
    await migrate(db.sql, await readMigrations(join(ROOT_DIR, 'migrations')));
  });
  afterAll(async () => {
    await db?.close();
    await database?.drop();
  });

  const run = async (env: Record<string, string>) => {
    const lines: string[] = [];
    let printed = '';
    const logger = createLogger({ level: 'debug', write: (line) => lines.push(line) });
    const keys = await resolveApiKeys(loadNodeConfig(env), db.sql, logger, (text) => {
      printed += text;
    });
    return { keys, printed, log: lines.map((line) => JSON.parse(line) as Record<string, unknown>) };
  };

  it('a first start prints one key per agent (named after it), an approver and an admin key; a restart prints none and keeps them', async () => {
    const first = await run({});
    expect(first.keys.map((key) => [key.id, key.role])).toEqual([
      ['corporate', 'agent'],
      ['dev-admin', 'admin'],
      ['dev-approver', 'approver'],
      ['financial', 'agent'],
      ['mycology', 'agent'],
    ]);
    expect(first.printed).toMatch(/agent\s+mycology\s+myca_[0-9a-f]{48}/);
    expect(first.printed).toMatch(/admin\s+dev-admin\s+myca_[0-9a-f]{48}/);
    const second = await run({});
    expect(second.printed).toBe('');
    expect(second.keys.map((key) => key.secret_sha256)).toEqual(first.keys.map((key) => key.secret_sha256));
    expect(second.log.find((line) => String(line.msg).startsWith('API keys in force'))).toMatchObject({
      ids: ['corporate', 'dev-admin', 'dev-approver', 'financial', 'mycology'],
    });
  });

  it('with MYCA_API_KEYS set, the log says plainly that only those are accepted and which generated keys are not', async () => {
    const { keys, log, printed } = await run({ MYCA_API_KEYS: `ops:admin:${'q'.repeat(24)}` });
    expect(keys.map((key) => key.id)).toEqual(['ops']);
    expect(printed).toBe('');
    expect(log.find((line) => String(line.msg).startsWith('API keys in force'))).toMatchObject({
      msg: 'API keys in force: the configured ones only (MYCA_API_KEYS / auth.yaml)',
      ids: ['ops'],
      not_accepted: ['corporate', 'dev-admin', 'dev-approver', 'financial', 'mycology'],
    });
    expect(JSON.stringify(log)).not.toContain('q'.repeat(24));
  });
});
