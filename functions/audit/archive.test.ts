import { randomUUID } from 'node:crypto';
import { Miniflare } from 'miniflare';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { archiveAuditEvents } from '../../shared/audit/archive.js';
import { createR2ArchiveStore, type R2ArchiveBucket } from '../../shared/audit/archive-store.js';
import { verifyArchive } from '../../shared/audit/archive-verify.js';
import { prepareEvents } from '../../shared/audit/chain.js';
import { apiKeys, headers, keys, migratedDatabase } from '../../test/support/actions.js';
import type { TestDatabase } from '../../test/support/databases.js';

const DAY = 86_400_000;

/**
 * Retention on workerd: the Cron Trigger archives events past AUDIT_RETENTION_DAYS into the
 * AUDIT_ARCHIVE R2 bucket (gzip by CompressionStream in workerd), and GET /v1/audit/verify then
 * starts from the checkpoint; Node re-verifies the segments the worker wrote.
 */
describe('audit retention on workerd (Cron Trigger, R2)', () => {
  let database: TestDatabase;
  let sql: postgres.Sql;
  let mf: Miniflare;
  beforeAll(async () => {
    database = await migratedDatabase();
    sql = postgres(database.url, { max: 2, onnotice: () => {} });
    mf = new Miniflare({
      scriptPath: inject('workerScript'),
      modules: true,
      modulesRules: [{ type: 'Text', include: ['**/*.yaml'] }],
      compatibilityDate: '2026-04-01',
      compatibilityFlags: ['nodejs_compat'],
      cf: false,
      bindings: {
        MYCA_ENV: 'test',
        DATABASE_URL: database.url,
        MYCA_API_KEYS: apiKeys,
        AUDIT_RETENTION_DAYS: '1',
        AUDIT_SEGMENT_MAX_EVENTS: '3',
        AUDIT_ARCHIVE_INTERVAL_S: '60',
      },
      r2Buckets: ['FILES', 'AUDIT_ARCHIVE'],
    });
    await mf.ready;
  });
  afterAll(async () => {
    await mf?.dispose();
    await sql?.end();
    await database?.drop();
  });

  /** A rejected action recorded `ageDays` ago: its row and its three events. */
  const oldAction = async (ageDays: number) => {
    const id = randomUUID();
    await sql.begin(async (tx) => {
      await tx`insert into action_audit_logs (id, correlation_id, agent_id, requested_by, action_type, action_category, inputs, status,
                 approval_required, digest, policy_version, policy_rule)
               values (${id}, 'c', 'planner', 'planner', 'file.write', 'write', '{}', 'rejected', true, 'd', 'v1', 'r')`;
      const events = prepareEvents(
        [
          { actionId: id, event: 'requested', actor: 'planner', correlationId: 'c', data: { type: 'file.write', agent_id: 'planner' } },
          { actionId: id, event: 'decided', actor: 'policy', correlationId: 'c', data: { digest: 'd', rule: 'r' } },
          { actionId: id, event: 'rejected', actor: 'alice', correlationId: 'c', data: { reason: 'no' } },
        ],
        Date.now() - ageDays * DAY,
      );
      await tx`select myca_append_audit_events(${tx.json(events as never)})`;
    });
  };
  const verify = async () => {
    const response = await mf.dispatchFetch('http://localhost/v1/audit/verify', { headers: headers(keys.admin) });
    return { status: response.status, body: (await response.json()) as Record<string, unknown> };
  };

  it('archives on the Cron Trigger, and both verifications hold from the checkpoints', async () => {
    await oldAction(3);
    await oldAction(3);
    await oldAction(0);
    const bucket = (await mf.getR2Bucket('AUDIT_ARCHIVE')) as unknown as R2ArchiveBucket;
    // A minute the interval (60 s) names: every minute.
    await (await mf.getWorker()).scheduled({ cron: '* * * * *', scheduledTime: new Date() });
    const checkpoints = await sql`select first_seq, last_seq, events, actions from audit_checkpoints order by last_seq`;
    expect(checkpoints.map((row) => [Number(row.first_seq), Number(row.last_seq), row.events])).toEqual([
      [1, 3, 3],
      [4, 6, 3],
    ]);
    expect((await bucket.list({ prefix: 'segments/' })).objects.map((object) => object.key)).toHaveLength(4);
    expect(Number((await sql`select count(*)::int as n from action_audit_events`)[0]?.n)).toBe(3);

    const result = await verify();
    expect(result).toMatchObject({
      status: 200,
      body: { ok: true, events: 3, checkpoint: { last_seq: 6, archived_events: 6, segments: 2 } },
    });
    expect(await verifyArchive(sql, createR2ArchiveStore(bucket))).toMatchObject({ ok: true, archived_events: 6, events: 3 });

    // A segment edited in the bucket is named; the live chain still verifies on its own.
    const store = createR2ArchiveStore(bucket);
    const key = (await store.list('segments/')).find((name) => name.endsWith('.jsonl.gz')) as string;
    await store.put(key, new TextEncoder().encode('not gzip'));
    expect(await verifyArchive(sql, store)).toMatchObject({ ok: false, broken: { segment: key } });
  });

  it('Node archives what is left; the worker verifies from the newest checkpoint', async () => {
    const bucket = (await mf.getR2Bucket('AUDIT_ARCHIVE')) as unknown as R2ArchiveBucket;
    const result = await archiveAuditEvents({
      sql,
      store: createR2ArchiveStore(bucket),
      policy: { eventsDays: 1, segmentMaxEvents: 10 },
      now: Date.now() + 2 * DAY,
    });
    expect(result).toMatchObject({ segments: 1, events: 3, actions: 1 });
    expect(await verify()).toMatchObject({ status: 200, body: { ok: true, events: 0, checkpoint: { last_seq: 9, archived_events: 9 } } });
  });
});
