import { join } from 'node:path';
import type postgres from 'postgres';
import { CATALOG } from '../../functions/actions/catalog/index.js';
import { type ActionRow, actionDigest, insertAction } from '../../functions/actions/store.js';
import { canonicalJson, sha256 } from '../../shared/audit/hash.js';
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

/** The policy version the tests' hand-made action rows carry. */
export const TEST_POLICY_VERSION = '2026-11-28.1';

/**
 * An action row as a worker leaves it when it claims the action and stops before recording the
 * outcome: `executing`, its lease 1 s, with the request hash and digest `POST /v1/actions` would have
 * given it (so the recovery sweep may run it again from its stored input).
 */
export async function insertExecuting(
  sql: postgres.Sql,
  action: { key: string; type: string; input: Record<string, unknown>; agent: string; category?: string },
): Promise<ActionRow> {
  const { key, type, input, agent } = action;
  const request = {
    correlationId: `stuck-${key}`,
    traceparent: null,
    agentId: agent,
    runId: null,
    requestedBy: agent,
    idempotencyKey: key,
    requestHash: sha256(canonicalJson({ type, input, agent_id: agent })),
  };
  const row = await insertAction(
    sql,
    {
      ...request,
      type,
      category: action.category ?? CATALOG.get(type)?.category ?? 'write',
      input,
      status: 'executing',
      approvalRequired: false,
      digest: actionDigest({ ...request, type, input, policyVersion: TEST_POLICY_VERSION }),
      expiresAt: null,
      policyVersion: TEST_POLICY_VERSION,
      policyRule: 'test',
      leaseS: 1,
    },
    [{ event: 'requested', actor: agent, correlationId: request.correlationId, data: { type } }],
  );
  if (!row) throw new Error(`no row inserted for ${key}`);
  return row;
}
