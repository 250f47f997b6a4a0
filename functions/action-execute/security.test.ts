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
import { createRun } from '../agent-run/store.js';

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
      const response = await submit({ type: 'file.read', input: { path } });
      expect([400, 403], `${path} → ${response.status}`).toContain(response.status);
      expect((await response.json()) as { action_status: string }).toMatchObject({ action_status: 'denied' });
    }
    const fine = await submit({ type: 'file.read', input: { path: 'scratch/ok.txt' } });
    expect(await fine.json()).toMatchObject({ status: 'executed', output: { content: 'fine' } });
  });

  it('refuses path traversal in every encoding, and symlinks that leave the root', async (ctx) => {
    ctx.skip(runtime !== 'node', 'Node only: symlinks exist on a file system, not in R2');
    const before = await countRows();
    const executedFiles = async () =>
      (await sql`select count(*)::int as n from action_audit_logs where status = 'executed' and action_type like 'file.%'`)[0]?.n;
    const executedBefore = await executedFiles();
    for (const path of TRAVERSALS) {
      const response = await submit({ type: 'file.read', input: { path } });
      expect([400, 403], `${path} → ${response.status}`).toContain(response.status);
      expect(JSON.stringify(await response.json())).not.toContain('outside the root');
    }
    for (const path of ['scratch/escape/secret.txt', 'scratch/link.txt']) {
      const response = await submit({ type: 'file.read', input: { path } });
      expect(response.status, path).toBe(403);
    }
    const write = await submit({ type: 'file.write', input: { path: 'scratch/escape/planted.txt', content: 'x' } });
    expect(write.status).toBe(403);
    expect(existsSync(join(outside, 'planted.txt'))).toBe(false);
    const overwrite = await submit({ type: 'file.write', input: { path: 'scratch/link.txt', content: 'x' } });
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
      const response = await submit({ type: 'http.request', input: { url } });
      expect([400, 403], `${url} → ${response.status}`).toContain(response.status);
    }
  });

  it('refuses an allowlisted name that resolves to loopback, and redirects into the network', async (ctx) => {
    ctx.skip(runtime !== 'node', "Node only: the DNS-pinning guarded fetch is Node's (workerd's fetch is the platform's)");
    const direct = await submit({ type: 'http.request', input: { url: `${redirectorUrl}/to-loopback` } });
    expect(direct.status).toBe(403);
    expect(await direct.json()).toMatchObject({ problem: { detail: expect.stringContaining('private or reserved') } });
  });

  it('passes SQL injection attempts only as bound values, in read-only transactions', async () => {
    const response = await submit({
      type: 'db.query',
      input: { query: 'actions_of_type', params: { action_type: "x'; drop table action_audit_logs; --" } },
    });
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({ output: { rows: [], row_count: 0 } });
    const [exists] = await sql`select to_regclass('action_audit_logs') is not null as ok`;
    expect(exists?.ok).toBe(true);
    const unknown = await submit({ type: 'db.query', input: { query: 'anything', params: {} } });
    expect(unknown.status).toBe(404);
    const free = await submit({ type: 'db.query', input: { query: 'audit_counts_by_status', sql: 'delete from api_keys' } });
    expect(free.status).toBe(400);
  });

  it('binds identity: a key acts only as its own agent; claiming another is a 403 that is audited', async () => {
    await app.files.write('scratch/keep.txt', 'keep');
    // The financial agent may not delete files (not in its agents.yaml actions; policy denies it too) …
    const own = await submit({ type: 'file.delete', input: { path: 'scratch/keep.txt' } }, keys.financial);
    expect(own.status).toBe(403);
    expect(await own.json()).toMatchObject({ action_status: 'denied', detail: expect.stringContaining('may not use file.delete') });
    // … and its key cannot pick another agent's policy.
    const claimed = await submit({ type: 'file.delete', input: { path: 'scratch/keep.txt' }, agent_id: 'mycology' }, keys.financial);
    expect(claimed.status).toBe(403);
    expect(claimed.headers.get('content-type')).toContain('application/problem+json');
    const refusal = (await claimed.json()) as { id: string; code: string; action_status: string };
    expect(refusal).toMatchObject({ code: 'FORBIDDEN', action_status: 'denied' });
    const [row] = await sql`select agent_id, requested_by, status, policy_rule from action_audit_logs where id = ${refusal.id}`;
    expect(row).toMatchObject({ agent_id: 'mycology', requested_by: 'financial', status: 'denied', policy_rule: 'identity' });
    const [event] = await sql`select event, actor from action_audit_events where action_id = ${refusal.id}`;
    expect(event).toMatchObject({ event: 'denied', actor: 'financial' });
    expect(await app.files.read('scratch/keep.txt')).toBe('keep');
    // Without agent_id the key acts as its own agent.
    const mine = await submit({ type: 'file.read', input: { path: 'scratch/keep.txt' } }, keys.mycology);
    expect(mine.status).toBe(200);
    expect(await mine.json()).toMatchObject({ agent_id: 'mycology', requested_by: 'mycology' });
    // Approvers decide; they cannot act as an agent.
    const approver = await submit({ type: 'db.query', input: { query: 'audit_counts_by_status' }, agent_id: 'mycology' }, keys.approver);
    expect(approver.status).toBe(403);
    // Agent runs: a key starts only the runs of its own agent.
    const run = await app.fetch('/v1/agents/mycology/runs', {
      method: 'POST',
      headers: headers(keys.financial),
      body: JSON.stringify({ input: 'list the species' }),
    });
    expect(run.status).toBe(403);
    expect(await run.json()).toMatchObject({ code: 'FORBIDDEN', hint: expect.stringContaining('financial') });
    expect((await sql`select count(*)::int as n from agent_runs`)[0]?.n).toBe(0);
  });

  it('scopes actions_of_agent to the caller: an agent lists only its own actions', async () => {
    // planner has no agents.yaml entry, so no actions list limits it to what it may query.
    await submit({ type: 'db.query', input: { query: 'audit_counts_by_status' } }, keys.agent);
    const mine = await submit({ type: 'db.query', input: { query: 'actions_of_agent' } }, keys.agent);
    expect(mine.status).toBe(200);
    const output = ((await mine.json()) as { output: { rows: Array<{ id: string }> } }).output;
    expect(output.rows.length).toBeGreaterThan(0);
    const owners = await sql`select distinct agent_id from action_audit_logs where id = any(${output.rows.map((r) => r.id)}::uuid[])`;
    expect(owners.map((o) => o.agent_id)).toEqual(['planner']);
    for (const params of [{ agent_id: 'mycology' }, { '@agent': 'mycology' }]) {
      const other = await submit({ type: 'db.query', input: { query: 'actions_of_agent', params } }, keys.agent);
      expect(other.status, JSON.stringify(params)).toBe(400);
    }
  });

  it("never shows the server's paths: a name too long is a 400 before anything runs, other file errors say what, not where", async () => {
    for (const [type, path] of [
      ['file.read', 'a'.repeat(300)],
      ['file.write', 'b'.repeat(300)],
      ['file.delete', `scratch/${'c'.repeat(256)}`],
      ['file.write', `d/${'e'.repeat(300)}/f`],
    ] as const) {
      const response = await submit({ type, input: type === 'file.write' ? { path, content: 'x' } : { path } });
      const text = await response.text();
      expect(response.status, `${type} ${path.slice(0, 12)}`).toBe(400);
      expect(text).toContain('longer than 255 bytes');
      expect(text).not.toContain(filesRoot);
    }
    // Under the 255-byte name limit but over the platform's path limit: the error still hides the root.
    const deep = Array.from({ length: 20 }, () => 'f'.repeat(250))
      .join('/')
      .slice(0, 512);
    const response = await submit({ type: 'file.read', input: { path: deep } });
    expect(response.status).toBeLessThan(500);
    expect(await response.text()).not.toContain(filesRoot);
  });

  it('refuses oversized and deeply nested input before doing anything', async () => {
    let deep: Record<string, unknown> = { path: 'a' };
    for (let i = 0; i < 40; i++) deep = { nested: deep };
    const nested = await submit({ type: 'file.read', input: deep });
    expect(nested.status).toBe(400);
    const huge = await submit({
      type: 'file.write',
      input: { path: 'scratch/big.txt', content: 'x'.repeat(1024 * 1024 + 1) },
    });
    expect(huge.status).toBe(413);
    expect(huge.headers.get('content-type')).toContain('application/problem+json');
    expect(((await huge.json()) as { hint: string }).hint).toMatch(/ACTION_MAX_FILE_BYTES/);
  });

  it('takes every write up to ACTION_MAX_FILE_BYTES (the body limit derives from it), and cuts a chunked body over its limit with 413', async () => {
    // 1 MiB of content that JSON-escapes to more than 1 MiB: above the old fixed 256 KiB body limit.
    const content = `${'"quoted"\n'.repeat(100_000)}`.slice(0, 1024 * 1024);
    const big = await submit({ type: 'file.write', input: { path: 'scratch/one-mib.txt', content } });
    expect(big.status, await big.clone().text()).toBe(200);
    expect(await app.files.read('scratch/one-mib.txt')).toBe(content);

    const limit = 6 * 1024 * 1024 + 64 * 1024;
    const chunk = new TextEncoder().encode(' '.repeat(64 * 1024));
    let sent = 0;
    const stream = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (sent > limit + chunk.byteLength) return controller.close();
        sent += chunk.byteLength;
        controller.enqueue(chunk);
      },
    });
    const over = await app.fetch('/v1/actions', {
      method: 'POST',
      headers: headers(keys.agent, 'chunked-over'),
      body: stream,
      duplex: 'half',
    } as RequestInit);
    expect(over.status).toBe(413);
    expect(over.headers.get('content-type')).toContain('application/problem+json');
    expect(await over.json()).toMatchObject({ limit_bytes: limit, hint: expect.stringMatching(/ACTION_MAX_FILE_BYTES/) });
  });

  it('redacts secrets by value in strings: a JSON password in a body, an env line in file content, X-Auth, a Bearer type', async () => {
    const stamp = `${Date.now()}`;
    const secrets = [`pw-${stamp}-a`, `auth-${stamp}-b`, `sk-${stamp}`, `tok${stamp}xyz`];
    await submit({
      type: 'http.request',
      input: {
        method: 'POST',
        url: `${redirectorUrl}/login`, // loopback: refused at connect, nothing leaves the machine
        headers: { 'X-Auth': secrets[1] },
        body: JSON.stringify({ user: 'ann', password: secrets[0] }),
      },
    });
    await submit({ type: 'file.write', input: { path: 'notes/env.txt', content: `MODE=x\nOPENAI_API_KEY=${secrets[2]}\n` } });
    const typed = await submit({ type: `file.read Bearer ${secrets[3]}`, input: {} });
    expect(typed.status).toBe(400);
    const stored = JSON.stringify([
      await sql`select action_type, inputs, outputs, error from action_audit_logs`,
      await sql`select data from action_audit_events`,
    ]);
    for (const secret of secrets) expect(stored).not.toContain(secret);
    expect(JSON.stringify(app.logs())).not.toContain(secrets[3]);
  });

  it('never stores, logs or traces a canary secret given in inputs', async () => {
    const canary = ['sk', 'proj', `${'Q'.repeat(12)}${Date.now()}`].join('-');
    const bearer = `Bearer ${'t'.repeat(24)}`;
    await submit({
      type: 'http.request',
      input: { url: 'http://api.example.org/v1', headers: { authorization: bearer, 'x-note': `key ${canary}` } },
    });
    await submit({ type: 'file.read', input: { path: `scratch/${canary}.txt` } });
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

  it('holds a configured agent to its agents.yaml actions: others are a 403 audited as agent-actions', async () => {
    // mycology lists mindex.*, file.read: not file.write, file.delete or db.query.
    await app.files.write('scratch/mycology-keep.txt', 'keep');
    for (const body of [
      { type: 'file.write', input: { path: 'scratch/from-mycology.txt', content: 'not in my list' } },
      { type: 'file.delete', input: { path: 'scratch/mycology-keep.txt' } },
      { type: 'db.query', input: { query: 'audit_counts_by_status' } },
    ]) {
      const response = await submit(body, keys.mycology);
      expect(response.status, body.type).toBe(403);
      const refusal = (await response.json()) as { id: string };
      expect(refusal).toMatchObject({ code: 'FORBIDDEN', action_status: 'denied', hint: expect.stringContaining('file.read') });
      const [row] = await sql`select status, policy_rule, agent_id from action_audit_logs where id = ${refusal.id}`;
      expect(row).toMatchObject({ status: 'denied', policy_rule: 'agent-actions', agent_id: 'mycology' });
    }
    expect(await app.files.read('scratch/mycology-keep.txt')).toBe('keep');
    expect(await app.files.read('scratch/from-mycology.txt')).toBeNull();
    // What it lists still runs; an agent without an agents.yaml entry (planner) is not limited by one.
    expect((await submit({ type: 'file.read', input: { path: 'scratch/mycology-keep.txt' } }, keys.mycology)).status).toBe(200);
    expect((await submit({ type: 'file.read', input: { path: 'scratch/mycology-keep.txt' } }, keys.agent)).status).toBe(200);
  });

  it("ties run_id to the caller: another agent's run, or none, is a 404 audited as denied", async () => {
    const run = await createRun(
      sql,
      {
        agentName: 'financial',
        requestedBy: 'financial',
        correlationId: 'c'.repeat(32),
        idempotencyKey: idem(),
        requestHash: 'x',
        input: 'pay the vendor',
        messages: [],
        owner: 'test',
        leaseMs: 3_600_000,
      },
      { type: 'started', data: {} },
    );
    const foreign = await submit(
      { type: 'file.write', input: { path: 'scratch/joined.txt', content: 'x' }, run_id: run?.id },
      keys.corporate,
    );
    expect(foreign.status).toBe(404);
    expect(foreign.headers.get('content-type')).toContain('application/problem+json');
    const refusal = (await foreign.json()) as { id: string };
    const [row] = await sql`select status, policy_rule, agent_run_id, agent_id from action_audit_logs where id = ${refusal.id}`;
    expect(row).toMatchObject({ status: 'denied', policy_rule: 'run', agent_run_id: run?.id, agent_id: 'corporate' });
    expect(await app.files.read('scratch/joined.txt')).toBeNull();
    const unknown = await submit(
      { type: 'file.read', input: { path: 'scratch/mycology-keep.txt' }, run_id: crypto.randomUUID() },
      keys.financial,
    );
    expect(unknown.status).toBe(404);
    // The run's own agent and key may name it.
    const own = await submit({ type: 'file.read', input: { path: 'scratch/mycology-keep.txt' }, run_id: run?.id }, keys.financial);
    expect(own.status).toBe(200);
    expect(await own.json()).toMatchObject({ agent_run_id: run?.id });
  });

  it('keeps the secrets the review found out of audit rows: Token scheme, GitHub/GitLab tokens, a PEM key without END', async () => {
    const parts = {
      token: ['9f8e7d6c5b4a', '39281706f5e4d3c2b1a0'].join(''),
      pat: ['github_pat_', '11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyz'].join(''),
      glpat: ['glpat-', 'abcdefghij1234567890'].join(''),
      pem: ['-----BEGIN RSA PRIVATE KEY-----\n', 'MIIEowIBAAKCAQEAsecretbody\n'].join(''),
    };
    const content = `Authorization: Token ${parts.token}\n${parts.pat}\n${parts.glpat}\n${parts.pem}`;
    const response = await submit({ type: 'file.write', input: { path: 'scratch/notes.txt', content } }, keys.corporate);
    const { id } = (await response.json()) as { id: string };
    const [row] = await sql`select inputs from action_audit_logs where id = ${id}`;
    const stored = JSON.stringify(row?.inputs);
    for (const secret of [parts.token, parts.pat, parts.glpat, 'MIIEowIBAAKCAQEAsecretbody']) expect(stored).not.toContain(secret);
    expect(stored).toContain('Authorization: Token ***');
  });
});
