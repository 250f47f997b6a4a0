/**
 * The inbox's live-update script (assets.ts) in Chromium, against a stand-in page whose list changes
 * on every refresh as the real one does (the "Waiting" times tick): focus stays where the keyboard
 * left it, and the live region speaks only when the waiting count changes.
 */
import { existsSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { type Browser, chromium } from 'playwright-core';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { JS } from './assets.js';

const CHROMIUM = '/usr/bin/chromium';
const haveBrowser = existsSync(CHROMIUM) || process.env.MYCA_REQUIRE_TOOLS === '1';

describe('the live inbox script, in Chromium', () => {
  beforeEach((ctx) => {
    ctx.skip(!haveBrowser, `no Chromium at ${CHROMIUM} (apt-get install chromium; CI has it)`);
  });
  let browser: Browser;
  let server: Server;
  let base: string;
  let ids = ['a1', 'b2'];
  let refreshes = 0;
  const table = () =>
    `<table><tbody>${ids
      .map((id) => `<tr data-id="${id}"><td><a href="/x/${id}">${id}</a></td><td>${refreshes} s</td></tr>`)
      .join('')}</tbody></table>`;

  beforeAll(async () => {
    if (!haveBrowser) return;
    server = createServer((request, response) => {
      response.setHeader('content-type', 'text/html; charset=utf-8');
      if (request.headers['x-myca-fragment'] === 'inbox') {
        refreshes++;
        response.end(table());
        return;
      }
      response.end(
        `<!doctype html><html><body><a href="/top">top</a><p id="live-status" aria-live="polite">${ids.length} waiting</p>` +
          `<div id="live" data-interval="100">${table()}</div><script>${JS}</script></body></html>`,
      );
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const address = server.address();
    base = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--disable-gpu', '--no-first-run'] });
  });
  afterAll(async () => {
    await browser?.close();
    await new Promise((resolve) => server?.close(resolve));
  });

  it('keeps focus on the same row through refreshes, and speaks only when the count changes', async () => {
    const page = await browser.newPage();
    await page.goto(`${base}/inbox`);
    // Everything the live region is told, as it is told.
    await page.evaluate(() => {
      const spoken: string[] = [];
      (window as unknown as { spoken: string[] }).spoken = spoken;
      const status = document.getElementById('live-status') as HTMLElement;
      new MutationObserver(() => spoken.push(status.textContent ?? '')).observe(status, {
        childList: true,
        characterData: true,
        subtree: true,
      });
    });
    await page.locator('a[href="/x/b2"]').focus();
    const start = refreshes;
    await page.waitForFunction((n) => Number(document.querySelector('tr td + td')?.textContent?.split(' ')[0]) >= n, start + 3);
    // The table was replaced three times over; the same link of the same row still has focus.
    expect(await page.evaluate(() => document.activeElement?.getAttribute('href'))).toBe('/x/b2');
    expect(await page.evaluate(() => (window as unknown as { spoken: string[] }).spoken)).toEqual([]);

    // Someone else decided b2: its row goes, the count changes once, focus lands on the list, not the page top.
    ids = ['a1'];
    await page.waitForFunction(() => !document.querySelector('tr[data-id="b2"]'));
    await page.waitForFunction((n) => Number(document.querySelector('tr td + td')?.textContent?.split(' ')[0]) >= n, refreshes + 2);
    expect(await page.evaluate(() => (window as unknown as { spoken: string[] }).spoken)).toEqual(['1 waiting']);
    expect(await page.evaluate(() => document.activeElement?.id)).toBe('live');
    await page.close();
  });
});
