/**
 * `npm run dev` (wrangler dev + the Node host) as a newcomer runs it: provider settings from the
 * environment reach the worker, and a chat completion through workerd reaches a loopback provider.
 */
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ROOT_DIR } from '../shared/runtime/node-config.js';
import { startFakeLLM } from './support/fake-llm.js';

const freePort = () =>
  new Promise<number>((resolve) => {
    const server = createServer();
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });

describe('npm run dev', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'myca-dev-'));
  afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

  it('passes provider settings from the environment to the worker (a chat completion reaches the loopback provider) and shares the files folder with Node', async () => {
    const llm = await startFakeLLM();
    const [port, pgPort] = [await freePort(), await freePort()];
    const child = spawn(join(ROOT_DIR, 'node_modules', '.bin', 'tsx'), ['shared/runtime/dev.ts'], {
      cwd: ROOT_DIR,
      env: {
        PATH: process.env.PATH ?? '',
        HOME: process.env.HOME ?? '/tmp',
        MYCA_DATA_DIR: dataDir,
        MYCA_DEV_PORT: String(port),
        MYCA_EMBEDDED_PG_PORT: String(pgPort),
        OPENAI_API_KEY: 'sk-dev-runner-test',
        OPENAI_BASE_URL: `${llm.url}/v1`,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    let output = '';
    child.stdout?.on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });
    child.stderr?.on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });
    try {
      const deadline = Date.now() + 120_000;
      let ready = false;
      while (!ready) {
        if (child.exitCode !== null) throw new Error(`npm run dev exited ${child.exitCode}:\n${output}`);
        if (Date.now() > deadline) throw new Error(`npm run dev did not answer in 120 s:\n${output}`);
        ready = await fetch(`http://127.0.0.1:${port}/health`).then(
          (response) => response.ok,
          () => false,
        );
        if (!ready) await new Promise((resolve) => setTimeout(resolve, 500));
      }
      const agentKey = /agent\s+corporate\s+(myca_[0-9a-f]+)/.exec(output)?.[1];
      expect(agentKey).toBeTruthy();
      const auth = { authorization: `Bearer ${agentKey}`, 'content-type': 'application/json' };

      const models = (await (await fetch(`http://127.0.0.1:${port}/v1/models`, { headers: auth })).json()) as {
        data: { id: string; myca: { available: boolean } }[];
      };
      expect(models.data.find((model) => model.id === 'planning')).toMatchObject({ myca: { available: true } });

      const chat = await fetch(`http://127.0.0.1:${port}/v1/chat/completions`, {
        method: 'POST',
        headers: auth,
        body: JSON.stringify({ model: 'planning', messages: [{ role: 'user', content: 'hello' }] }),
      });
      expect(chat.status).toBe(200);
      expect(llm.requests.length).toBeGreaterThan(0);
      expect(llm.requests[0]?.headers.authorization).toBe('Bearer sk-dev-runner-test');
      expect(output).toContain('"providers":["OPENAI_API_KEY"]');
      expect(output).not.toContain('sk-dev-runner-test');

      // The worker's file actions use the folder npm start uses (<MYCA_DATA_DIR>/files), both ways.
      const act = async (body: unknown) =>
        (await (
          await fetch(`http://127.0.0.1:${port}/v1/actions`, {
            method: 'POST',
            headers: { ...auth, 'idempotency-key': `dev-${Math.random()}` },
            body: JSON.stringify({ ...(body as object), agent_id: 'corporate' }),
          })
        ).json()) as { status: string; output?: { content?: string } };
      expect(await act({ type: 'file.write', input: { path: 'scratch/from-worker.md', content: 'written in workerd\n' } })).toMatchObject({
        status: 'executed',
      });
      expect(readFileSync(join(dataDir, 'files', 'scratch', 'from-worker.md'), 'utf8')).toBe('written in workerd\n');
      mkdirSync(join(dataDir, 'files', 'notes'), { recursive: true });
      writeFileSync(join(dataDir, 'files', 'notes', 'from-node.md'), 'written on Node\n');
      expect(await act({ type: 'file.read', input: { path: 'notes/from-node.md' } })).toMatchObject({
        status: 'executed',
        output: { content: 'written on Node\n' },
      });
    } finally {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      if (child.exitCode === null) process.kill(-(child.pid as number), 'SIGINT');
      await exited;
      await llm.close();
    }
  }, 180_000);
});
