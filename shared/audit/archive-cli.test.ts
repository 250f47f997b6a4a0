import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migratedDatabase } from '../../test/support/actions.js';
import type { TestDatabase } from '../../test/support/databases.js';
import { ROOT_DIR } from '../runtime/node-config.js';
import { prepareEvents } from './chain.js';

/** `npm run audit:archive` and `npm run audit:verify-archive`, as an operator runs them. */
describe('audit:archive and audit:verify-archive (scripts/audit-archive.ts)', () => {
  let database: TestDatabase;
  let sql: postgres.Sql;
  let folder: string;
  beforeAll(async () => {
    database = await migratedDatabase();
    sql = postgres(database.url, { max: 1, onnotice: () => {} });
    folder = await mkdtemp(join(tmpdir(), 'audit-cli-'));
  });
  afterAll(async () => {
    await sql?.end();
    await database?.drop();
    await rm(folder, { recursive: true, force: true });
  });
  const run = (args: string[]) =>
    new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
      execFile(
        join(ROOT_DIR, 'node_modules', '.bin', 'tsx'),
        ['scripts/audit-archive.ts', ...args],
        {
          cwd: ROOT_DIR,
          env: {
            PATH: process.env.PATH,
            MYCA_ENV: 'test',
            LOG_LEVEL: 'warn',
            DATABASE_URL: database.url,
            AUDIT_RETENTION_DAYS: '30',
            AUDIT_ARCHIVE_DIR: folder,
          },
        },
        (error, stdout, stderr) => resolve({ code: error ? Number(error.code ?? 1) : 0, stdout, stderr }),
      );
    });

  it('archives events past the retention, verifies the archive, and exits 1 on a tampered segment', async () => {
    const id = randomUUID();
    await sql.begin(async (tx) => {
      await tx`insert into action_audit_logs (id, correlation_id, agent_id, requested_by, action_type, action_category, inputs, status,
                 approval_required, digest, policy_version, policy_rule)
               values (${id}, 'c', 'planner', 'planner', 'file.write', 'write', '{}', 'denied', false, 'd', 'v1', 'deny-all')`;
      const events = prepareEvents(
        [
          { actionId: id, event: 'requested', actor: 'planner', correlationId: 'c', data: { type: 'file.write', agent_id: 'planner' } },
          { actionId: id, event: 'denied', actor: 'policy', correlationId: 'c', data: { rule: 'deny-all' } },
        ],
        Date.now() - 40 * 86_400_000,
      );
      await tx`select myca_append_audit_events(${tx.json(events as never)})`;
    });
    const archived = await run([]);
    expect(archived).toMatchObject({ code: 0, stdout: expect.stringContaining('archived 2 events and 1 action rows in 1 segments') });
    const verified = await run(['--verify']);
    expect(verified).toMatchObject({ code: 0, stdout: expect.stringContaining('1 segments (2 events)') });

    const [segment] = (await readdir(join(folder, 'segments'))).filter((name) => name.endsWith('.jsonl.gz'));
    await writeFile(join(folder, 'segments', segment as string), 'edited');
    const broken = await run(['--verify']);
    expect(broken).toMatchObject({ code: 1, stdout: expect.stringContaining('checksum') });
  });
});
