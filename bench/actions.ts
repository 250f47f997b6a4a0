/**
 * `npm run bench:actions`: auto-approved file.read through POST /v1/actions, each with its audit
 * record and events written to the local Postgres; 50 concurrent clients against the Node server
 * (its own process). Prints actions/s, p50/p99 and the audit rows lost (200s without an executed row).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import autocannon from 'autocannon';
import postgres from 'postgres';
import { ROOT_DIR } from '../shared/runtime/node-config.js';
import { benchDatabase, buildServer, imageNodeOptions, serverArgs } from './server.js';

const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 50);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 10);
const KEY = `myca_${'k'.repeat(40)}`;

const database = await benchDatabase();
const url = new URL(database.url);
const files = mkdtempSync(join(tmpdir(), 'myca-bench-files-'));
mkdirSync(join(files, 'species'));
writeFileSync(join(files, 'species', 'pleurotus.md'), '# Pleurotus ostreatus\nOyster mushroom; grows on hardwood.\n'.repeat(8));

buildServer();
let server: ChildProcess | undefined;
try {
  const serverUrl = await new Promise<string>((resolve, reject) => {
    server = spawn(process.execPath, serverArgs(), {
      cwd: ROOT_DIR,
      env: {
        PATH: process.env.PATH ?? '',
        HOME: process.env.HOME ?? '/tmp',
        PORT: '0',
        MYCA_ENV: 'production',
        LOG_LEVEL: 'info',
        DATABASE_URL: url.toString(),
        DATABASE_POOL_MAX: process.env.BENCH_POOL_MAX ?? '20',
        MYCA_API_KEYS: `mycology:agent:${KEY},auditor:admin:${KEY}x`,
        MYCA_FILES_ROOT: files,
        NODE_OPTIONS: imageNodeOptions(),
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
  const body = JSON.stringify({ type: 'file.read', input: { path: 'species/pleurotus.md' }, agent_id: 'mycology' });
  const result = await autocannon({
    url: `${serverUrl}/v1/actions`,
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
  const sql = postgres(url.toString(), { max: 1, onnotice: () => {} });
  const [rows] = await sql<[{ executed: number; total: number; events: number }]>`
    select (select count(*)::int from action_audit_logs where status = 'executed') as executed,
           (select count(*)::int from action_audit_logs) as total,
           (select count(*)::int from action_audit_events) as events`;
  const verify = await (await fetch(`${serverUrl}/v1/audit/verify`, { headers: { authorization: `Bearer ${KEY}x` } })).json();
  await sql.end();
  console.log(`\nactions benchmark: auto-approved file.read, ${CONNECTIONS} connections, ${SECONDS} s, Postgres on 127.0.0.1\n`);
  console.log('| actions/s | p50 ms | p99 ms | 2xx | non-2xx | errors | executed rows | events | lost audit rows | chain |');
  console.log('|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|');
  console.log(
    `| ${Math.round(result.requests.average)} | ${result.latency.p50} | ${result.latency.p99} | ${ok} | ${result.non2xx} | ${result.errors} | ${rows.executed} | ${rows.events} | ${Math.max(0, ok - rows.executed)} | ${(verify as { ok: boolean }).ok ? 'verifies' : 'BROKEN'} |`,
  );
} finally {
  server?.kill('SIGTERM');
  await new Promise((resolve) => setTimeout(resolve, 500));
  await database.drop();
}
