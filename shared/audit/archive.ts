import type { Sql, TransactionSql } from 'postgres';
import { LOCKS } from '../db/locks.js';
import type { Logger } from '../log/index.js';
import { type ArchiveStore, gunzip, gzip } from './archive-store.js';
import { type EventRow, eventHash, GENESIS_HASH } from './chain.js';
import { sha256Bytes } from './hash.js';

/**
 * Audit retention that keeps the proof. Events older than the retention move, oldest first, into
 * segment files (JSON Lines, gzip) in the archive store, each with a manifest; then, in one
 * transaction, `myca_archive_audit_segment` (migration 0008) re-checks the manifest against the rows,
 * records it as a checkpoint and deletes the events, with the rows of terminal actions whose every
 * event is in the segment (the segment holds those rows too). The chain then runs genesis →
 * checkpoints → the events left in Postgres, and still verifies end to end.
 *
 * Order and crashes: the segment is written first, then the transaction runs. A crash in between
 * leaves a segment with no checkpoint; the next run rebuilds the same range and reuses the file when
 * its bytes are the same, or replaces it, and deletes any other segment no checkpoint names. One run
 * at a time (an advisory lock); appends go on meanwhile (the chain lock is held only for the delete).
 *
 * A segment never reaches the events of an action that is not finished (pending, approved,
 * executing): it stops before the first of them, so no live action loses its history.
 */
export interface RetentionPolicy {
  /** Events older than this many days are archived; 0 turns archiving off. */
  eventsDays: number;
  /** At most this many events per segment. */
  segmentMaxEvents: number;
  /** At most this many segments per run (the next run goes on). */
  maxSegments?: number;
}

export interface SegmentManifest {
  format: 1;
  key: string;
  first_seq: number;
  last_seq: number;
  /** The hash before the first event: genesis or the previous checkpoint's last_hash. */
  prev_hash: string;
  last_hash: string;
  count: number;
  /** Action rows archived with the segment, and SHA-256 of their ids (sorted, comma-joined). */
  actions: number;
  actions_digest: string;
  /** SHA-256 and size of the gzip file as stored. */
  sha256: string;
  bytes: number;
  created_at: string;
}

export interface ArchiveResult {
  segments: number;
  events: number;
  actions: number;
  /** Segment files reused after a crash, and files no checkpoint names that were deleted. */
  reused: number;
  removed: number;
  /** Why the run stopped early (the chain does not verify, another run holds the lock). */
  stopped?: string;
  /** The longest checkpoint statement (it holds the chain lock, so appends wait up to this long). */
  max_checkpoint_ms: number;
}

export const SEGMENT_PREFIX = 'segments/';

export const segmentKey = (first: number, last: number) =>
  `${SEGMENT_PREFIX}${String(first).padStart(20, '0')}-${String(last).padStart(20, '0')}.jsonl.gz`;
export const manifestKey = (segment: string) => segment.replace(/\.jsonl\.gz$/, '.manifest.json');

/** One line of a segment: an event (the chain link, as stored) or an archived action row. */
export type SegmentLine =
  | ({ kind: 'event'; seq: number; created_at: string } & Omit<EventRow, 'seq' | 'created_at'>)
  | ({ kind: 'action'; id: string } & Record<string, unknown>);

/** SHA-256 of sorted ids joined by commas: what migration 0008 computes of the rows it deletes. */
export const actionsDigest = (ids: string[]) => sha256Bytes(new TextEncoder().encode([...ids].sort().join(',')));

/**
 * Runs the retention policy once: archives whole segments until nothing older than the policy is
 * left (or maxSegments). Safe to run from several instances at once (one proceeds).
 *
 * @example
 * await archiveAuditEvents({ sql, store: createDiskArchiveStore('.data/audit-archive'), policy: { eventsDays: 90, segmentMaxEvents: 10_000 } });
 */
export async function archiveAuditEvents(options: {
  sql: Sql;
  store: ArchiveStore;
  policy: RetentionPolicy;
  now?: number;
  logger?: Pick<Logger, 'info' | 'warn' | 'error'>;
  /** Test seam: runs after the segment is written, before the statement that checkpoints it (a throw is a crash there). */
  afterWrite?: (manifest: SegmentManifest) => Promise<void>;
}): Promise<ArchiveResult> {
  const { sql, store, policy, logger } = options;
  const result: ArchiveResult = { segments: 0, events: 0, actions: 0, reused: 0, removed: 0, max_checkpoint_ms: 0 };
  if (policy.eventsDays <= 0) return result;
  const cutoff = new Date((options.now ?? Date.now()) - policy.eventsDays * 86_400_000);
  for (let index = 0; index < (policy.maxSegments ?? 10); index++) {
    const outcome = await sql.begin(async (tx): Promise<{ stop: string } | { manifest: SegmentManifest; ms: number }> => {
      const [lock] = await tx<{ locked: boolean }[]>`select pg_try_advisory_xact_lock(${LOCKS.auditArchive}) as locked`;
      if (!lock?.locked) return { stop: 'another archive run holds the lock' };
      const segment = await readSegment(tx, cutoff, policy.segmentMaxEvents);
      if ('stop' in segment) return segment;
      const { lines, manifest: partial } = segment;
      const text = `${lines.map((line) => JSON.stringify(line)).join('\n')}\n`;
      const bytes = await gzip(new TextEncoder().encode(text));
      const key = segmentKey(partial.first_seq, partial.last_seq);
      // Left by a crash between the write and the checkpoint: the same bytes are reused, anything
      // else is replaced (the chain in Postgres decides what the segment holds).
      const existing = await store.get(key);
      let manifest: SegmentManifest;
      if (existing && (await holdsLines(existing, text))) {
        manifest = { ...partial, key, sha256: sha256Bytes(existing), bytes: existing.byteLength };
        result.reused++;
      } else {
        manifest = { ...partial, key, sha256: sha256Bytes(bytes), bytes: bytes.byteLength };
        await store.put(key, bytes);
      }
      await store.put(manifestKey(key), new TextEncoder().encode(`${JSON.stringify(manifest, null, 2)}\n`));
      await options.afterWrite?.(manifest);
      const started = performance.now();
      await tx`select myca_archive_audit_segment(${tx.json(manifest as never)})`;
      return { manifest, ms: performance.now() - started };
    });
    if ('stop' in outcome) {
      if (outcome.stop !== 'nothing to archive') {
        result.stopped = outcome.stop;
        if (outcome.stop.startsWith('the chain')) logger?.error('audit archive refused', { reason: outcome.stop });
      }
      break;
    }
    const { manifest } = outcome;
    result.max_checkpoint_ms = Math.max(result.max_checkpoint_ms, Math.round(outcome.ms));
    result.segments++;
    result.events += manifest.count;
    result.actions += manifest.actions;
    logger?.info('audit segment archived', {
      key: manifest.key,
      first_seq: manifest.first_seq,
      last_seq: manifest.last_seq,
      events: manifest.count,
      actions: manifest.actions,
      bytes: manifest.bytes,
      checkpoint_ms: Math.round(outcome.ms),
    });
  }
  result.removed = await removeOrphans(sql, store);
  return result;
}

