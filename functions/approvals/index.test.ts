import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Browser, chromium, type Page } from 'playwright-core';
import postgres from 'postgres';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ROOT_DIR } from '../../shared/runtime/node-config.js';
import { apiKeys, headers, keys, migratedDatabase } from '../../test/support/actions.js';
import type { TestDatabase } from '../../test/support/databases.js';
import { completionReply, startFakeLLM } from '../../test/support/fake-llm.js';
import { RUNTIMES, type RuntimeHandle, startRuntime } from '../../test/support/runtimes.js';

const CHROMIUM = '/usr/bin/chromium';
const ARTIFACTS = join(ROOT_DIR, 'test-results', 'approvals');
// CI installs Chromium and insists on it; elsewhere the browser tests are skipped when it is missing.
const haveBrowser = existsSync(CHROMIUM) || process.env.MYCA_REQUIRE_TOOLS === '1';

describe.each(RUNTIMES)('the approvals page on %s, in Chromium', (runtime) => {
  // Each test says why it is skipped (the run's last lines list it); nothing is started for them.
  beforeEach((ctx) => {
    ctx.skip(!haveBrowser, `no Chromium at ${CHROMIUM} (apt-get install chromium; CI has it)`);
  });
  let database: TestDatabase;
  let app: RuntimeHandle;
  let sql: postgres.Sql;
  let browser: Browser;
  let base: string;
  let llm: Awaited<ReturnType<typeof startFakeLLM>>;
  const filesRoot = mkdtempSync(join(tmpdir(), 'myca-approvals-files-'));
  let counter = 0;

  const submit = async (input: Record<string, unknown>, type = 'file.write', key = keys.financial, agent?: string) => {
    const response = await app.fetch('/v1/actions', {
      method: 'POST',
      headers: headers(key, `page-${runtime}-${counter++}`),
      body: JSON.stringify({ type, input, ...(agent ? { agent_id: agent } : {}) }),
    });
    expect(response.status).toBe(202);
    return (await response.json()) as { id: string; digest: string };
  };
  const status = async (id: string) => (await sql`select status, rejection_reason, approved_by from action_audit_logs where id = ${id}`)[0];

  /** A fresh browser context signed in with `key`. */
  async function signIn(key: string): Promise<Page> {
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(`${base}/approvals`);
    expect(page.url()).toBe(`${base}/approvals/login`);
    await page.getByLabel('Approver key or JWT').fill(key);
    await page.getByRole('button', { name: 'Sign in' }).click();
    return page;
  }

  beforeAll(async () => {
    if (!haveBrowser) return;
    mkdirSync(ARTIFACTS, { recursive: true });
    database = await migratedDatabase();
    sql = postgres(database.url, { max: 2, onnotice: () => {} });
    llm = await startFakeLLM();
    app = await startRuntime(runtime, {
      DATABASE_URL: database.url,
      MYCA_API_KEYS: apiKeys,
      MYCA_FILES_ROOT: filesRoot,
      OPENAI_API_KEY: 'test-openai-key',
      OPENAI_BASE_URL: `${llm.url}/v1`,
      LLM_RETRIES: '0',
      // The lockout test names its client in X-Forwarded-For, as one proxy in front would.
      TRUST_PROXY: '1',
    });
    base = await app.url();
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
    });
  });
  afterAll(async () => {
    await browser?.close();
    await app?.close();
    await llm?.close();
    await sql?.end();
    await database?.drop();
    rmSync(filesRoot, { recursive: true, force: true });
  });

  it('signs in, sees a pending action arrive live, opens it, approves it and sees it executed with the file written', async () => {
    const page = await signIn(keys.approver);
    await expect.poll(() => page.url()).toBe(`${base}/approvals`);
    await page.getByText('Signed in as').waitFor();
    const response = await page.request.get(`${base}/approvals`);
    expect(response.headers()['content-security-policy']).toContain("frame-ancestors 'none'");
    const [cookie] = await page.context().cookies();
    expect(cookie).toMatchObject({ name: 'myca_approvals', httpOnly: true, sameSite: 'Strict' });

    // Submitted after the page loaded: the live update shows it without a reload.
    const held = await submit({ path: 'finance/ledger.csv', content: 'date,account,amount\n2026-11-28,cash,-4.20\n' });
    const row = page.locator(`tr[data-id="${held.id}"]`);
    await row.waitFor({ timeout: 10_000 });
    await expect.poll(() => row.textContent()).toContain('financial');
    expect(await row.textContent()).toContain('write');
    await page.screenshot({ path: join(ARTIFACTS, `${runtime}-inbox.png`), fullPage: true });

    await row.getByRole('link', { name: 'file.write' }).click();
    await page.getByRole('heading', { name: 'What will happen' }).waitFor();
    const body = await page.locator('main').textContent();
    expect(body).toContain('finance/ledger.csv');
    expect(body).toContain('2026-11-28,cash,-4.20');
    expect(body).toContain(held.digest);
    expect(body).toMatch(/requested[\s\S]*decided/); // the audit trail so far
    await page.screenshot({ path: join(ARTIFACTS, `${runtime}-detail.png`), fullPage: true });

    await page.getByLabel('Comment (optional)').fill('matches the receipt');
    await page.getByRole('button', { name: 'Approve and execute' }).click();
    await page.getByText('Approved and executed.').waitFor();
    expect(await page.locator('#action-status').textContent()).toBe('executed');
    expect(await app.files.read('finance/ledger.csv')).toBe('date,account,amount\n2026-11-28,cash,-4.20\n');
    expect(await status(held.id)).toMatchObject({ status: 'executed', approved_by: 'alice' });

    // History lists the decision, and the chain check runs from the page.
    await page.getByRole('link', { name: 'History' }).click();
    expect(await page.locator(`tr[data-id="${held.id}"]`).textContent()).toContain('alice');
    await page.getByRole('button', { name: 'Check the audit chain' }).click();
    await page.getByText(/The audit chain holds: \d+ events/).waitFor();
    await page.context().close();
  });

  it('holds at 390 px and 1280 px: a doctype, no sideways scroll, one-line timestamps, "What happened" after the decision', async () => {
    const held = await submit({ path: 'finance/layout.csv', content: `${'wide,'.repeat(60)}\n` });
    const page = await signIn(keys.approver);
    await expect.poll(() => page.url()).toBe(`${base}/approvals`);
    const fits = () =>
      page.evaluate(() => ({
        doctype: document.doctype?.name ?? null,
        mode: document.compatMode,
        overflow: document.documentElement.scrollWidth - window.innerWidth,
        // A wrapped inline <time> has more than one box.
        wrappedTimes: Array.from(document.querySelectorAll('time')).filter((time) => time.getClientRects().length > 1).length,
      }));
    for (const width of [390, 1280]) {
      await page.setViewportSize({ width, height: 900 });
      await page.goto(`${base}/approvals`);
      await page.locator(`tr[data-id="${held.id}"]`).waitFor();
      expect(await fits(), `inbox at ${width} px`).toEqual({ doctype: 'html', mode: 'CSS1Compat', overflow: 0, wrappedTimes: 0 });
      await page.screenshot({ path: join(ARTIFACTS, `${runtime}-inbox-${width}.png`), fullPage: true });
      await page.goto(`${base}/approvals/actions/${held.id}`);
      await page.getByRole('heading', { name: 'What will happen' }).waitFor();
      expect(await fits(), `detail at ${width} px`).toEqual({ doctype: 'html', mode: 'CSS1Compat', overflow: 0, wrappedTimes: 0 });
    }
    const approved = await app.fetch(`/v1/actions/${held.id}/approve`, {
      method: 'POST',
      headers: headers(keys.approver2),
      body: JSON.stringify({ digest: held.digest }),
    });
    expect(approved.status).toBe(200);
    for (const width of [390, 1280]) {
      await page.setViewportSize({ width, height: 900 });
      await page.goto(`${base}/approvals/actions/${held.id}`);
      await page.getByRole('heading', { name: 'What happened' }).waitFor();
      expect(await page.getByRole('heading', { name: 'What will happen' }).count()).toBe(0);
      expect(await fits(), `decided detail at ${width} px`).toEqual({ doctype: 'html', mode: 'CSS1Compat', overflow: 0, wrappedTimes: 0 });
      await page.screenshot({ path: join(ARTIFACTS, `${runtime}-detail-${width}.png`), fullPage: true });
      await page.goto(`${base}/approvals/history`);
      expect(await fits(), `history at ${width} px`).toEqual({ doctype: 'html', mode: 'CSS1Compat', overflow: 0, wrappedTimes: 0 });
    }
    await page.context().close();
  });

  it('rejects with a reason', async () => {
    const held = await submit({ path: 'finance/ledger.csv', content: 'wiped' });
    const page = await signIn(keys.approver);
    await page.goto(`${base}/approvals/actions/${held.id}`);
    await page.getByLabel('Reason (required; the agent is told)').fill('never overwrite the ledger');
    await page.getByRole('button', { name: 'Reject' }).click();
    await page.getByText('Rejected. The agent is told your reason.').waitFor();
    expect(await status(held.id)).toMatchObject({ status: 'rejected', rejection_reason: 'never overwrite the ledger' });
    await page.context().close();
  });

  it('refuses a stale decision with a message saying why', async () => {
    const held = await submit({ path: 'scratchpad/a.txt', content: 'a' });
    const page = await signIn(keys.approver);
    await page.goto(`${base}/approvals/actions/${held.id}`);
    // Someone else decides while the page is open.
    const elsewhere = await app.fetch(`/v1/actions/${held.id}/reject`, {
      method: 'POST',
      headers: headers(keys.approver2),
      body: JSON.stringify({ reason: 'bob said no' }),
    });
    expect(elsewhere.status).toBe(200);
    await page.getByRole('button', { name: 'Approve and execute' }).click();
    await page.getByText('Your decision was not recorded: The action is already rejected').waitFor();
    expect(await status(held.id)).toMatchObject({ status: 'rejected', approved_by: 'bob' });
    expect(await app.files.read('scratchpad/a.txt')).toBeNull();
    await page.context().close();
  });

  it('does not let an agent key sign in', async () => {
    const page = await signIn(keys.agent);
    await page.getByRole('alert').getByText('Agent keys cannot sign in: this page is for approvers').waitFor();
    expect(page.url()).toBe(`${base}/approvals/login`);
    expect(await page.context().cookies()).toEqual([]);
    await page.goto(`${base}/approvals`);
    expect(page.url()).toBe(`${base}/approvals/login`);
    await page.context().close();
  });

  it('slows down guessing: after 10 failed sign-ins from one address the page answers 429', async () => {
    const attempt = (credential: string) =>
      fetch(`${base}/approvals/login`, {
        method: 'POST',
        headers: {
          'content-type': 'application/x-www-form-urlencoded',
          origin: base,
          'x-forwarded-for': `203.0.113.${runtime === 'node' ? 7 : 8}`,
        },
        body: `credential=${credential}`,
        redirect: 'manual',
      });
    for (let i = 0; i < 10; i++) expect((await attempt(`myca_wrong${i}`)).status).toBe(401);
    const blocked = await attempt(keys.approver);
    expect(blocked.status).toBe(429);
    expect(await blocked.text()).toContain('Too many failed sign-ins');
    // Another address is not affected.
    const other = await fetch(`${base}/approvals/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', origin: base, 'x-forwarded-for': '198.51.100.1' },
      body: `credential=${keys.approver}`,
      redirect: 'manual',
    });
    expect(other.status).toBe(303);
  });

  it('refuses a decision whose CSRF token is missing, and changes nothing', async () => {
    const held = await submit({ path: 'finance/csrf.csv', content: 'x' });
    const page = await signIn(keys.approver);
    await page.goto(`${base}/approvals/actions/${held.id}`);
    await page.evaluate(() => {
      document.querySelectorAll('input[name="csrf"]').forEach((input) => {
        input.remove();
      });
    });
    await page.getByRole('button', { name: 'Approve and execute' }).click();
    await page.getByText('The form did not carry its security token (CSRF)').waitFor();
    expect((await status(held.id))?.status).toBe('pending');
    // A cross-site form post (no session cookie under SameSite=Strict, wrong Origin) is refused too.
    const forged = await fetch(`${base}/approvals/actions/${held.id}/approve`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', origin: 'https://evil.example' },
      body: `digest=${held.digest}`,
    });
    expect(forged.status).toBe(403);
    expect(await forged.json()).toMatchObject({ hint: expect.stringContaining('Origin header naming this host') });
    expect((await status(held.id))?.status).toBe('pending');
    await page.context().close();
  });

  it('shows agent text as text: markup escaped, right-to-left and zero-width characters made visible', async () => {
    const held = await submit({ path: 'finance/note.txt', content: '<img src=x onerror="document.title=1">invoice\u202Efdp.exe\u200Bend' });
    const page = await signIn(keys.approver);
    let dialogs = 0;
    page.on('dialog', () => {
      dialogs++;
    });
    await page.goto(`${base}/approvals/actions/${held.id}`);
    const preview = await page.locator('pre').first().textContent();
    expect(preview).toContain('<img src=x onerror="document.title=1">');
    expect(preview).toContain('invoice[U+202E]fdp.exe[U+200B]end');
    expect(await page.locator('main img').count()).toBe(0);
    expect(await page.title()).toContain('file.write');
    expect(dialogs).toBe(0);
    await page.context().close();
  });

  it('keeps separation of duties: an approver cannot approve what it requested', async () => {
    const held = await submit({ path: 'finance/own.csv', content: 'own' }, 'file.write', keys.admin);
    const page = await signIn(keys.admin);
    await page.goto(`${base}/approvals/actions/${held.id}`);
    await page.getByText('You requested this action yourself').waitFor();
    await page.getByRole('button', { name: 'Approve and execute' }).click();
    await page.getByText('Your decision was not recorded: An approver cannot decide an action its own principal requested').waitFor();
    expect((await status(held.id))?.status).toBe('pending');
    await page.context().close();
  });

  it('shows agent runs: a waiting run links to its held action, and after the approval the run has finished', async () => {
    const write = {
      id: 'call_1',
      type: 'function',
      function: { name: 'file_write', arguments: JSON.stringify({ path: 'finance/run.csv', content: 'run' }) },
    };
    llm.queue(
      'gpt-4o',
      completionReply('gpt-4o', { tool_calls: [write] }),
      completionReply('gpt-4o', { content: 'Written after approval.' }),
    );
    const started = await app.fetch('/v1/agents/financial/runs', {
      method: 'POST',
      headers: headers(keys.financial),
      body: JSON.stringify({ input: 'write the run file' }),
    });
    const run = (await started.json()) as { id: string; status: string };
    expect(run.status).toBe('waiting_approval');

    const page = await signIn(keys.approver);
    await page.getByRole('link', { name: 'Agent runs' }).click();
    const row = page.locator(`tr[data-run="${run.id}"]`);
    expect(await row.textContent()).toContain('waiting_approval');
    await row.getByRole('link').click();
    await page.getByRole('heading', { name: 'Waiting for a decision' }).waitFor();
    await page.getByRole('link', { name: /file\.write/ }).click();
    await page.getByRole('button', { name: 'Approve and execute' }).click();
    await page.getByText('Approved and executed.').waitFor();
    await page.getByRole('link', { name: run.id }).click();
    await expect
      .poll(async () => {
        await page.reload();
        return page.locator('#run-status').textContent();
      })
      .toBe('succeeded');
    expect(await page.locator('main').textContent()).toContain('Written after approval.');
    await page.context().close();
  });
});
