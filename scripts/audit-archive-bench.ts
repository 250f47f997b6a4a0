/**
 * What archiving costs: 4,000 executed actions (16,000 events) recorded 40 days ago in a scratch
 * database (created on TEST_DATABASE_URL's server, dropped afterwards), archived with a 30-day
 * retention into 10,000-event segments, then re-verified. Prints one JSON line.
 *
 *   npx tsx scripts/audit-archive-bench.ts
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import postgres from 'postgres';
import { archiveAuditEvents } from '../shared/audit/archive.js';
import { createDiskArchiveStore } from '../shared/audit/archive-disk.js';
import { verifyArchive } from '../shared/audit/archive-verify.js';
import { prepareEvents } from '../shared/audit/chain.js';
import { migrate, readMigrations } from '../shared/db/migrate.js';
import { ROOT_DIR } from '../shared/runtime/node-config.js';

const server = new URL(process.env.TEST_DATABASE_URL ?? 'postgres://root@127.0.0.1:5432/test');
const name = `myca_bench_${Date.now()}`;
const admin = postgres(server.toString(), { max: 1, onnotice: () => {} });
await admin.unsafe(`create database ${name}`);
server.pathname = `/${name}`;
const sql = postgres(server.toString(), { max: 2, onnotice: () => {} });
try {
  await migrate(sql, await readMigrations(join(ROOT_DIR, 'migrations')));
  const actions = 4000;
  for (let b = 0; b < actions / 200; b++) {
    await sql.begin(async (tx) => {
      const rows = Array.from({ length: 200 }, () => crypto.randomUUID());
      await tx`insert into action_audit_logs ${tx(rows.map((id) => ({ id, correlation_id: 'c', agent_id: 'planner', requested_by: 'planner', action_type: 'db.query', action_category: 'read', inputs: { query: 'audit_counts_by_status' }, status: 'executed', approval_required: false, digest: 'd', policy_version: 'v1', policy_rule: 'r' })))}`;
      const events = prepareEvents(
        rows.flatMap((id) => [
          {
            actionId: id,
            event: 'requested' as const,
            actor: 'planner',
            correlationId: 'c',
            data: { type: 'db.query', agent_id: 'planner', input: { query: 'audit_counts_by_status' } },
          },
          {
            actionId: id,
            event: 'decided' as const,
            actor: 'policy',
            correlationId: 'c',
            data: { digest: 'd', rule: 'r', outcome: 'allow' },
          },
          { actionId: id, event: 'executing' as const, actor: 'planner', correlationId: 'c', data: {} },
          {
            actionId: id,
            event: 'executed' as const,
            actor: 'planner',
            correlationId: 'c',
            data: { duration_ms: 3, output: { rows: [{ status: 'executed', n: 12 }] } },
          },
        ]),
        Date.now() - 40 * 86400000,
      );
      await tx`select myca_append_audit_events(${tx.json(events as never)})`;
    });
  }
  const folder = await mkdtemp(join(tmpdir(), 'bench-archive-'));
  const store = createDiskArchiveStore(folder);
  let t = performance.now();
  const result = await archiveAuditEvents({ sql, store, policy: { eventsDays: 30, segmentMaxEvents: 10000, maxSegments: 100 } });
  const archiveMs = performance.now() - t;
  const [cp] = await sql`select sum(segment_bytes)::int as bytes from audit_checkpoints`;
  t = performance.now();
  const verified = await verifyArchive(sql, store);
  const verifyMs = performance.now() - t;
  console.log(
    JSON.stringify({
      ...result,
      archive_ms: Math.round(archiveMs),
      gzip_bytes: cp?.bytes,
      bytes_per_event: Math.round((cp?.bytes as number) / result.events),
      verify_ok: verified.ok,
      verify_ms: Math.round(verifyMs),
    }),
  );
  await rm(folder, { recursive: true, force: true });
} finally {
  await sql.end();
  await admin.unsafe(`drop database ${name} with (force)`);
  await admin.end();
}
