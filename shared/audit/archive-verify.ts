import type { Sql } from 'postgres';
import { actionsDigest, type SegmentLine, type SegmentManifest } from './archive.js';
import { type ArchiveStore, gunzip } from './archive-store.js';
import { eventHash, GENESIS_HASH, type VerifyResult, verifyChain } from './chain.js';
import { sha256Bytes } from './hash.js';

export interface ArchiveVerifyResult {
  ok: boolean;
  segments: number;
  /** Events verified in the segments, then in Postgres. */
  archived_events: number;
  events: number;
  broken?: { segment?: string; seq?: number; reason: string };
  head?: string;
}

interface CheckpointRow {
  id: string;
  first_seq: string;
  last_seq: string;
  prev_hash: string;
  last_hash: string;
  events: number;
  actions: number;
  segment_key: string;
  segment_sha256: string;
  manifest: SegmentManifest;
}

/**
 * `npm run audit:verify-archive`: re-verifies the whole chain, end to end. For each checkpoint, in
 * order: it continues the one before; its segment exists, has the recorded checksum, and its events
 * link from the checkpoint's prev_hash to its last_hash, with the recorded count, first and last
 * seq and archived action rows. Then the events in Postgres continue the latest checkpoint
 * (verifyChain). An edited, missing, swapped or reordered segment names itself.
 */
export async function verifyArchive(sql: Sql, store: ArchiveStore): Promise<ArchiveVerifyResult> {
  const checkpoints = await sql<CheckpointRow[]>`
    select id, first_seq, last_seq, prev_hash, last_hash, events, actions, segment_key, segment_sha256, manifest
    from audit_checkpoints order by last_seq`;
  let prev = GENESIS_HASH;
  let archived = 0;
  const fail = (reason: string, segment?: string, seq?: number): ArchiveVerifyResult => ({
    ok: false,
    segments: checkpoints.length,
    archived_events: archived,
    events: 0,
    broken: { ...(segment ? { segment } : {}), ...(seq !== undefined ? { seq } : {}), reason },
  });
  for (const checkpoint of checkpoints) {
    const key = checkpoint.segment_key;
    if (checkpoint.prev_hash !== prev) return fail('the checkpoint does not continue the one before it', key, Number(checkpoint.first_seq));
    const bytes = await store.get(key);
    if (!bytes) return fail('the segment is missing from the archive store', key);
    if (sha256Bytes(bytes) !== checkpoint.segment_sha256)
      return fail('the segment does not have its recorded checksum (it was edited or replaced)', key);
    let lines: SegmentLine[];
    try {
      const text = new TextDecoder().decode(await gunzip(bytes));
      lines = text
        .split('\n')
        .filter((line) => line.length > 0)
        .map((line) => JSON.parse(line) as SegmentLine);
    } catch (error) {
      return fail(`the segment is not gzip JSON Lines (${(error as Error).message})`, key);
    }
    let count = 0;
    let lastSeq = 0;
    let first: number | undefined;
    const actionIds: string[] = [];
    for (const line of lines) {
      if (line.kind === 'action') {
        actionIds.push(String(line.id));
        continue;
      }
      const seq = Number(line.seq);
      first ??= seq;
      if (line.prev_hash !== prev || seq <= lastSeq)
        return fail('an event does not link to the one before it (events were removed, added or reordered)', key, seq);
      if (eventHash(prev, { ...line, created_at: new Date(line.created_at) }) !== line.hash)
        return fail('an event does not match its hash (it was edited)', key, seq);
      prev = line.hash;
      lastSeq = seq;
      count++;
    }
    if (
      count !== checkpoint.events ||
      first !== Number(checkpoint.first_seq) ||
      lastSeq !== Number(checkpoint.last_seq) ||
      prev !== checkpoint.last_hash
    )
      return fail('the segment does not hold the events its checkpoint records (count, first or last seq, last hash)', key);
    if (actionIds.length !== checkpoint.actions || actionsDigest(actionIds) !== checkpoint.manifest.actions_digest)
      return fail('the segment does not hold the action rows its checkpoint records', key);
    archived += count;
  }
  const live: VerifyResult = await verifyChain(sql);
  if (!live.ok)
    return {
      ...fail(live.broken?.reason ?? 'the chain in Postgres does not verify', undefined, live.broken?.seq),
      archived_events: archived,
    };
  return {
    ok: true,
    segments: checkpoints.length,
    archived_events: archived,
    events: live.events,
    ...(live.head ? { head: live.head } : {}),
  };
}

/** One line for a person: what verified, or where and why it did not. */
export function archiveVerifyResultText(result: ArchiveVerifyResult): string {
  if (result.ok)
    return `audit archive verified: ${result.segments} segments (${result.archived_events} events) and ${result.events} events in Postgres; head ${result.head ?? 'none'}`;
  const where = [result.broken?.segment, result.broken?.seq !== undefined ? `seq ${result.broken.seq}` : undefined]
    .filter(Boolean)
    .join(', ');
  return `audit archive broken${where ? ` at ${where}` : ''}: ${result.broken?.reason ?? 'unknown'}`;
}
