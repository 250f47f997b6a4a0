import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import postgres from 'postgres';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { migratedDatabase } from '../../test/support/actions.js';
import type { TestDatabase } from '../../test/support/databases.js';
import { archiveAuditEvents, manifestKey, type RetentionPolicy, SEGMENT_PREFIX } from './archive.js';
import { createDiskArchiveStore } from './archive-disk.js';
import { type ArchiveStore, gunzip, gzip } from './archive-store.js';
import { archiveVerifyResultText, verifyArchive } from './archive-verify.js';
import { appendEvents, verifyChain } from './chain.js';
import { sha256Bytes } from './hash.js';

const DAY = 86_400_000;
/** Everything recorded so far is older than the policy's cutoff. */
const later = () => Date.now() + 2 * DAY;
const policy: RetentionPolicy = { eventsDays: 1, segmentMaxEvents: 5 };

describe('audit retention: archived, checkpointed segments (real Postgres)', () => {
  let database: TestDatabase;
  let sql: postgres.Sql;
  let folder: string;
  let store: ArchiveStore;

  beforeAll(async () => {
    database = await migratedDatabase();
    sql = postgres(database.url, { max: 4, onnotice: () => {} });
  });
  afterAll(async () => {
    await sql?.end();
    await database?.drop();
  });
  beforeEach(async () => {
    // Each test starts from an empty chain: superuser only (the guards refuse this).
    await sql.begin(async (tx) => {
      await tx`set local session_replication_role = replica`;
      await tx`truncate action_audit_events, action_audit_logs, audit_checkpoints restart identity cascade`;
    });
    folder = await mkdtemp(join(tmpdir(), 'audit-archive-'));
    store = createDiskArchiveStore(folder);
    return () => rm(folder, { recursive: true, force: true });
  });

  /** An action as the action store records it: its row and its events, in one transaction. */
  const action = async (status: 'executed' | 'rejected' | 'pending' | 'approved') => {
    const id = randomUUID();
    await sql.begin(async (tx) => {
      await tx`insert into action_audit_logs (id, correlation_id, agent_id, requested_by, action_type, action_category, inputs, status,
                 approval_required, digest, policy_version, policy_rule)
               values (${id}, 'c', 'planner', 'planner', 'file.write', 'write', '{}', ${status}, true, 'd', 'v1', 'r')`;
      const events = [
        {
          actionId: id,
          event: 'requested' as const,
          actor: 'planner',
          correlationId: 'c',
          data: { type: 'file.write', agent_id: 'planner' },
        },
        { actionId: id, event: 'decided' as const, actor: 'policy', correlationId: 'c', data: { digest: 'd', rule: 'r' } },
      ];
      if (status === 'executed')
        events.push(
          { actionId: id, event: 'approved' as never, actor: 'alice', correlationId: 'c', data: {} as never },
          { actionId: id, event: 'executing' as never, actor: 'planner', correlationId: 'c', data: {} as never },
          { actionId: id, event: 'executed' as never, actor: 'planner', correlationId: 'c', data: {} as never },
        );
      if (status === 'rejected')
        events.push({ actionId: id, event: 'rejected' as never, actor: 'alice', correlationId: 'c', data: {} as never });
      if (status === 'approved')
        events.push({ actionId: id, event: 'approved' as never, actor: 'alice', correlationId: 'c', data: {} as never });
      await appendEvents(tx, events);
    });
    return id;
  };
  const count = async (table: string) => Number((await sql`select count(*)::int as n from ${sql(table)}`)[0]?.n);
  const segments = async () => (await store.list(SEGMENT_PREFIX)).filter((key) => key.endsWith('.jsonl.gz'));

  it('moves old events into segments with checkpoints; both verifications hold; the chain goes on from the checkpoint', async () => {
    for (let i = 0; i < 4; i++) await action(i % 2 ? 'rejected' : 'executed');
    const before = await count('action_audit_events');
    expect(before).toBe(16);

    const result = await archiveAuditEvents({ sql, store, policy, now: later() });
    expect(result).toMatchObject({ events: 16, actions: 4 });
    expect(result.stopped).toBeUndefined();
    expect(await count('action_audit_events')).toBe(0);
    expect(await count('action_audit_logs')).toBe(0);
    expect(await segments()).toHaveLength(result.segments);
    const checkpoints = await sql`select first_seq, last_seq, events, segment_key, manifest from audit_checkpoints order by last_seq`;
    expect(checkpoints).toHaveLength(result.segments);
    // Each manifest names its range, the hash before and after, the count and the file's checksum.
    const [first] = checkpoints;
    const file = (await store.get(first?.segment_key)) as Uint8Array;
    expect(first?.manifest).toMatchObject({ first_seq: 1, prev_hash: '0'.repeat(64), sha256: sha256Bytes(file), bytes: file.byteLength });
    expect(JSON.parse(new TextDecoder().decode((await store.get(manifestKey(first?.segment_key))) as Uint8Array))).toMatchObject({
      sha256: sha256Bytes(file),
    });

    expect(await verifyChain(sql)).toMatchObject({ ok: true, events: 0, checkpoint: { last_seq: 16, archived_events: 16 } });
    expect(await verifyArchive(sql, store)).toMatchObject({ ok: true, archived_events: 16, events: 0 });

    // New events link to the latest checkpoint, not to genesis.
    await action('executed');
    expect(await verifyChain(sql)).toMatchObject({ ok: true, events: 5 });
    expect(await verifyArchive(sql, store)).toMatchObject({ ok: true, archived_events: 16, events: 5 });
  });

  it('keeps the history of unfinished actions and everything after it; a finished action split across the cut keeps its row', async () => {
    const split = await action('executed');
    const held = await action('pending');
    await action('executed');
    // One segment of 3: the first action's row stays with its 2 newest events, and still agrees with them.
    const first = await archiveAuditEvents({ sql, store, policy: { eventsDays: 1, segmentMaxEvents: 3, maxSegments: 1 }, now: later() });
    expect(first).toMatchObject({ segments: 1, events: 3, actions: 0 });
    expect((await sql`select id from action_audit_logs`).map((row) => row.id)).toContain(split);
    expect(await verifyChain(sql)).toMatchObject({ ok: true, events: 9 });
    // A transition made without its event is still caught on such a row.
    await sql.begin(async (tx) => {
      await tx`set local session_replication_role = replica`;
      await tx`update action_audit_logs set status = 'failed' where id = ${split}`;
    });
    expect(await verifyChain(sql)).toMatchObject({ ok: false, broken: { action_id: split } });
    await sql.begin(async (tx) => {
      await tx`set local session_replication_role = replica`;
      await tx`update action_audit_logs set status = 'executed' where id = ${split}`;
    });
    // Then only the 2 events left before the held action's first.
    const result = await archiveAuditEvents({ sql, store, policy: { eventsDays: 1, segmentMaxEvents: 3 }, now: later() });
    expect(result).toMatchObject({ segments: 1, events: 2, actions: 1 });
    expect((await sql`select id from action_audit_logs`).map((row) => row.id)).toContain(held);
    expect(await count('action_audit_logs')).toBe(2);
    expect(await verifyChain(sql)).toMatchObject({ ok: true, events: 7 });
    expect(await verifyArchive(sql, store)).toMatchObject({ ok: true, archived_events: 5 });

    // Nothing younger than the policy goes.
    await sql.begin(async (tx) => {
      await tx`set local session_replication_role = replica`;
      await tx`update action_audit_logs set status = 'rejected' where id = ${held}`;
    });
    expect(await archiveAuditEvents({ sql, store, policy: { eventsDays: 1, segmentMaxEvents: 3 } })).toMatchObject({ segments: 0 });
  });

  it('archives under concurrent writes without losing or breaking a link', async () => {
    for (let i = 0; i < 10; i++) await action('executed');
    let writing = true;
    let written = 0;
    const writer = (async () => {
      while (writing) {
        await action('rejected');
        written++;
      }
    })();
    const runs = await Promise.all([
      archiveAuditEvents({ sql, store, policy: { eventsDays: 1, segmentMaxEvents: 7, maxSegments: 100 }, now: later() }),
      archiveAuditEvents({ sql, store, policy: { eventsDays: 1, segmentMaxEvents: 7, maxSegments: 100 }, now: later() }),
    ]);
    writing = false;
    await writer;
    const archived = runs.reduce((sum, run) => sum + run.events, 0);
    expect(archived).toBeGreaterThanOrEqual(50);
    expect(archived + (await count('action_audit_events'))).toBe(50 + written * 3);
    expect(await verifyChain(sql)).toMatchObject({ ok: true });
    expect(await verifyArchive(sql, store)).toMatchObject({ ok: true, archived_events: archived });
  });

  it('a crash between the segment write and the delete leaves a segment without checkpoint, which the next run reuses or replaces', async () => {
    for (let i = 0; i < 3; i++) await action('executed');
    const crash = async () => {
      throw new Error('killed');
    };
    await expect(
      archiveAuditEvents({ sql, store, policy: { eventsDays: 1, segmentMaxEvents: 8 }, now: later(), afterWrite: crash }),
    ).rejects.toThrow('killed');
    expect(await count('action_audit_events')).toBe(15);
    expect(await count('audit_checkpoints')).toBe(0);
    const [orphan] = await segments();
    expect(orphan).toBeDefined();
    expect(await verifyChain(sql)).toMatchObject({ ok: true, events: 15 });

    // The same range: the file is reused.
    const again = await archiveAuditEvents({ sql, store, policy: { eventsDays: 1, segmentMaxEvents: 8, maxSegments: 1 }, now: later() });
    expect(again).toMatchObject({ segments: 1, events: 8, reused: 1 });

    // Another crash, then a run that cuts differently: the stale file is replaced and removed.
    await expect(
      archiveAuditEvents({ sql, store, policy: { eventsDays: 1, segmentMaxEvents: 2 }, now: later(), afterWrite: crash }),
    ).rejects.toThrow('killed');
    expect(await segments()).toHaveLength(2);
    const last = await archiveAuditEvents({ sql, store, policy: { eventsDays: 1, segmentMaxEvents: 4, maxSegments: 1 }, now: later() });
    expect(last).toMatchObject({ segments: 1, events: 4, removed: 1 });
    expect(await segments()).toHaveLength(2);
    expect(await verifyArchive(sql, store)).toMatchObject({ ok: true, archived_events: 12 });
  });

  it('the guards allow only the archive function, and it refuses a manifest the rows do not match', async () => {
    await action('executed');
    await expect(sql`delete from action_audit_events`).rejects.toThrow(/append-only/);
    await expect(sql`insert into audit_checkpoints (first_seq, last_seq, prev_hash, last_hash, events, actions, segment_key, segment_sha256, segment_bytes, manifest)
                     values (1, 4, ${'0'.repeat(64)}, 'x', 4, 1, 'k', 's', 1, '{}')`).rejects.toThrow(/only by myca_archive_audit_segment/);
    // A session that turns the archive flag on itself still cannot delete what no checkpoint covers.
    await expect(
      sql.begin(async (tx) => {
        await tx`select set_config('myca.audit_archiving', 'on', true)`;
        await tx`delete from action_audit_events`;
      }),
    ).rejects.toThrow(/append-only/);
    const [last] = await sql`select hash from action_audit_events order by seq desc limit 1`;
    await expect(
      sql`select myca_archive_audit_segment(${sql.json({ first_seq: 1, last_seq: 5, count: 4, prev_hash: '0'.repeat(64), last_hash: last?.hash, actions_digest: '' })})`,
    ).rejects.toThrow(/stale manifest/);
    expect(await count('action_audit_events')).toBe(5);
  });

  describe('verify-archive catches tampered segments', () => {
    const archived = async () => {
      for (let i = 0; i < 3; i++) await action('executed');
      await archiveAuditEvents({ sql, store, policy: { eventsDays: 1, segmentMaxEvents: 4 }, now: later() });
      await action('executed');
      const [checkpoint] = await sql`select id, segment_key from audit_checkpoints order by last_seq limit 1 offset 1`;
      return { id: checkpoint?.id as string, key: checkpoint?.segment_key as string };
    };
    const lines = async (key: string) =>
      new TextDecoder()
        .decode(await gunzip((await store.get(key)) as Uint8Array))
        .trimEnd()
        .split('\n');
    /** Writes new content and, as a superuser could, the checkpoint's checksum to match. */
    const rewrite = async (segment: { id: string; key: string }, text: string[], fixChecksum: boolean) => {
      const bytes = await gzip(new TextEncoder().encode(`${text.join('\n')}\n`));
      await store.put(segment.key, bytes);
      if (fixChecksum)
        await sql.begin(async (tx) => {
          await tx`set local session_replication_role = replica`;
          await tx`update audit_checkpoints set segment_sha256 = ${sha256Bytes(bytes)} where id = ${segment.id}`;
        });
    };

    it('an edited event: the checksum, and with the checksum forged, the event hash', async () => {
      const segment = await archived();
      expect(await verifyArchive(sql, store)).toMatchObject({ ok: true });
      const text = await lines(segment.key);
      text[2] = (text[2] as string).replace('"actor":"policy"', '"actor":"mallory"');
      await rewrite(segment, text, false);
      expect(await verifyArchive(sql, store)).toMatchObject({
        ok: false,
        broken: { segment: segment.key, reason: expect.stringContaining('checksum') },
      });
      await rewrite(segment, text, true);
      const result = await verifyArchive(sql, store);
      expect(result).toMatchObject({ ok: false, broken: { segment: segment.key, seq: 7, reason: expect.stringContaining('edited') } });
      expect(archiveVerifyResultText(result)).toContain(segment.key);
    });

    it('a missing segment', async () => {
      const segment = await archived();
      await store.delete(segment.key);
      expect(await verifyArchive(sql, store)).toMatchObject({
        ok: false,
        broken: { segment: segment.key, reason: expect.stringContaining('missing') },
      });
    });

    it('reordered events and swapped segments', async () => {
      const segment = await archived();
      const original = await store.get(segment.key);
      const text = await lines(segment.key);
      [text[0], text[1]] = [text[1] as string, text[0] as string];
      await rewrite(segment, text, true);
      expect(await verifyArchive(sql, store)).toMatchObject({
        ok: false,
        broken: { segment: segment.key, reason: expect.stringContaining('reordered') },
      });

      await store.put(segment.key, original as Uint8Array);
      const [first] = await sql`select segment_key from audit_checkpoints order by last_seq limit 1`;
      const other = (await store.get(first?.segment_key)) as Uint8Array;
      await store.put(first?.segment_key, original as Uint8Array);
      await store.put(segment.key, other);
      expect(await verifyArchive(sql, store)).toMatchObject({ ok: false, broken: { segment: first?.segment_key } });
    });

    it('GET /v1/audit/verify (verifyChain) catches a deleted checkpoint and events that no longer continue the checkpoints', async () => {
      await archived();
      expect(await verifyChain(sql)).toMatchObject({ ok: true, events: 5 });
      await sql.begin(async (tx) => {
        await tx`set local session_replication_role = replica`;
        await tx`delete from audit_checkpoints where id = (select id from audit_checkpoints order by last_seq limit 1)`;
      });
      expect(await verifyChain(sql)).toMatchObject({
        ok: false,
        broken: { reason: expect.stringContaining('checkpoint does not continue') },
      });
    });
  });
});
