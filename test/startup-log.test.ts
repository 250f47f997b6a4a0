/** `npm start`'s log: one short line of what is in force, a warning without providers, the config at debug. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiKeys } from './support/actions.js';
import { createTestDatabase, type TestDatabase } from './support/databases.js';
import { start, stop } from './support/server-process.js';

const jsonLines = (output: string) =>
  output
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => ({ line, parsed: JSON.parse(line) as Record<string, unknown> }));

describe('the start-up log', () => {
  let database: TestDatabase;
  beforeAll(async () => {
    database = await createTestDatabase();
  });
  afterAll(() => database?.drop());

  it('at info: one short summary line, then a warning naming the variables when no provider is usable', async () => {
    const server = await start({ DATABASE_URL: database.url, MYCA_API_KEYS: apiKeys, LOG_LEVEL: 'info' });
    try {
      const lines = jsonLines(server.output());
      expect(lines.map((entry) => entry.parsed.msg)).toEqual([
        'MYCA Edge is listening',
        expect.stringContaining('no LLM provider is usable'),
      ]);
      const summary = lines[0] as (typeof lines)[number];
      expect(summary.line.length).toBeLessThan(700);
      expect(summary.parsed).toMatchObject({
        runtime: 'node',
        database: 'Postgres (DATABASE_URL)',
        kv: expect.stringContaining('in memory'),
        providers: [],
        url: server.url,
        keys: `configured: ${apiKeys.split(',').length} (MYCA_API_KEYS / auth.yaml)`,
      });
      expect(lines[1]?.parsed).toMatchObject({ level: 'warn', providers: { openai: 'no API key' } });
      expect(lines[1]?.parsed.msg).toContain('OPENAI_API_KEY');
    } finally {
      await stop(server);
    }
  }, 90_000);

  it('names the usable providers without a warning, and logs the sanitised config at debug only', async () => {
    const secret = `sk-${'s'.repeat(30)}`;
    const server = await start({ DATABASE_URL: database.url, MYCA_API_KEYS: apiKeys, LOG_LEVEL: 'debug', OPENAI_API_KEY: secret });
    try {
      const lines = jsonLines(server.output());
      const summary = lines.find((entry) => entry.parsed.msg === 'MYCA Edge is listening');
      expect(summary?.parsed.providers).toEqual(['openai']);
      expect(lines.some((entry) => String(entry.parsed.msg).includes('no LLM provider'))).toBe(false);
      expect(lines.find((entry) => entry.parsed.msg === 'effective configuration')?.parsed.level).toBe('debug');
      expect(server.output()).not.toContain(secret);
    } finally {
      await stop(server);
    }
  }, 90_000);
});
