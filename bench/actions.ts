/**
 * `npm run bench:actions`: auto-approved file.read through POST /v1/actions, each with its audit
 * record and events, 50 concurrent clients against the Node server (its own process). Two rows:
 * the local Postgres (as deployed) and the embedded default (PGlite, `npm start` with no
 * DATABASE_URL). Prints actions/s, p50/p99, the audit rows lost (200s without an executed row) and
 * the server's RSS at the end. BENCH_ROWS=postgres or =embedded runs one.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import autocannon from 'autocannon';
import { ROOT_DIR } from '../shared/runtime/node-config.js';
import { benchDatabase, buildServer, imageNodeOptions, serverArgs } from './server.js';

const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 50);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 10);
const ROWS = (process.env.BENCH_ROWS ?? 'postgres,embedded').split(',');
const KEY = `myca_${'k'.repeat(40)}`;

const files = mkdtempSync(join(tmpdir(), 'myca-bench-files-'));
mkdirSync(join(files, 'species'));
writeFileSync(join(files, 'species', 'pleurotus.md'), '# Pleurotus ostreatus\nOyster mushroom; grows on hardwood.\n'.repeat(8));

async function startServer(env: Record<string, string>): Promise<{ server: ChildProcess; url: string }> {
  let server: ChildProcess | undefined;
  const url = await new Promise<string>((resolve, reject) => {
    server = spawn(process.execPath, serverArgs(), {
      cwd: ROOT_DIR,
      env: {
        PATH: process.env.PATH ?? '',
        HOME: process.env.HOME ?? '/tmp',
        PORT: '0',
        MYCA_ENV: 'production',
        LOG_LEVEL: 'info',
        MYCA_API_KEYS: `mycology:agent:${KEY},auditor:admin:${KEY}x`,
        MYCA_FILES_ROOT: files,
        NODE_OPTIONS: imageNodeOptions(),
        ...env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    const onData = (chunk: Buffer) => {
      if (output.length > 100_000) return;
      output += chunk.toString();
      const match = /"msg":"MYCA Edge is listening".*?"url":"([^"]+)"/.exec(output);
      if (match?.[1]) resolve(match[1]);
    };
    server.stdout?.on('data', onData);
    server.stderr?.on('data', onData);
    server.once('exit', (code) => reject(new Error(`server exited ${code}:\n${output}`)));
  });
  return { server: server as ChildProcess, url };
}

/** Resident set of a process in MB (ps), or '?' where ps is missing. */
function rssMb(pid: number | undefined): string {
  try {
    return String(
      Math.round(
        Number(
          execFileSync('ps', ['-o', 'rss=', '-p', String(pid)])
            .toString()
            .trim(),
        ) / 1024,
      ),
    );
  } catch {
    return '?';
  }
}

async function row(label: string, env: Record<string, string>): Promise<string> {
  const { server, url } = await startServer(env);
  try {
    const body = JSON.stringify({ type: 'file.read', input: { path: 'species/pleurotus.md' }, agent_id: 'mycology' });
    const result = await autocannon({
      url: `${url}/v1/actions`,
      connections: CONNECTIONS,
      duration: SECONDS,
      requests: [
        {
          method: 'POST',
          body,
          setupRequest: (request) => ({
            ...request,
            headers: {
              ...request.headers,
              'content-type': 'application/json',
              authorization: `Bearer ${KEY}`,
              'idempotency-key': randomUUID(),
            },
          }),
        },
      ],
    });
    const ok = result['2xx'];
    // Counted through the API, so that both databases are read the same way.
    const counts = (await (
      await fetch(`${url}/v1/actions`, {
        method: 'POST',
        // As the admin key (agent `auditor`, in no agents.yaml entry): db.query is not among mycology's actions.
        headers: { 'content-type': 'application/json', authorization: `Bearer ${KEY}x`, 'idempotency-key': randomUUID() },
        body: JSON.stringify({ type: 'db.query', input: { query: 'audit_counts_by_status' } }),
      })
    ).json()) as { output?: { rows: { status: string; count: number }[] }; detail?: string };
    if (!counts.output) throw new Error(`counting the executed rows failed: ${counts.detail ?? JSON.stringify(counts)}`);
    const executed = counts.output.rows.find((entry) => entry.status === 'executed')?.count ?? 0;
    const verify = (await (await fetch(`${url}/v1/audit/verify`, { headers: { authorization: `Bearer ${KEY}x` } })).json()) as {
      ok: boolean;
      events: number;
    };
    return `| ${label} | ${Math.round(result.requests.average)} | ${result.latency.p50} | ${result.latency.p99} | ${ok} | ${result.non2xx} | ${result.errors} | ${executed} | ${verify.events} | ${Math.max(0, ok - executed)} | ${verify.ok ? 'verifies' : 'BROKEN'} | ${rssMb(server.pid)} |`;
  } finally {
    const exited = new Promise((resolve) => server.once('exit', resolve));
    server.kill('SIGTERM');
    await exited;
  }
}

buildServer();
const lines: string[] = [];
if (ROWS.includes('postgres')) {
  const database = await benchDatabase();
  try {
    lines.push(await row('Postgres 127.0.0.1', { DATABASE_URL: database.url, DATABASE_POOL_MAX: process.env.BENCH_POOL_MAX ?? '20' }));
  } finally {
    await database.drop();
  }
}
if (ROWS.includes('embedded')) {
  const dataDir = mkdtempSync(join(tmpdir(), 'myca-bench-data-'));
  try {
    lines.push(await row('embedded (PGlite)', { MYCA_DATA_DIR: dataDir }));
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
}
rmSync(files, { recursive: true, force: true });
console.log(`\nactions benchmark: auto-approved file.read, ${CONNECTIONS} connections, ${SECONDS} s\n`);
console.log(
  '| database | actions/s | p50 ms | p99 ms | 2xx | non-2xx | errors | executed rows | events | lost audit rows | chain | RSS MB |',
);
console.log('|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|');
for (const line of lines) console.log(line);
