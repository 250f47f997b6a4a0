import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createFileKeyValueStore } from './file-kv.js';

describe('embedded key-value store kept in a file', () => {
  let dir: string;
  let path: string;
  const warnings: string[] = [];
  const logger = { warn: (message: string) => void warnings.push(message) };
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'myca-kv-'));
    path = join(dir, 'kv.json');
    warnings.length = 0;
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('keeps values across a close and reopen; expired ones are not restored', async () => {
    const first = createFileKeyValueStore(path, logger, 60_000);
    await first.set('myca:audit:anchor:5', '12:abc');
    await first.incr('myca:lockout:1.2.3.4', { ttlMs: 60_000 });
    await first.set('short', 'gone', { ttlMs: 30 });
    first.close();
    await first.set('after-close', 'not written');
    await new Promise((resolve) => setTimeout(resolve, 40));
    const second = createFileKeyValueStore(path, logger);
    expect(await second.get('myca:audit:anchor:5')).toBe('12:abc');
    expect(await second.get('myca:lockout:1.2.3.4')).toBe('1');
    expect(await second.get('short')).toBeNull();
    expect(await second.get('after-close')).toBeNull();
    second.close();
    expect(warnings).toEqual([]);
  });

  it('writes a snapshot on its own after a change (within the interval), atomically', async () => {
    const store = createFileKeyValueStore(path, logger, 20);
    await store.set('k', 'v1');
    expect(existsSync(path)).toBe(false);
    await new Promise((resolve) => setTimeout(resolve, 80));
    expect(JSON.parse(readFileSync(path, 'utf8'))).toMatchObject({ version: 1, entries: [['k', { value: 'v1', expiresAt: null }]] });
    // No temporary file is left beside it.
    expect(readdirSync(dir)).toEqual(['kv.json']);
    store.close();
  });

  it('sets an unreadable snapshot aside, says so, and starts empty', async () => {
    writeFileSync(path, '{"version":1,"entries":[[');
    const store = createFileKeyValueStore(path, logger);
    expect(await store.get('k')).toBeNull();
    expect(warnings).toEqual(['the key-value snapshot could not be read; starting empty']);
    expect(readdirSync(dir).some((name) => name.startsWith('kv.json.unreadable-'))).toBe(true);
    store.close();
  });
});
