import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiKeys, headers, keys } from './support/actions.js';
import { createTestDatabase, type TestDatabase } from './support/databases.js';
import { completionReply, startFakeLLM } from './support/fake-llm.js';
import { start, stop } from './support/server-process.js';

const usage = { prompt_tokens: 10, completion_tokens: 5, total_tokens: 15 };

describe('an agent run waiting for approval survives a restart of the Node server', () => {
  let database: TestDatabase;
  let llm: Awaited<ReturnType<typeof startFakeLLM>>;
  const files = mkdtempSync(join(tmpdir(), 'myca-restart-files-'));

  beforeAll(async () => {
    database = await createTestDatabase();
    llm = await startFakeLLM();
    mkdirSync(join(files, 'finance'));
    writeFileSync(join(files, 'finance', 'ledger.csv'), 'date,account,amount,memo\n');
  });
  afterAll(async () => {
    await llm?.close();
    await database?.drop();
    rmSync(files, { recursive: true, force: true });
  });

  it('waits, the server restarts, an approver approves on the new process, and the run resumes and finishes', async () => {
    const env = {
      DATABASE_URL: database.url,
      MYCA_API_KEYS: apiKeys,
      MYCA_FILES_ROOT: files,
      OPENAI_API_KEY: 'test-openai-key',
      OPENAI_BASE_URL: `${llm.url}/v1`,
      LLM_RETRIES: '0',
    };
    const ledger = 'date,account,amount,memo\n2026-11-28,cash,-3.00,agar\n';
    const write = {
      id: 'call_1',
      type: 'function',
      function: { name: 'file_write', arguments: JSON.stringify({ path: 'finance/ledger.csv', content: ledger }) },
    };
    llm.queue(
      'gpt-4o',
      completionReply('gpt-4o', { tool_calls: [write] }, usage),
      completionReply('gpt-4o', { content: 'Recorded after approval.' }, usage),
    );

    const first = await start(env);
    let runId: string;
    try {
      const response = await fetch(`${first.url}/v1/agents/financial/runs`, {
        method: 'POST',
        headers: headers(keys.financial),
        body: JSON.stringify({ input: 'record 3.00 spent on agar' }),
      });
      expect(response.status).toBe(202);
      const run = (await response.json()) as { id: string; status: string };
      expect(run.status).toBe('waiting_approval');
      runId = run.id;
    } finally {
      expect(await stop(first)).toBe(0);
    }

    const second = await start(env);
    try {
      const run = (await (await fetch(`${second.url}/v1/runs/${runId}`, { headers: headers(keys.approver) })).json()) as {
        status: string;
        pending_action_ids: string[];
      };
      expect(run.status).toBe('waiting_approval');
      const actionId = run.pending_action_ids[0];
      const action = (await (await fetch(`${second.url}/v1/actions/${actionId}`, { headers: headers(keys.approver) })).json()) as {
        digest: string;
      };
      const approved = await fetch(`${second.url}/v1/actions/${actionId}/approve`, {
        method: 'POST',
        headers: headers(keys.approver),
        body: JSON.stringify({ digest: action.digest }),
      });
      expect(approved.status).toBe(200);
      const deadline = Date.now() + 15_000;
      let status = '';
      let output: string | null = null;
      while (Date.now() < deadline) {
        ({ status, output } = (await (await fetch(`${second.url}/v1/runs/${runId}`, { headers: headers(keys.financial) })).json()) as {
          status: string;
          output: string | null;
        });
        if (status === 'succeeded' || status === 'failed') break;
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      expect({ status, output }).toEqual({ status: 'succeeded', output: 'Recorded after approval.' });
      expect(readFileSync(join(files, 'finance', 'ledger.csv'), 'utf8')).toBe(ledger);
    } finally {
      await stop(second);
    }
  }, 120_000);
});
