import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiKeys, headers, keys, migratedDatabase } from './support/actions.js';
import type { TestDatabase } from './support/databases.js';
import { RUNTIMES, type RuntimeHandle, startRuntime } from './support/runtimes.js';

// An approval executes the unredacted snapshot, but the approver reviews the redacted input. Text
// that only looks like a secret (a JSON member named password, an env line named *_KEY) is masked,
// so whatever an agent writes there reaches the file without anyone having seen it.
const HIDDEN = '2026-11-02,cash,-250000.00,transfer to acct 999';
const LEDGER = `date,account,amount,memo\n2026-11-01,cash,100.00,opening\n"password":"\n${HIDDEN}\n"\n`;

describe.each(RUNTIMES)('reviewing a held write on %s', (runtime) => {
  let database: TestDatabase;
  let app: RuntimeHandle;
  const filesRoot = mkdtempSync(join(tmpdir(), 'myca-review-'));
  let counter = 0;

  beforeAll(async () => {
    database = await migratedDatabase();
    app = await startRuntime(runtime, { DATABASE_URL: database.url, MYCA_API_KEYS: apiKeys, MYCA_FILES_ROOT: filesRoot });
  });
  afterAll(async () => {
    await app?.close();
    await database?.drop();
    rmSync(filesRoot, { recursive: true, force: true });
  });

  const hold = async (path: string, content: string) => {
    const response = await app.fetch('/v1/actions', {
      method: 'POST',
      headers: headers(keys.financial, `review-${runtime}-${counter++}`),
      body: JSON.stringify({ type: 'file.write', input: { path, content } }),
    });
    expect(response.status).toBe(202);
    return (await response.json()) as { id: string; digest: string };
  };

  /** The approvals page's detail of an action, as a signed-in approver sees it. */
  const reviewPage = async (id: string) => {
    const base = await app.url();
    const signIn = await fetch(`${base}/approvals/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', origin: base },
      body: new URLSearchParams({ credential: keys.approver }).toString(),
      redirect: 'manual',
    });
    expect(signIn.status, await signIn.clone().text()).toBe(303);
    const cookie = (signIn.headers.get('set-cookie') ?? '').split(';')[0] ?? '';
    const page = await fetch(`${base}/approvals/actions/${id}`, { headers: { cookie } });
    expect(page.status).toBe(200);
    return page.text();
  };

  it('shows the approver every line a held write puts in the file before it can be approved', async () => {
    const held = await hold('finance/ledger-review.csv', LEDGER);
    const html = await reviewPage(held.id);
    // What the approval executes: the whole content, the hidden line included.
    const approved = await app.fetch(`/v1/actions/${held.id}/approve`, {
      method: 'POST',
      headers: headers(keys.approver),
      body: JSON.stringify({ digest: held.digest }),
    });
    expect(approved.status).toBe(200);
    expect(await app.files.read('finance/ledger-review.csv')).toContain(HIDDEN);
    expect(html, 'the review page never showed the line the approval wrote').toContain(HIDDEN);
  });

  it('tells the approver how many bytes a held write puts in the file', async () => {
    const held = await hold('finance/ledger-bytes.csv', LEDGER);
    const html = await reviewPage(held.id);
    const bytes = new TextEncoder().encode(LEDGER).byteLength;
    const shown = /Write <strong>(\d+) bytes<\/strong>/.exec(html)?.[1];
    expect(Number(shown), `the page says ${shown} bytes`).toBe(bytes);
  });

  it('warns the approver when parts of the request are masked as secrets, and that approving runs them unseen', async () => {
    const held = await hold('finance/ledger-masked.csv', `date,account\n"password":"${HIDDEN}"\n`);
    const html = await reviewPage(held.id);
    expect(html).not.toContain(HIDDEN);
    expect(html).toContain('Parts of this request look like secrets and are shown here as ***');
    const plain = await reviewPage((await hold('finance/ledger-plain.csv', 'date,account\n')).id);
    expect(plain).not.toContain('Parts of this request look like secrets');
  });

  it('does not tell the approver of masked secrets when nothing is masked: a NUL character is shown, not hidden', async () => {
    const html = await reviewPage((await hold('finance/ledger-nul.csv', 'date,account\n2026-11-01,cash\u0000\n')).id);
    expect(html).not.toContain('Parts of this request look like secrets');
  });
});
