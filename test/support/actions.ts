import { join } from 'node:path';
import type postgres from 'postgres';
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
  // The agents of config/agents.yaml: a key acts only as the agent it is named after.
  mycology: `myca_${'b1'.repeat(16)}`,
  financial: `myca_${'b2'.repeat(16)}`,
  corporate: `myca_${'b3'.repeat(16)}`,
};
/**
 * The tests' principals: `planner` and `scout` are agents (acting as agents of those names),
 * `mycology`, `financial` and `corporate` the keys of config/agents.yaml's agents, `alice` and `bob`
 * approvers, `root` an admin.
 */
export const apiKeys = [
  `planner:agent:${keys.agent}`,
  `scout:agent:${keys.agent2}`,
  `mycology:agent:${keys.mycology}`,
  `financial:agent:${keys.financial}`,
  `corporate:agent:${keys.corporate}`,
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

/**
 * Moves a held action's expiry into the past, as time passing would. action_audit_logs refuses any
 * change that is not a transition (migration 0006), so the test (a superuser) turns triggers off
 * for this one statement.
 */
export async function expireNow(sql: postgres.Sql, id: string): Promise<void> {
  await sql.begin(async (tx) => {
    await tx`set local session_replication_role = replica`;
    await tx`update action_audit_logs set expires_at = now() - interval '1 second' where id = ${id}`;
  });
}
