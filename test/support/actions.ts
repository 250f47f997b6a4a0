import { join } from 'node:path';
import { createDatabase } from '../../shared/db/index.js';
import { migrate, readMigrations } from '../../shared/db/migrate.js';
import { ROOT_DIR } from '../../shared/runtime/node-config.js';
import { createTestDatabase, type TestDatabase } from './databases.js';

export const keys = {
  agent: `myca_${'a7'.repeat(16)}`,
  agent2: `myca_${'a8'.repeat(16)}`,
  approver: `myca_${'e5'.repeat(16)}`,
  approver2: `myca_${'e6'.repeat(16)}`,
  admin: `myca_${'f9'.repeat(16)}`,
};
/** The tests' principals: `planner` and `scout` are agents, `alice` and `bob` approvers, `root` an admin. */
export const apiKeys = [
  `planner:agent:${keys.agent}`,
  `scout:agent:${keys.agent2}`,
  `alice:approver:${keys.approver}`,
  `bob:approver:${keys.approver2}`,
  `root:admin:${keys.admin}`,
].join(',');

/** A fresh, migrated database for one test file. */
export async function migratedDatabase(): Promise<TestDatabase> {
  const database = await createTestDatabase();
  const db = createDatabase(database.url, { max: 1 });
  await migrate(db.sql, await readMigrations(join(ROOT_DIR, 'migrations')));
  await db.close();
  return database;
}

export const headers = (key: string, idempotencyKey?: string) => ({
  authorization: `Bearer ${key}`,
  'content-type': 'application/json',
  ...(idempotencyKey ? { 'idempotency-key': idempotencyKey } : {}),
});
