import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migratedDatabase } from '../../test/support/actions.js';
import type { TestDatabase } from '../../test/support/databases.js';
import type { Config } from '../config/index.js';
import { createDatabase, type Database } from '../db/index.js';
import { createLogger } from '../log/index.js';
import type { Metrics } from '../telemetry/metrics.js';
import { type SpendRow, SpendWriter } from './spend.js';

// An outside review's case: one row Postgres refused poisoned its whole batch, and the batch went back
// to the buffer to be retried for ever: every other key's rows behind it were never written (then
// dropped once the buffer was full). A provider's usage of 3e9 prompt tokens (> integer) or a NUL in a
// text field did it.

const row = (n: number, extra: Partial<SpendRow> = {}): SpendRow => ({
  at: new Date(),
  kind: 'embedding',
  key_id: 'vk_00000000000000000000beef',
  agent: null,
  run_id: null,
  correlation_id: `review2-${n}`,
  task: 'embedding',
  provider: 'openai',
  model: 'text-embedding-3-small',
  prompt_tokens: 5,
  completion_tokens: 0,
  cost_usd: 0.0000001,
  latency_ms: 12,
  status: 'ok',
  attempts: 1,
  stream: false,
  ...extra,
});

describe('spend rows Postgres would refuse (real Postgres)', () => {
  let database: TestDatabase;
  let db: Database;
  let direct: postgres.Sql;
  const lines: string[] = [];
  const make = () =>
    new SpendWriter({
      runtime: 'node',
      config: { governance: { spend_log: true, spend_buffer_rows: 100 } } as Config,
      metrics: { llmSpendDropped: { add: () => {} } } as unknown as Metrics,
      logger: createLogger({ level: 'debug', write: (line) => lines.push(line) }),
    });
  const stored = async (prefix: string) =>
    (await direct`select correlation_id from llm_spend where correlation_id like ${`${prefix}%`} order by correlation_id`).map(
      (r) => r.correlation_id as string,
    );

  beforeAll(async () => {
    database = await migratedDatabase();
    db = createDatabase(database.url, { max: 2, connectTimeoutSeconds: 1 });
    direct = postgres(database.url, { max: 1, onnotice: () => {} });
  });
  afterAll(async () => {
    await db?.close();
    await direct?.end();
    await database?.drop();
  });

  it('a provider-reported token count past integer does not keep the other rows of its batch out of Postgres', async () => {
    const writer = make();
    writer.add(row(1), db);
    writer.add(row(2, { prompt_tokens: 3_000_000_000 }), db);
    writer.add(row(3), db);
    await writer.flush();
    await writer.flush();
    expect(await stored('review2-')).toEqual(expect.arrayContaining(['review2-1', 'review2-3']));
    expect(writer.pending()).toBe(0);
  });

  it('text fields holding a NUL (\\u0000) do not keep the other rows of the batch out', async () => {
    const writer = make();
    writer.add(row(10, { correlation_id: 'nul-a' }), db);
    writer.add(row(11, { correlation_id: 'nul-b', task: 'emb\u0000edding' }), db);
    writer.add(row(12, { correlation_id: 'nul-c' }), db);
    await writer.flush();
    await writer.flush();
    expect(await stored('nul-')).toEqual(expect.arrayContaining(['nul-a', 'nul-c']));
    expect(writer.pending()).toBe(0);
  });
});