/** A reused file must hold exactly the text this run would write (gzip output may differ in bytes). */
async function holdsLines(existing: Uint8Array, text: string): Promise<boolean> {
  try {
    return new TextDecoder().decode(await gunzip(existing)) === text;
  } catch {
    return false;
  }
}

type ReadOutcome = { stop: string } | { lines: SegmentLine[]; manifest: Omit<SegmentManifest, 'key' | 'sha256' | 'bytes'> };

/** The oldest events due for archiving, checked link by link, and the action rows that go with them. */
async function readSegment(tx: TransactionSql, cutoff: Date, max: number): Promise<ReadOutcome> {
  const [checkpoint] = await tx<{ last_hash: string }[]>`select last_hash from audit_checkpoints order by last_seq desc limit 1`;
  // One statement, one snapshot: an unfinished action's events are never visible without its row.
  const rows = await tx<EventRow[]>`
    with blocker as (
      select min(e.seq) as seq from action_audit_events e join action_audit_logs a on a.id = e.action_id
      where a.status not in ('rejected', 'expired', 'executed', 'failed', 'denied'))
    select seq, action_id, event, actor, correlation_id, data, created_at, prev_hash, hash from action_audit_events
    where seq < coalesce((select seq from blocker), 9223372036854775807)
    order by seq limit ${max}`;
  // Only a prefix of the chain can go: stop at the first event younger than the cutoff.
  const due = rows.findIndex((row) => row.created_at >= cutoff);
  const events = due === -1 ? rows : rows.slice(0, due);
  if (events.length === 0) return { stop: 'nothing to archive' };
  let prev = checkpoint?.last_hash ?? GENESIS_HASH;
  for (const row of events) {
    // Archiving a broken chain would bake the damage in: refuse, and let verify name the link.
    if (row.prev_hash !== prev || eventHash(prev, row) !== row.hash)
      return { stop: `the chain does not verify at seq ${row.seq}; run GET /v1/audit/verify` };
    prev = row.hash;
  }
  const first = events[0] as EventRow;
  const last = events[events.length - 1] as EventRow;
  const actionRows = await tx<Record<string, unknown>[]>`
    select * from action_audit_logs a
    where a.id in (select action_id from action_audit_events where seq between ${first.seq} and ${last.seq})
      and a.status in ('rejected', 'expired', 'executed', 'failed', 'denied')
      and not exists (select 1 from action_audit_events e where e.action_id = a.id and e.seq > ${last.seq})
    order by a.id::text`;
  const lines: SegmentLine[] = [
    ...events.map((row): SegmentLine => ({ kind: 'event', ...row, seq: Number(row.seq), created_at: row.created_at.toISOString() })),
    ...actionRows.map((row): SegmentLine => ({ kind: 'action', ...(row as { id: string }) })),
  ];
  return {
    lines,
    manifest: {
      format: 1,
      first_seq: Number(first.seq),
      last_seq: Number(last.seq),
      prev_hash: first.prev_hash,
      last_hash: last.hash,
      count: events.length,
      actions: actionRows.length,
      actions_digest: actionsDigest(actionRows.map((row) => String(row.id))),
      created_at: new Date().toISOString(),
    },
  };
}

/** Deletes segment files (and manifests) that no checkpoint names: what crashed runs left. */
async function removeOrphans(sql: Sql, store: ArchiveStore): Promise<number> {
  return sql.begin(async (tx) => {
    const [lock] = await tx<{ locked: boolean }[]>`select pg_try_advisory_xact_lock(${LOCKS.auditArchive}) as locked`;
    if (!lock?.locked) return 0;
    const named = new Set((await tx<{ segment_key: string }[]>`select segment_key from audit_checkpoints`).map((row) => row.segment_key));
    let removed = 0;
    for (const key of await store.list(SEGMENT_PREFIX)) {
      const segment = key.endsWith('.manifest.json') ? key.replace(/\.manifest\.json$/, '.jsonl.gz') : key;
      if (!segment.endsWith('.jsonl.gz') || named.has(segment)) continue;
      await store.delete(key);
      if (key === segment) removed++;
    }
    return removed;
  });
}
