import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT_DIR } from '../shared/runtime/node-config.js';
import { apiKeys, keys } from './support/actions.js';
import { createTestDatabase, type TestDatabase } from './support/databases.js';
import { completionReply, startFakeLLM } from './support/fake-llm.js';
import { type Started, start, stop } from './support/server-process.js';

const usage = { prompt_tokens: 10, completion_tokens: 5, total_tokens: 15 };

/** `npm run agent -- …` as a person runs it (tsx directly: npm adds nothing but noise). */
function agent(args: string[], env: Record<string, string>): Promise<{ code: number | null; output: string }> {
  const child = spawn(join(ROOT_DIR, 'node_modules', '.bin', 'tsx'), ['scripts/agent.ts', ...args], {
    cwd: ROOT_DIR,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  child.stderr.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  return new Promise((resolve) => child.once('exit', (code) => resolve({ code, output })));
}

describe('npm run agent', () => {
  let database: TestDatabase;
  let llm: Awaited<ReturnType<typeof startFakeLLM>>;
  let server: Started;
  const files = mkdtempSync(join(tmpdir(), 'myca-cli-files-'));

  beforeAll(async () => {
    database = await createTestDatabase();
    llm = await startFakeLLM();
    mkdirSync(join(files, 'species'));
    writeFileSync(join(files, 'species', 'index.md'), '- Trametes versicolor: turkey tail\n');
    server = await start({
      DATABASE_URL: database.url,
      MYCA_API_KEYS: apiKeys,
      MYCA_FILES_ROOT: files,
      OPENAI_API_KEY: 'test-openai-key',
      OPENAI_BASE_URL: `${llm.url}/v1`,
      LLM_RETRIES: '0',
    });
  }, 60_000);
  afterAll(async () => {
    if (server) await stop(server);
    await llm?.close();
    await database?.drop();
    rmSync(files, { recursive: true, force: true });
  });

  it('prints each step as it happens and exits 0 with the answer', async () => {
    llm.queue(
      'gpt-4o',
      completionReply(
        'gpt-4o',
        { tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'file_read', arguments: '{"path":"species/index.md"}' } }] },
        usage,
      ),
      completionReply('gpt-4o', { content: 'Turkey tail is Trametes versicolor.' }, usage),
    );
    const { code, output } = await agent(['mycology', 'what', 'is', 'turkey', 'tail?'], {
      MYCA_URL: server.url,
      MYCA_API_KEY: keys.mycology,
    });
    expect(output).toMatch(
      /▸ step 1[\s\S]*↳ file\.read[\s\S]*✓ file\.read executed[\s\S]*▸ step 2[\s\S]*■ answer\nTurkey tail is Trametes versicolor\./,
    );
    expect(output).toContain('2 step(s), 30 tokens');
    expect(code).toBe(0);
  }, 30_000);

  it('exits 1 when the run fails, and 1 with the problem when the agent does not exist', async () => {
    llm.always('gpt-4o', { status: 400, body: { error: { message: 'context too long', type: 'invalid_request_error' } } });
    const failed = await agent(['mycology', 'hello'], { MYCA_URL: server.url, MYCA_API_KEY: keys.mycology });
    expect(failed.output).toMatch(/■ failed: the model call of step 1 failed: openai refused the request/);
    expect(failed.code).toBe(1);
    llm.reset();
    const missing = await agent(['astrologer', 'hello'], { MYCA_URL: server.url, MYCA_API_KEY: keys.mycology });
    expect(missing.output).toMatch(/✗ 404 Not found: No agent "astrologer"/);
    expect(missing.output).toContain('hint: configured agents: mycology, financial, corporate');
    expect(missing.code).toBe(1);
    const usage = await agent([], { MYCA_URL: server.url });
    expect(usage.code).toBe(2);
  }, 30_000);
});
