import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type EmbeddedPostgres, startEmbeddedPostgres } from './embedded-postgres.js';

describe('the embedded Postgres (PGlite) shared by several clients', () => {
  const dir = mkdtempSync(join(tmpdir(), 'myca-pglite-'));
  let pg: EmbeddedPostgres;
  const client = () => postgres(pg.url, { max: 1, fetch_types: false, onnotice: () => {}, connect_timeout: 5 });
  beforeAll(async () => {
    pg = await startEmbeddedPostgres({ dataDir: dir, port: 0 });
  }, 60_000);
  afterAll(async () => {
    await pg?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('serves the next client after one that prepared statements and left (its statements are dropped)', async () => {
    const first = client();
    expect(await first`select ${1}::int as one`).toEqual([{ one: 1 }]);
    await first.begin(async (tx) => tx`select ${2}::int as two`);
    await first.end();
    const second = client();
    expect(await second`select count(*)::int as n from pg_prepared_statements`).toEqual([{ n: 1 }]); // only its own
    await second.end();
  });

  it('rolls back the open transaction of a client that vanished, and serves the others meanwhile', async () => {
    const setup = client();
    await setup.unsafe('create table if not exists t (v int)');
    await setup.end();
    const leaving = client();
    const waiting = leaving.begin(async (tx) => {
      await tx`insert into t values (1)`;
      await leaving.end({ timeout: 0 });
    });
    await expect(waiting).rejects.toThrow();
    const other = client();
    expect(await other`select count(*)::int as n from t`).toEqual([{ n: 0 }]);
    await other.end();
  });
});
