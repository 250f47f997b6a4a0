import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createNodeFiles } from './node-files.js';

describe('node file port: reading', () => {
  const root = mkdtempSync(join(tmpdir(), 'myca-files-'));
  const outside = mkdtempSync(join(tmpdir(), 'myca-outside-'));
  mkdirSync(join(root, 'notes'));
  writeFileSync(join(root, 'notes', 'a.md'), 'Pleurotus ostreatus ✓\n'.repeat(40));
  writeFileSync(join(root, 'empty.md'), '');
  writeFileSync(join(root, 'big.md'), 'x'.repeat(70_000));
  writeFileSync(join(outside, 'secret.txt'), 'outside');
  symlinkSync(join(outside, 'secret.txt'), join(root, 'link.txt'));
  const files = createNodeFiles(root);
  afterAll(() => {
    rmSync(root, { recursive: true, force: true });
    rmSync(outside, { recursive: true, force: true });
  });

  it('reads a whole file, multi-byte text included, and reports its size in bytes', async () => {
    const text = 'Pleurotus ostreatus ✓\n'.repeat(40);
    await expect(files.read('notes/a.md', 1_000_000)).resolves.toEqual({ content: text, bytes: Buffer.byteLength(text) });
  });

  it('reads an empty file and a 70 kB one', async () => {
    await expect(files.read('empty.md', 1_000_000)).resolves.toEqual({ content: '', bytes: 0 });
    const big = await files.read('big.md', 1_000_000);
    expect(big.bytes).toBe(70_000);
    expect(big.content).toBe('x'.repeat(70_000));
  });

  it('refuses a file over the limit (exactly at the limit is fine), a folder, a missing file and a symlink out', async () => {
    await expect(files.read('big.md', 70_000)).resolves.toMatchObject({ bytes: 70_000 });
    await expect(files.read('big.md', 69_999)).rejects.toMatchObject({ status: 413 });
    await expect(files.read('notes', 1000)).rejects.toMatchObject({ status: 400 });
    await expect(files.read('notes/none.md', 1000)).rejects.toMatchObject({ status: 404 });
    await expect(files.read('link.txt', 1000)).rejects.toMatchObject({ status: 403 });
  });
});
