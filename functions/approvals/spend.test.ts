/**
 * The spend page in Chromium on both runtimes, over real Postgres: spend rows as chat-route writes
 * them, an admin who sees them per key and per agent (chart and table agree) with the keys' limits,
 * bad queries answered with a 400 page, and an approver who is not an admin refused (403).
 */
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { type Browser, chromium, type Page } from 'playwright-core';
import postgres from 'postgres';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ROOT_DIR } from '../../shared/runtime/node-config.js';
import { apiKeys, headers, keys, migratedDatabase } from '../../test/support/actions.js';
import type { TestDatabase } from '../../test/support/databases.js';
import { RUNTIMES, type RuntimeHandle, startRuntime } from '../../test/support/runtimes.js';

const CHROMIUM = '/usr/bin/chromium';
// CI installs Chromium and insists on it; elsewhere the browser tests are skipped when it is missing.
const haveBrowser = existsSync(CHROMIUM) || process.env.MYCA_REQUIRE_TOOLS === '1';
const DAY_MS = 86_400_000;
const ARTIFACTS = join(ROOT_DIR, 'test-results', 'approvals');

describe.each(RUNTIMES)('the spend page on %s, in Chromium', (runtime) => {
  beforeEach((ctx) => {
    ctx.skip(!haveBrowser, `no Chromium at ${CHROMIUM} (apt-get install chromium; CI has it)`);
  });
  let database: TestDatabase;
  let app: RuntimeHandle;
  let sql: postgres.Sql;
  let browser: Browser;
  let base: string;
  let key: { id: string; secret: string };

  async function signIn(credential: string): Promise<Page> {
    const page = await (await browser.newContext()).newPage();
    await page.goto(`${base}/approvals/login`);
    await page.getByLabel('Approver key or JWT').fill(credential);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await expect.poll(() => page.url()).toBe(`${base}/approvals`);
    return page;
  }

  const spend = (at: number, key_id: string, agent: string | null, cost: number | null, status = 'ok') => ({
    at: new Date(at),
    key_id,
    agent,
    correlation_id: `spend-${runtime}-${at}-${key_id}`,
    task: 'chat',
    provider: 'openai',
    model: 'gpt-4o',
    prompt_tokens: 1000,
    completion_tokens: 200,
    cost_usd: cost,
    latency_ms: 300,
    status,
    attempts: 1,
  });

  beforeAll(async () => {
    if (!haveBrowser) return;
    mkdirSync(ARTIFACTS, { recursive: true });
    database = await migratedDatabase();
    sql = postgres(database.url, { max: 2, onnotice: () => {} });
    app = await startRuntime(runtime, { DATABASE_URL: database.url, MYCA_API_KEYS: apiKeys });
    base = await app.url();
    const made = await app.fetch('/v1/keys', {
      method: 'POST',
      headers: headers(keys.admin),
      body: JSON.stringify({ name: 'fleet', rpm: 60, tpm: 50_000, budget_usd: 5, budget_period: 'day' }),
    });
    expect(made.status).toBe(201);
    key = (await made.json()) as { id: string; secret: string };
    const now = Date.now();
    await sql`insert into llm_spend ${sql([
      spend(now - DAY_MS, key.id, 'financial', 0.25),
      spend(now - DAY_MS - 60_000, key.id, 'financial', 0.25),
      spend(now - 2 * DAY_MS, 'planner', 'plan\u202Ener', 0.25),
      spend(now - 2 * DAY_MS - 60_000, 'planner', 'plan\u202Ener', null, '502'),
      spend(now - 30 * DAY_MS, 'planner', 'planner', 9), // before the default period
    ])}`;
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-sync'],
    });
  });
  afterAll(async () => {
    await browser?.close();
    await app?.close();
    await sql?.end();
    await database?.drop();
  });

  it('shows an admin the last 7 days per key and per agent, chart and table agreeing, and the keys’ limits', async () => {
    const page = await signIn(keys.admin);
    await page.getByRole('link', { name: 'Spend' }).click();
    await page.getByRole('heading', { name: 'Spend', level: 1 }).waitFor();
    expect(await page.getByRole('link', { name: 'Spend' }).getAttribute('aria-current')).toBe('page');

    const fleet = page.locator(`#spend-table tbody tr[data-group="${key.id}"]`);
    expect(await fleet.locator('th').textContent()).toBe(`fleet (${key.id})`);
    expect(await fleet.locator('td[data-label="Requests"]').textContent()).toBe('2');
    expect(await fleet.locator('td[data-label="Cost (USD)"]').textContent()).toBe('$0.50');
    const planner = page.locator('#spend-table tbody tr[data-group="planner"]');
    expect(await planner.locator('td[data-label="Errors"]').textContent()).toBe('1');
    expect(await page.locator('#spend-total td[data-label="Cost (USD)"]').textContent()).toBe('$0.75'); // the 30-day-old row is out
    const widths = await page.locator('svg.chart rect.bar').evaluateAll((bars) => bars.map((bar) => bar.getAttribute('width')));
    expect(widths).toEqual(['300', '150']);
    expect(await page.locator('svg.chart title').textContent()).toMatch(
      /^Cost per key, \d{4}-\d\d-\d\d to \d{4}-\d\d-\d\d \(UTC, 7 days\)$/,
    );

    const limits = page.locator(`tr[data-key="${key.id}"]`);
    expect(await limits.locator('td[data-label="Requests per minute"]').textContent()).toMatch(/ of 60 this minute$/);
    expect(await limits.locator('td[data-label="Budget"]').textContent()).toMatch(/of \$5\.00 per day \(resets /);
    await page.screenshot({ path: join(ARTIFACTS, `${runtime}-spend.png`), fullPage: true });
    const html = await page.content();
    expect(html).not.toContain(key.secret);
    expect(html).not.toContain(keys.admin);

    await page.getByLabel('Group by', { exact: true }).selectOption('agent');
    await page.getByRole('button', { name: 'Show' }).click();
    await expect.poll(() => new URL(page.url()).searchParams.get('group_by')).toBe('agent');
    // The URL changes when the navigation commits, before the new document has its table: wait for the rows.
    await expect.poll(() => page.locator('#spend-table tbody th').allTextContents()).toEqual(['financial', 'plan[U+202E]ner']);
    await page.context().close();
  });

  it('answers a bad query with a 400 page saying what to change, never a 500', async () => {
    const page = await signIn(keys.admin);
    for (const query of ['group_by=secret_sha256', 'from=yesterday', 'from=2020-01-01&to=2026-01-01', 'from=2026-02-01&to=2026-01-01']) {
      const response = await page.goto(`${base}/approvals/spend?${query}`);
      expect(response?.status()).toBe(400);
      expect(await page.getByRole('alert').textContent()).toMatch(/group_by key, agent, model, day or kind/);
    }
    await page.context().close();
  });

  it('refuses an approver who is not an admin (403) and shows them no Spend link', async () => {
    const page = await signIn(keys.approver);
    expect(await page.getByRole('link', { name: 'Spend' }).count()).toBe(0);
    const response = await page.goto(`${base}/approvals/spend`);
    expect(response?.status()).toBe(403);
    expect(await page.getByRole('alert').textContent()).toContain('administrators');
    expect(await page.content()).not.toContain('spend-table');
    await page.context().close();
  });
});
