import { mkdtempSync, readdirSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiKeys, headers, keys, migratedDatabase } from './support/actions.js';
import type { TestDatabase } from './support/databases.js';
import { type RuntimeHandle, startRuntime } from './support/runtimes.js';
import { type Started, start, stop } from './support/server-process.js';
import { startTcpProxy, type TcpProxy } from './support/tcp-proxy.js';

/** A loopback upstream for http.request that answers after `delayMs`: actions that stay `executing` a while. */
async function slowUpstream(delayMs: number) {
  let received = 0;
  const waiters: Array<() => void> = [];
  const server = createServer((_request, response) => {
    received++;
    for (const wake of waiters.splice(0)) wake();
    const timer = setTimeout(() => response.end('slow ok'), delayMs);
    response.on('close', () => clearTimeout(timer));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/slow`,
    /** Resolves once `n` requests have arrived (their actions are executing). */
    received: async (n: number) => {
      while (received < n) await new Promise<void>((resolve) => waiters.push(resolve));
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** `count` slow GETs through http.request (auto-approved); resolves with the key and body of each. */
function slowRequests(app: { fetch: RuntimeHandle['fetch'] }, url: string, count: number, prefix: string) {
  return Promise.all(
    Array.from({ length: count }, async (_, i) => {
      const key = `${prefix}-slow-${i}`;
      // planner: no agents.yaml entry limits its actions (corporate's list has no http.request).
      const body = JSON.stringify({ type: 'http.request', input: { method: 'GET', url }, agent_id: 'planner' });
      const response = await app.fetch('/v1/actions', { method: 'POST', headers: headers(keys.agent, key), body }).catch(() => null);
      await response?.arrayBuffer().catch(() => undefined);
      return { key, body, status: response?.status ?? 0 };
    }),
  );
}

/** Eight clients writing scratch files (auto-approved) until stopped; what each was answered. */
function writeLoad(app: { fetch: RuntimeHandle['fetch'] }, prefix = 'fault') {
  let n = 0;
  let stopped = false;
  const statuses: number[] = [];
  /** Requests answered 503 ("nothing was executed; retry with the same Idempotency-Key"), by key. */
  const unavailable = new Map<string, string>();
  const submitter = async () => {
    while (!stopped) {
      const i = n++;
      const key = `${prefix}-${i}`;
      const body = JSON.stringify({ type: 'file.write', input: { path: `scratch/${key}.txt`, content: String(i) }, agent_id: 'corporate' });
      const response = await app.fetch('/v1/actions', { method: 'POST', headers: headers(keys.corporate, key), body }).catch(() => null);
      statuses.push(response?.status ?? 0);
      if (!response || response.status === 503) unavailable.set(key, body);
      await response?.arrayBuffer();
    }
  };
  const running = Promise.all(Array.from({ length: 8 }, submitter));
  return {
    stop: async () => {
      stopped = true;
      await running;
      return { statuses, unavailable };
    },
  };
}

/**
 * A retry of every request that was answered 503 gets a final answer (the outcome, or why it was
 * interrupted), never 409 "still running" for ever. Then, after the leases ran out and a sweep: no
 * action is left approved or executing; every file on disk belongs to an executed action and every
 * executed file.write wrote its file; the events match the states; the chain verifies.
 */
async function expectRecovered(
  app: { fetch: RuntimeHandle['fetch']; sweep?: () => Promise<void> },
  admin: postgres.Sql,
  filesRoot: string,
  unavailable: Map<string, string>,
) {
  const sweep = async () => {
    await new Promise((resolve) => setTimeout(resolve, 1100)); // ACTION_LEASE_S=1; the server process sweeps every second
    await app.sweep?.();
  };
  // A retry gets the outcome, or 409 with Retry-After while the action is still its worker's (an
  // insert the outage held may commit only now): then, after that wait and a sweep, the outcome.
  for (const [key, body] of unavailable) {
    let status = 0;
    for (let attempt = 0; attempt < 5; attempt++) {
      const keyOf = body.includes('"agent_id":"planner"') ? keys.agent : keys.corporate;
      const retried = await app.fetch('/v1/actions', { method: 'POST', headers: headers(keyOf, key), body });
      status = retried.status;
      const wait = Number(retried.headers.get('retry-after') ?? 0);
      await retried.arrayBuffer();
      if (status !== 409) break;
      expect(wait, key).toBeGreaterThanOrEqual(1);
      await sweep();
    }
    expect([200, 502], `${key}: ${status}`).toContain(status);
  }
  await sweep();
  const unfinished = await admin`select id, status from action_audit_logs where status in ('approved', 'executing')`;
  expect(unfinished, JSON.stringify(unfinished)).toHaveLength(0);
  const rows = await admin<{ path: string; status: string; type: string }[]>`
    select inputs->>'path' as path, status, action_type as type from action_audit_logs where action_type = 'file.write'`;
  const byPath = new Map(rows.map((row) => [row.path, row.status]));
  const written = readdirSync(join(filesRoot, 'scratch')).map((file) => `scratch/${file}`);
  for (const path of written) expect(byPath.get(path), path).toBe('executed');
  for (const [path, status] of byPath) if (status === 'executed' && path.startsWith('scratch/')) expect(written).toContain(path);
  const broken = await admin`
    select l.id from action_audit_logs l
    where not exists (select 1 from action_audit_events e where e.action_id = l.id and e.event = 'requested')
       or (l.status = 'executed' and not exists (select 1 from action_audit_events e where e.action_id = l.id and e.event = 'executed'))
       or (l.status = 'failed' and not exists (select 1 from action_audit_events e where e.action_id = l.id and e.event in ('failed', 'interrupted')))`;
  expect(broken).toHaveLength(0);
  const verified = (await (await app.fetch('/v1/audit/verify', { headers: headers(keys.admin) })).json()) as { ok: boolean };
  expect(verified, JSON.stringify(verified)).toMatchObject({ ok: true });
}

describe('action-execute while Postgres connections are cut (node)', () => {
  let database: TestDatabase;
  let app: RuntimeHandle;
  let admin: postgres.Sql;
  let filesRoot: string;

  beforeAll(async () => {
    database = await migratedDatabase();
    admin = postgres(database.url, { max: 1, onnotice: () => {} });
    filesRoot = mkdtempSync(join(tmpdir(), 'myca-fault-'));
    app = await startRuntime('node', {
      DATABASE_URL: database.url,
      MYCA_API_KEYS: apiKeys,
      MYCA_FILES_ROOT: filesRoot,
      ACTION_LEASE_S: '1',
      // A lease must outlast every action timeout (config refuses less): short ones for a short lease.
      ACTION_TIMEOUT_MS: '400',
      ACTION_HTTP_TIMEOUT_MS: '400',
    });
  });
  afterAll(async () => {
    await app?.close();
    await admin?.end();
    await database?.drop();
  });

  it('answers 503 during the cut, never executes without its audit row, leaves nothing half-written and recovers by itself', async () => {
    const load = writeLoad(app);
    await new Promise((resolve) => setTimeout(resolve, 300));
    // Cut every connection the app holds, several times over a second.
    for (let cut = 0; cut < 5; cut++) {
      await admin`select pg_terminate_backend(pid) from pg_stat_activity where datname = current_database() and pid <> pg_backend_pid() and application_name = 'myca-edge'`;
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    await new Promise((resolve) => setTimeout(resolve, 500));
    const { statuses, unavailable } = await load.stop();

    expect(statuses.length).toBeGreaterThan(20);
    expect(
      statuses.every((s) => s === 200 || s === 503),
      JSON.stringify([...new Set(statuses)]),
    ).toBe(true);
    expect(statuses.filter((s) => s === 200).length).toBeGreaterThan(0);

    const rows = await admin<
      { path: string; status: string }[]
    >`select inputs->>'path' as path, status from action_audit_logs where action_type = 'file.write'`;
    const byPath = new Map(rows.map((row) => [row.path, row.status]));
    const written = readdirSync(join(filesRoot, 'scratch')).map((file) => `scratch/${file}`);
    // Every file on disk has its audit row (executed, or executing when only the outcome was lost).
    for (const path of written) expect(['executed', 'executing'], path).toContain(byPath.get(path));
    // Every row that says executed really was.
    for (const [path, status] of byPath) if (status === 'executed') expect(written).toContain(path);
    await expectRecovered(app, admin, filesRoot, unavailable);

    // Recovered with no restart.
    const after = await app.fetch('/v1/actions', {
      method: 'POST',
      headers: headers(keys.agent, 'fault-after'),
      body: JSON.stringify({ type: 'file.write', input: { path: 'scratch/after.txt', content: 'ok' } }),
    });
    expect(after.status).toBe(200);
  }, 30_000);
});

describe('action-execute while Postgres is unreachable for seconds (node, through a TCP proxy)', () => {
  let database: TestDatabase;
  let app: RuntimeHandle;
  let admin: postgres.Sql;
  let proxy: TcpProxy;
  let filesRoot: string;

  beforeAll(async () => {
    database = await migratedDatabase();
    admin = postgres(database.url, { max: 1, onnotice: () => {} });
    const target = new URL(database.url);
    // The app reaches Postgres through a proxy the test cuts: Postgres "goes away" for it alone.
    proxy = await startTcpProxy({ host: target.hostname, port: Number(target.port || 5432) });
    const through = new URL(database.url);
    through.host = `127.0.0.1:${proxy.port}`;
    filesRoot = mkdtempSync(join(tmpdir(), 'myca-outage-'));
    app = await startRuntime('node', {
      DATABASE_URL: through.toString(),
      MYCA_API_KEYS: apiKeys,
      MYCA_FILES_ROOT: filesRoot,
      ACTION_LEASE_S: '1',
      // A lease must outlast every action timeout (config refuses less): short ones for a short lease.
      ACTION_TIMEOUT_MS: '400',
      ACTION_HTTP_TIMEOUT_MS: '400',
    });
  });
  afterAll(async () => {
    await app?.close();
    await proxy?.close();
    await admin?.end();
    await database?.drop();
  });

  it('leaves no action unfinished after the outage, and a retry with the same Idempotency-Key gets a final answer', async () => {
    const load = writeLoad(app, 'outage');
    await new Promise((resolve) => setTimeout(resolve, 400));
    // Longer than an audit write may take (10 s): the clients waiting are told "nothing was executed;
    // retry with the same Idempotency-Key" (the finding's 16 s outage, shortened).
    await proxy.cut();
    await new Promise((resolve) => setTimeout(resolve, 11_000));
    await proxy.restore();
    await new Promise((resolve) => setTimeout(resolve, 1000));
    const { statuses, unavailable } = await load.stop();
    expect(statuses.filter((s) => s === 200).length).toBeGreaterThan(0);
    expect(unavailable.size).toBeGreaterThan(0);
    // Whatever the outage left unfinished (this driver queues and retries, so often nothing) is ended.
    await expectRecovered(app, admin, filesRoot, unavailable);
  }, 60_000);

  it('finishes the inserts that committed after their clients were told 503 (Postgres hanging for 12 s)', async () => {
    // The queries already sent wait in the network; after 10 s their callers hear "nothing was executed;
    // retry with the same Idempotency-Key", then Postgres gets them and commits: `executing` rows
    // nobody runs, and before leases their retry was 409 "still running" for ever (the finding). It
    // takes an insert among the statements in flight when Postgres hangs: up to three hangs.
    const unavailable = new Map<string, string>();
    let stuck: Array<{ key: string }> = [];
    for (let round = 0; round < 3 && stuck.length === 0; round++) {
      const load = writeLoad(app, `hang${round}`);
      await new Promise((resolve) => setTimeout(resolve, 400));
      proxy.pause();
      await new Promise((resolve) => setTimeout(resolve, 12_000));
      proxy.resume();
      await new Promise((resolve) => setTimeout(resolve, 1000));
      for (const [key, body] of (await load.stop()).unavailable) unavailable.set(key, body);
      stuck = await admin<{ key: string }[]>`
        select idempotency_key as key from action_audit_logs where status = 'executing' and idempotency_key like 'hang%'`;
    }
    expect(stuck.length).toBeGreaterThan(0);
    for (const { key } of stuck) expect(unavailable.has(key), key).toBe(true);
    await expectRecovered(app, admin, filesRoot, unavailable);
    // Their retries got the re-run's outcome: executed, the file written once.
    for (const { key } of stuck) expect(readdirSync(join(filesRoot, 'scratch'))).toContain(`${key}.txt`);
  }, 90_000);
});

describe('the Node server killed (SIGKILL) under load, then started again', () => {
  let database: TestDatabase;
  let admin: postgres.Sql;
  let server: Started | undefined;
  let filesRoot: string;
  let env: Record<string, string>;
  let upstream: Awaited<ReturnType<typeof slowUpstream>>;

  beforeAll(async () => {
    database = await migratedDatabase();
    admin = postgres(database.url, { max: 1, onnotice: () => {} });
    filesRoot = mkdtempSync(join(tmpdir(), 'myca-kill-'));
    upstream = await slowUpstream(60_000);
    env = {
      ACTION_HTTP_ALLOW_HOSTS: '127.0.0.1',
      ACTION_HTTP_ALLOW_PRIVATE: 'true',
      DATABASE_URL: database.url,
      MYCA_API_KEYS: apiKeys,
      MYCA_FILES_ROOT: filesRoot,
      MYCA_ENV: 'test',
      LOG_LEVEL: 'info',
      // The slow requests must still be running at the kill: a lease above their 2 s timeout.
      ACTION_LEASE_S: '3',
      ACTION_TIMEOUT_MS: '2000',
      ACTION_HTTP_TIMEOUT_MS: '2000',
      ACTION_SWEEP_INTERVAL_S: '1',
    };
    server = await start(env, { direct: true });
  }, 90_000);
  afterAll(async () => {
    await upstream?.close();
    if (server && server.child.exitCode === null) await stop(server);
    await admin?.end();
    await database?.drop();
  });

  it('leaves no action approved or executing once the new process has swept', async () => {
    const first = server as Started;
    const remote = { fetch: (path: string, init?: RequestInit) => fetch(`${first.url}${path}`, init) };
    const load = writeLoad(remote, 'kill');
    // Held writes (notes/ waits for an approver), approved while the load runs.
    let held = 0;
    let approving = true;
    const approver = (async () => {
      while (approving) {
        const key = `held-${held++}`;
        const submitted = await remote
          .fetch('/v1/actions', {
            method: 'POST',
            headers: headers(keys.corporate, key),
            body: JSON.stringify({ type: 'file.write', input: { path: `notes/${key}.txt`, content: key }, agent_id: 'corporate' }),
          })
          .catch(() => null);
        if (submitted?.status !== 202) continue;
        const { id, digest } = (await submitted.json()) as { id: string; digest: string };
        await remote
          .fetch(`/v1/actions/${id}/approve`, { method: 'POST', headers: headers(keys.approver), body: JSON.stringify({ digest }) })
          .then((response) => response.arrayBuffer())
          .catch(() => null);
      }
    })();
    // Two actions certainly executing when the process dies.
    const slow = slowRequests(remote, upstream.url, 2, 'kill');
    await upstream.received(2);
    await new Promise((resolve) => setTimeout(resolve, 500));
    first.child.kill('SIGKILL');
    const { statuses } = await load.stop();
    approving = false;
    await approver;
    await slow;
    expect(statuses.filter((s) => s === 200).length).toBeGreaterThan(0);
    const stuck = await admin`select id from action_audit_logs where status in ('approved', 'executing')`;
    expect(stuck.length).toBeGreaterThanOrEqual(2); // what used to stay for ever

    server = await start(env, { direct: true });
    const again = server;
    // The new process sweeps at start and every second; leases are one second.
    const deadline = Date.now() + 30_000;
    for (;;) {
      const [row] = await admin<
        { n: number }[]
      >`select count(*)::int as n from action_audit_logs where status in ('approved', 'executing')`;
      if (row?.n === 0 || Date.now() > deadline) break;
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    const slowRetries = new Map((await slow).map((request) => [request.key, request.body]));
    await expectRecovered({ fetch: (path, init) => fetch(`${again.url}${path}`, init) }, admin, filesRoot, slowRetries);
    // Every approved write that ran wrote its file; none ran twice into a failure.
    const notes = await admin<{ path: string; status: string }[]>`
      select inputs->>'path' as path, status from action_audit_logs where inputs->>'path' like 'notes/%'`;
    for (const note of notes) {
      if (note.status === 'executed') expect(readdirSync(join(filesRoot, 'notes'))).toContain(note.path.slice('notes/'.length));
    }
  }, 120_000);
});
