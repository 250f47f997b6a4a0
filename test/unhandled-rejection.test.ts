import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT_DIR } from '../shared/runtime/node-config.js';
import { createTestDatabase, type TestDatabase } from './support/databases.js';
import { eventually } from './support/runtimes.js';

describe('the Node server and a promise rejection nothing handled', () => {
  let database: TestDatabase;
  beforeAll(async () => {
    database = await createTestDatabase();
  });
  afterAll(async () => {
    await database?.drop();
  });

  it('logs it at error level with the correlation id, counts it, and keeps serving', async () => {
    const child = spawn(join(ROOT_DIR, 'node_modules', '.bin', 'tsx'), ['test/support/rejecting-server.ts'], {
      cwd: ROOT_DIR,
      env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', PORT: '0', DATABASE_URL: database.url, MYCA_API_KEYS: '' },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });
    child.stderr.on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });
    const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
    try {
      const url = await eventually(() => /"msg":"MYCA Edge is listening"[^\n]*"url":"([^"]+)"/.exec(output)?.[1], 60_000);
      child.stdin.write('probe-7f3a\n');
      const line = await eventually(() =>
        output
          .split('\n')
          .filter((text) => text.startsWith('{'))
          .map((text) => JSON.parse(text) as Record<string, unknown>)
          .find((entry) => String(entry.msg).startsWith('unhandled promise rejection')),
      );
      expect(line).toMatchObject({ level: 'error', correlation_id: 'probe-7f3a' });
      expect(JSON.stringify(line.error)).toContain('probe rejection probe-7f3a');
      expect(child.exitCode).toBeNull();
      expect((await fetch(`${url}/health`)).status).toBe(200);
      const metrics = await (await fetch(`${url}/metrics`)).text();
      expect(metrics).toMatch(/process_unhandled_rejections_total\{runtime="node"\} 1\b/);
    } finally {
      child.kill('SIGTERM');
      await exited;
    }
  }, 90_000);
});
