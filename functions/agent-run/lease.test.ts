import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiKeys, headers, keys, migratedDatabase } from '../../test/support/actions.js';
import type { TestDatabase } from '../../test/support/databases.js';
import { completionReply, startFakeLLM, toolCall } from '../../test/support/fake-llm.js';
import { RUNTIMES, type RuntimeHandle, startRuntime } from '../../test/support/runtimes.js';

/**
 * A step's tool calls run one after another, and each may take long: the run's lease is extended
 * before every action, and an instance whose lease was taken over meanwhile stops there, before it
 * submits the next one (the instance that took over runs the step itself).
 */
describe.each(RUNTIMES)('an agent run’s lease within a step on %s', (runtime) => {
  let database: TestDatabase;
  let app: RuntimeHandle;
  let sql: postgres.Sql;
  let llm: Awaited<ReturnType<typeof startFakeLLM>>;
  let mindex: Server;
  /** What the MINDEX stand-in does while a request waits: here, another instance takes the run over. */
  let onRequest: () => Promise<void> = async () => {};

  beforeAll(async () => {
    database = await migratedDatabase();
    sql = postgres(database.url, { max: 2, onnotice: () => {} });
    llm = await startFakeLLM();
    mindex = createServer((_request, response) => {
      void onRequest().finally(() => {
        response.writeHead(503, { 'content-type': 'application/json' });
        response.end('{"detail":"busy"}');
      });
    });
    await new Promise<void>((resolve) => mindex.listen(0, '127.0.0.1', resolve));
    app = await startRuntime(runtime, {
      DATABASE_URL: database.url,
      MYCA_API_KEYS: apiKeys,
      OPENAI_API_KEY: 'test-openai-key',
      OPENAI_BASE_URL: `${llm.url}/v1`,
      MINDEX_BASE_URL: `http://127.0.0.1:${(mindex.address() as AddressInfo).port}`,
      LLM_RETRIES: '0',
      LLM_RATE_LIMIT_RPM: '0',
    });
  });
  afterAll(async () => {
    await app?.close();
    await llm?.close();
    mindex?.close();
    await sql?.end();
    await database?.drop();
  });

  it('renews the lease before each tool call, and stops before the next one once another instance took the run over', async () => {
    llm.queue(
      'gpt-4o',
      completionReply('gpt-4o', {
        tool_calls: [toolCall('mindex_search_taxa', { q: 'amanita' }), toolCall('mindex_search_taxa', { q: 'boletus' })],
      }),
    );
    const leases: Array<{ owner: string | null; until: Date | null }> = [];
    onRequest = async () => {
      const [run] = await sql<{ id: string; lease_owner: string | null; lease_until: Date | null }[]>`
        select id, lease_owner, lease_until from agent_runs order by created_at desc limit 1`;
      leases.push({ owner: run?.lease_owner ?? null, until: run?.lease_until ?? null });
      // Another instance's sweep claims the run while this tool call is under way.
      await sql`update agent_runs set lease_owner = 'another-instance', lease_until = now() + interval '5 minutes' where id = ${run?.id ?? ''}`;
    };
    const started = await app.fetch('/v1/agents/mycology/runs', {
      method: 'POST',
      headers: { ...headers(keys.mycology), prefer: 'respond-async' },
      body: JSON.stringify({ input: 'Which of these are edible?', idempotency_key: `lease-${runtime}` }),
    });
    expect(started.status).toBe(202);
    const { id } = (await started.json()) as { id: string };
    const deadline = Date.now() + 10_000;
    while (leases.length === 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
    // The first tool call found the lease held by the run's own instance, well ahead of now.
    expect(leases[0]?.owner).not.toBe('another-instance');
    // Give the first instance time to go on (or, as it must, to stop).
    await new Promise((resolve) => setTimeout(resolve, 1500));
    const actions = await sql`select inputs ->> 'q' as q from action_audit_logs where agent_run_id = ${id} order by created_at`;
    expect(
      actions.map((row) => row.q),
      'the second tool call was submitted by an instance that had lost the run',
    ).toEqual(['amanita']);
    onRequest = async () => {};
  });
});
