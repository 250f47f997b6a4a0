import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migratedDatabase } from '../../test/support/actions.js';
import type { TestDatabase } from '../../test/support/databases.js';
import { startTcpProxy, type TcpProxy } from '../../test/support/tcp-proxy.js';
import type { Config } from '../config/index.js';
import { createDatabase, type Database } from '../db/index.js';
import { createLogger } from '../log/index.js';
import type { Metrics } from '../telemetry/metrics.js';
import { type SpendRow, SpendWriter } from './spend.js';

const row = (n: number): SpendRow => ({
  at: new Date(),
  kind: 'chat',
  key_id: 'vk_000000000000000000000001',
  agent: null,
  run_id: null,
  correlation_id: `c${n}`,
  task: 'planning',
  provider: 'openai',
  model: 'gpt-4o',
  prompt_tokens: 5,
  completion_tokens: 20,
  cost_usd: 0.0002125,
  latency_ms: 12,
  status: 'ok',
  attempts: 1,
  stream: false,
});

describe('spend rows while Postgres is down (real Postgres behind a proxy that is cut)', () => {
  let database: TestDatabase;
  let proxy: TcpProxy;
  let db: Database;
  let direct: postgres.Sql;
  const lines: string[] = [];
  const dropped: number[] = [];
  const make = (bufferRows: number) =>
    new SpendWriter({
      runtime: 'node',
      config: { governance: { spend_log: true, spend_buffer_rows: bufferRows } } as Config,
      metrics: { llmSpendDropped: { add: (n: number) => dropped.push(n) } } as unknown as Metrics,
      logger: createLogger({ level: 'debug', write: (line) => lines.push(line) }),
    });
  const count = async () => Number((await direct`select count(*)::int as n from llm_spend`)[0]?.n);

  beforeAll(async () => {
    database = await migratedDatabase();
    const url = new URL(database.url);
    proxy = await startTcpProxy({ host: url.hostname, port: Number(url.port || 5432) });
    const through = new URL(database.url);
    through.port = String(proxy.port);
    db = createDatabase(through.toString(), { max: 2, connectTimeoutSeconds: 1 });
    direct = postgres(database.url, { max: 1, onnotice: () => {} });
  });
  afterAll(async () => {
    await db?.close();
    await direct?.end();
    await proxy?.close();
    await database?.drop();
  });

  it('writes rows in batches off the caller’s path', async () => {
    const writer = make(100);
    for (let i = 0; i < 20; i++) expect(writer.add(row(i), db)).toBeUndefined();
    expect(writer.pending()).toBe(20);
    const deadline = Date.now() + 3000;
    while ((await count()) < 20 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
    expect(await count()).toBe(20);
    expect(writer.pending()).toBe(0);
  });

  it('stores each field as given: text with quotes, backslashes, newlines and non-ASCII, nulls, tiny costs, booleans, batches of any size', async () => {
    const writer = make(100);
    const at = new Date('2026-03-01T12:34:56.789Z');
    const odd: SpendRow = {
      ...row(0),
      at,
      agent: 'planner',
      run_id: 'run:1.2_3-4',
      correlation_id: 'c-"quoted" \\back\\slash\nnew\tline é ✓ 😀',
      task: "it's {a,b} [1] \\N null",
      provider: null,
      model: null,
      prompt_tokens: 2_000_000_000,
      completion_tokens: 0,
      cost_usd: 1e-9,
      latency_ms: 0,
      status: 'client_closed',
      attempts: 3,
      stream: true,
    };
    const plain: SpendRow = { ...row(1), at, correlation_id: 'spend-fields-plain', cost_usd: null };
    // Three batch sizes in turn: each is written whole and right.
    for (const batch of [
      [odd],
      [plain, { ...plain, correlation_id: 'spend-fields-2' }],
      [{ ...plain, correlation_id: 'spend-fields-3' }],
    ]) {
      for (const item of batch) writer.add(item, db);
      await writer.flush();
    }
    const stored = await direct`
      select at, kind, key_id, agent, run_id, correlation_id, task, provider, model, prompt_tokens, completion_tokens,
        cost_usd::text as cost_usd, latency_ms, status, attempts, stream
      from llm_spend where at = ${at} order by id`;
    expect(stored).toHaveLength(4);
    expect({ ...stored[0] }).toEqual({ ...odd, cost_usd: '0.000000001' });
    expect({ ...stored[1] }).toEqual({ ...plain, cost_usd: null });
    expect(stored.map((r) => r.correlation_id)).toEqual([odd.correlation_id, 'spend-fields-plain', 'spend-fields-2', 'spend-fields-3']);
    const [priced] = await direct`select cost_usd::text as cost_usd from llm_spend where correlation_id = 'c0' order by id limit 1`;
    expect(priced?.cost_usd).toBe('0.000212500');
  });

  it('keeps what fits in its bound while Postgres is down, drops and counts the rest, and writes the kept rows once it is back', async () => {
    const before = await count();
    const writer = make(3);
    await proxy.cut();
    for (let i = 0; i < 5; i++) writer.add(row(100 + i), db);
    expect(writer.dropped).toBe(2);
    expect(dropped.reduce((a, b) => a + b, 0)).toBe(2);
    // A write is tried and refused: the rows go back to the buffer, a warning says so (once).
    await writer.flush();
    expect(writer.pending()).toBe(3);
    expect(lines.filter((line) => line.includes('spend rows could not be written'))).toHaveLength(1);
    // Further rows past the bound are dropped too, never queued without end.
    writer.add(row(200), db);
    expect(writer.dropped).toBe(3);
    await proxy.restore();
    await writer.flush();
    expect(writer.pending()).toBe(0);
    expect((await count()) - before).toBe(3);
    expect(lines.some((line) => line.includes('spend rows are written again'))).toBe(true);
  });

  it('a process that dies loses only the rows still buffered: each one written before is in Postgres', async () => {
    const before = await count();
    const writer = make(100);
    writer.add(row(300), db);
    await writer.flush();
    // The next row is buffered but never flushed: the "process" ends here (the writer is dropped).
    writer.add(row(301), db);
    expect(writer.pending()).toBe(1);
    expect((await count()) - before).toBe(1);
  });
});
