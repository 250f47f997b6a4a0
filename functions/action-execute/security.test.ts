import { existsSync, mkdirSync, mkdtempSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiKeys, headers, keys, migratedDatabase } from '../../test/support/actions.js';
import type { TestDatabase } from '../../test/support/databases.js';
import { eventually, RUNTIMES, type RuntimeHandle, startRuntime } from '../../test/support/runtimes.js';

let counter = 0;
const idem = () => `sec-${Date.now()}-${counter++}`;

/** Paths that try to leave the files root, in every encoding the checks know. */
const TRAVERSALS = [
  '../root-evil/secret.txt',
  'scratch/../../root-evil/secret.txt',
  '%2e%2e/root-evil/secret.txt',
  '%252e%252e/root-evil/secret.txt',
  '..%2froot-evil%2fsecret.txt',
  '．．/root-evil/secret.txt',
  '/etc/passwd',
  'C:/Windows/win.ini',
  'scratch\\..\\..\\etc\\passwd',
  'scratch/ok.txt\u0000.png',
];

describe.each(RUNTIMES)('action-execute on %s (security)', (runtime) => {
  let database: TestDatabase;
  let app: RuntimeHandle;
  let sql: postgres.Sql;
  let filesRoot: string;
  let outside: string;
  let redirector: ReturnType<typeof createServer>;
  let redirectorUrl: string;
  const submit = (body: unknown, key = keys.agent) =>
    app.fetch('/v1/actions', { method: 'POST', headers: headers(key, idem()), body: JSON.stringify(body) });
  const countRows = async () => Number((await sql`select count(*)::int as n from action_audit_logs where status <> 'denied'`)[0]?.n);

  beforeAll(async () => {
    database = await migratedDatabase();
    sql = postgres(database.url, { max: 1, onnotice: () => {} });
    const base = mkdtempSync(join(tmpdir(), 'myca-sec-'));
    filesRoot = join(base, 'root');
    outside = join(base, 'root-evil');
    mkdirSync(join(filesRoot, 'scratch'), { recursive: true });
    mkdirSync(outside);
    writeFileSync(join(outside, 'secret.txt'), 'outside the root');
    writeFileSync(join(filesRoot, 'scratch', 'ok.txt'), 'inside');
    symlinkSync(outside, join(filesRoot, 'scratch', 'escape'));
    symlinkSync(join(outside, 'secret.txt'), join(filesRoot, 'scratch', 'link.txt'));
    // An allowlisted host that redirects to loopback and to the metadata address.
    redirector = createServer((request, response) => {
      const target = request.url === '/to-metadata' ? 'http://169.254.169.254/latest/meta-data/' : 'http://127.0.0.1:1/admin';
      response.writeHead(302, { location: target });
      response.end();
    });
    await new Promise<void>((resolve) => redirector.listen(0, '127.0.0.1', resolve));
    redirectorUrl = `http://localhost:${(redirector.address() as AddressInfo).port}`;
    app = await startRuntime(runtime, {
      DATABASE_URL: database.url,
      MYCA_API_KEYS: apiKeys,
      MYCA_FILES_ROOT: filesRoot,
      // localhost is allowlisted by name, but it resolves to loopback: the connection must refuse it.
      ACTION_HTTP_ALLOW_HOSTS: 'localhost,api.example.org,169.254.169.254,2130706433,[::1],[::ffff:127.0.0.1],0x7f.1,127.1',
      APPROVAL_REQUIRED: 'false',
    });
  });
  afterAll(async () => {
    await app?.close();
    redirector?.close();
    await sql?.end();
    await database?.drop();
  });

  it('refuses path traversal in every encoding before anything reads the files (folder on Node, R2 bucket in workerd)', async () => {
    await app.files.write('scratch/ok.txt', 'fine');
    for (const path of TRAVERSALS) {
      const response = await submit({ type: 'file.read', input: { path }, agent_id: 'x' });
      expect([400, 403], `${path} → ${response.status}`).toContain(response.status);
      expect((await response.json()) as { action_status: string }).toMatchObject({ action_status: 'denied' });
    }
    const fine = await submit({ type: 'file.read', input: { path: 'scratch/ok.txt' }, agent_id: 'x' });
    expect(await fine.json()).toMatchObject({ status: 'executed', output: { content: 'fine' } });
  });

  it('refuses path traversal in every encoding, and symlinks that leave the root', async (ctx) => {
    ctx.skip(runtime !== 'node', 'Node only: symlinks exist on a file system, not in R2');
    const before = await countRows();
    const executedFiles = async () =>
      (await sql`select count(*)::int as n from action_audit_logs where status = 'executed' and action_type like 'file.%'`)[0]?.n;
    const executedBefore = await executedFiles();
    for (const path of TRAVERSALS) {
      const response = await submit({ type: 'file.read', input: { path }, agent_id: 'x' });
      expect([400, 403], `${path} → ${response.status}`).toContain(response.status);
      expect(JSON.stringify(await response.json())).not.toContain('outside the root');
    }
    for (const path of ['scratch/escape/secret.txt', 'scratch/link.txt']) {
      const response = await submit({ type: 'file.read', input: { path }, agent_id: 'x' });
      expect(response.status, path).toBe(403);
    }
    const write = await submit({ type: 'file.write', input: { path: 'scratch/escape/planted.txt', content: 'x' }, agent_id: 'x' });
    expect(write.status).toBe(403);
    expect(existsSync(join(outside, 'planted.txt'))).toBe(false);
    const overwrite = await submit({ type: 'file.write', input: { path: 'scratch/link.txt', content: 'x' }, agent_id: 'x' });
    expect(overwrite.status).toBe(403);
    expect(readFileSync(join(outside, 'secret.txt'), 'utf8')).toBe('outside the root');
    // The lexical refusals never became actions; the four symlink cases ran and failed, none executed.
    expect(await countRows()).toBe(before + 4);
    expect(await executedFiles()).toBe(executedBefore);
  });

  it('refuses SSRF: metadata, loopback in decimal/hex/short/IPv6/mapped forms, hosts off the list, other schemes', async () => {
    const urls = [
      'http://169.254.169.254/latest/meta-data/',
      'http://2130706433/',
      'http://0x7f.1/',
      'http://127.1/',
      'http://[::1]/',
      'http://[::ffff:127.0.0.1]/',
      'http://evil.example.net/',
      'file:///etc/passwd',
      'gopher://localhost:6379/_INFO',
      `http://${['user', 'pass'].join(':')}@api.example.org/`, // built at run time for the secret scanner
    ];
    for (const url of urls) {
      const response = await submit({ type: 'http.request', input: { url }, agent_id: 'x' });
      expect([400, 403], `${url} → ${response.status}`).toContain(response.status);
    }
  });

  it('refuses an allowlisted name that resolves to loopback, and redirects into the network', async (ctx) => {
    ctx.skip(runtime !== 'node', "Node only: the DNS-pinning guarded fetch is Node's (workerd's fetch is the platform's)");
    const direct = await submit({ type: 'http.request', input: { url: `${redirectorUrl}/to-loopback` }, agent_id: 'x' });
    expect(direct.status).toBe(403);
    expect(await direct.json()).toMatchObject({ problem: { detail: expect.stringContaining('private or reserved') } });
  });

  it('passes SQL injection attempts only as bound values, in read-only transactions', async () => {
    const response = await submit({
      type: 'db.query',
      input: { query: 'actions_of_agent', params: { agent_id: "x'; drop table action_audit_logs; --" } },
      agent_id: 'x',
    });
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({ output: { rows: [], row_count: 0 } });
    const [exists] = await sql`select to_regclass('action_audit_logs') is not null as ok`;
    expect(exists?.ok).toBe(true);
    const unknown = await submit({ type: 'db.query', input: { query: 'anything', params: {} }, agent_id: 'x' });
    expect(unknown.status).toBe(404);
    const free = await submit({ type: 'db.query', input: { query: 'audit_counts_by_status', sql: 'delete from api_keys' }, agent_id: 'x' });
    expect(free.status).toBe(400);
  });

  it('refuses oversized and deeply nested input before doing anything', async () => {
    let deep: Record<string, unknown> = { path: 'a' };
    for (let i = 0; i < 40; i++) deep = { nested: deep };
    const nested = await submit({ type: 'file.read', input: deep, agent_id: 'x' });
    expect(nested.status).toBe(400);
    const huge = await submit({ type: 'file.write', input: { path: 'scratch/big.txt', content: 'x'.repeat(300 * 1024) }, agent_id: 'x' });
    expect(huge.status).toBe(413);
  });

  it('never stores, logs or traces a canary secret given in inputs', async () => {
    const canary = ['sk', 'proj', `${'Q'.repeat(12)}${Date.now()}`].join('-');
    const bearer = `Bearer ${'t'.repeat(24)}`;
    await submit({
      type: 'http.request',
      input: { url: 'http://api.example.org/v1', headers: { authorization: bearer, 'x-note': `key ${canary}` } },
      agent_id: 'x',
    });
    await submit({ type: 'file.read', input: { path: `scratch/${canary}.txt` }, agent_id: 'x' });
    const rows = await sql`select inputs, outputs, error from action_audit_logs`;
    const events = await sql`select data from action_audit_events`;
    const stored = JSON.stringify([rows, events]);
    expect(stored).not.toContain(canary);
    expect(stored).not.toContain('t'.repeat(24));
    await eventually(() => app.logs().length > 0);
    expect(JSON.stringify(app.logs())).not.toContain(canary);
    const spans = app.spans?.getFinishedSpans() ?? [];
    expect(JSON.stringify(spans.map((span) => span.attributes))).not.toContain(canary);
  });
});
