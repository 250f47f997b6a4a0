import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CATALOG } from '../functions/actions/catalog/index.js';
import { actionDigest, insertAction, transition } from '../functions/actions/store.js';
import { canonicalJson, sha256 } from '../shared/audit/hash.js';
import { apiKeys, headers, keys, migratedDatabase } from './support/actions.js';
import type { TestDatabase } from './support/databases.js';
import { RUNTIMES, type RuntimeHandle, startRuntime } from './support/runtimes.js';

const POLICY_VERSION = '2026-11-28.1';

/**
 * A worker that claimed an action (its row is `approved` or `executing`) and then stopped: the rows
 * are written exactly as the claiming code writes them, and then nobody runs them. The recovery
 * sweep (Node's timer, workerd's Cron Trigger) must end every one of them.
 */
describe.each(RUNTIMES)('the recovery sweep takes over actions whose worker is gone (%s)', (runtime) => {
  let database: TestDatabase;
  let app: RuntimeHandle;
  let admin: postgres.Sql;
  const ids: Record<string, string> = {};
  const bodies: Record<string, { type: string; input: Record<string, unknown>; agent_id: string }> = {};

  /** What a worker writes when it claims `type` for `key`, then stops. */
  async function claimThenDie(key: string, type: string, input: Record<string, unknown>, state: 'executing' | 'approved') {
    const body = { type, input, agent_id: 'corporate' };
    bodies[key] = body;
    const action = CATALOG.get(type);
    if (!action) throw new Error(type);
    const request = {
      correlationId: `recovery-${key}`,
      traceparent: null,
      agentId: 'corporate',
      runId: null,
      requestedBy: 'corporate',
      idempotencyKey: key,
      requestHash: sha256(canonicalJson(body)),
    };
    const row = await insertAction(
      admin,
      {
        ...request,
        type,
        category: action.category,
        input,
        status: state === 'approved' ? 'pending' : 'executing',
        approvalRequired: state === 'approved',
        digest: actionDigest({ ...request, type, input, policyVersion: POLICY_VERSION }),
        expiresAt: state === 'approved' ? new Date(Date.now() + 3_600_000) : null,
        policyVersion: POLICY_VERSION,
        policyRule: 'test',
        leaseS: 1,
      },
      [
        {
          event: 'requested',
          actor: 'corporate',
          correlationId: request.correlationId,
          data: { type, agent_id: 'corporate', run_id: null },
        },
      ],
    );
    if (!row) throw new Error('not inserted');
    if (state === 'approved') {
      const approved = await transition(
        admin,
        row.id,
        ['pending'],
        'approved',
        { event: 'approved', actor: 'alice', correlationId: 'approval', data: {} },
        { approvedBy: 'alice', decision: { digest: row.digest, decidedBy: 'alice' }, leaseS: 1 },
      );
      expect(approved?.status).toBe('approved');
    }
    ids[key] = row.id;
  }

  const status = async (key: string) =>
    (await admin<{ status: string }[]>`select status from action_audit_logs where id = ${ids[key] as string}`)[0]?.status;
  const events = async (key: string) =>
    (await admin<{ event: string }[]>`select event from action_audit_events where action_id = ${ids[key] as string} order by seq`).map(
      (row) => row.event,
    );
  const retry = (key: string) =>
    app.fetch('/v1/actions', { method: 'POST', headers: headers(keys.corporate, key), body: JSON.stringify(bodies[key]) });

  beforeAll(async () => {
    database = await migratedDatabase();
    admin = postgres(database.url, { max: 2, onnotice: () => {} });
    app = await startRuntime(runtime, {
      DATABASE_URL: database.url,
      MYCA_API_KEYS: apiKeys,
      MYCA_FILES_ROOT: mkdtempSync(join(tmpdir(), 'myca-recovery-')),
      ACTION_LEASE_S: '1',
      // A lease must outlast every action timeout (config refuses less): short ones for a short lease.
      ACTION_TIMEOUT_MS: '400',
      ACTION_HTTP_TIMEOUT_MS: '400',
    });
    await app.files.write('species/amanita.md', '# Amanita muscaria');
    await app.files.write('notes/old.txt', 'keep me');
    await claimThenDie('read', 'file.read', { path: 'species/amanita.md' }, 'executing');
    await claimThenDie('write', 'file.write', { path: 'scratch/a.txt', content: 'written once' }, 'executing');
    await claimThenDie('write-approved', 'file.write', { path: 'notes/b.txt', content: 'approved, never run' }, 'approved');
    // Redacted in the audit row and no snapshot (it ran at once): it cannot be run again faithfully.
    await claimThenDie('write-secret', 'file.write', { path: 'scratch/c.txt', content: 'password=hunter22' }, 'executing');
    await claimThenDie('delete', 'file.delete', { path: 'notes/old.txt' }, 'approved');
    await claimThenDie('delete-running', 'file.delete', { path: 'notes/old.txt' }, 'executing');
    // A write that died, then a later write of the same file (the path spelt differently) that ran.
    await claimThenDie('stale', 'file.write', { path: 'scratch/ledger.csv', content: 'v1 (stale)' }, 'executing');
    const newer = await app.fetch('/v1/actions', {
      method: 'POST',
      headers: headers(keys.corporate, `newer-${runtime}`),
      body: JSON.stringify({ type: 'file.write', input: { path: 'scratch//./ledger.csv', content: 'v2 (newer)' } }),
    });
    expect(newer.status).toBe(200);
  });
  afterAll(async () => {
    await app?.close();
    await admin?.end();
    await database?.drop();
  });

  it('leaves a row alone while its lease runs, and tells a retry when to come back (not "still running" for ever)', async () => {
    await app.sweep();
    expect(await status('write')).toBe('executing');
    const response = await retry('write');
    expect(response.status).toBe(409);
    expect(Number(response.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    const problem = (await response.json()) as { hint: string; lease_until: string };
    expect(problem.hint).toMatch(/same Idempotency-Key after/);
    expect(Date.parse(problem.lease_until)).toBeGreaterThan(0);
  });

  it('after the lease, runs reads and file.write again, ends the rest as failed (interrupted), and leaves nothing unfinished', async () => {
    await new Promise((resolve) => setTimeout(resolve, 1100));
    await app.sweep();

    expect(await status('read')).toBe('executed');
    expect(await status('write')).toBe('executed');
    expect(await app.files.read('scratch/a.txt')).toBe('written once');
    expect(await status('write-approved')).toBe('executed');
    expect(await app.files.read('notes/b.txt')).toBe('approved, never run');
    expect(await events('write-approved')).toEqual(['requested', 'approved', 'executing', 'executed']);

    // The stale write is not run over the newer one.
    expect(await app.files.read('scratch/ledger.csv')).toBe('v2 (newer)');
    const [stale] = await admin`select error from action_audit_logs where id = ${ids.stale as string}`;
    expect(stale?.error).toMatch(/later write or delete of the same path/);
    for (const key of ['write-secret', 'delete', 'delete-running', 'stale']) {
      expect(await status(key), key).toBe('failed');
      expect((await events(key)).at(-1), key).toBe('interrupted');
    }
    expect(await app.files.read('scratch/c.txt')).toBeNull();
    expect(await app.files.read('notes/old.txt')).toBe('keep me');

    const unfinished = await admin`select id from action_audit_logs where status in ('approved', 'executing')`;
    expect(unfinished).toHaveLength(0);
    const verified = (await (await app.fetch('/v1/audit/verify', { headers: headers(keys.admin) })).json()) as { ok: boolean };
    expect(verified, JSON.stringify(verified)).toMatchObject({ ok: true });
  });

  it('answers a retry with the same Idempotency-Key with the outcome: the re-run result, or why it was interrupted', async () => {
    const read = await retry('read');
    expect(read.status).toBe(200);
    expect(await read.json()).toMatchObject({ status: 'executed', replayed: true, outputs: { content: '# Amanita muscaria' } });
    const interrupted = await retry('write-secret');
    expect(interrupted.status).toBe(502);
    expect(await interrupted.json()).toMatchObject({
      status: 502,
      action_status: 'failed',
      replayed: true,
      detail: expect.stringMatching(/^interrupted:/),
      outputs: { problem: { hint: expect.stringMatching(/new Idempotency-Key/) } },
    });
  });

  it('a second sweep finds nothing to do (a re-run happens once)', async () => {
    const before = await admin<{ n: number }[]>`select count(*)::int as n from action_audit_events`;
    await app.sweep();
    const after = await admin<{ n: number }[]>`select count(*)::int as n from action_audit_events`;
    expect(after[0]?.n).toBe(before[0]?.n);
  });
});
