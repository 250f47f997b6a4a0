/**
 * `npm run bench:chat`: requests/s, p50/p99 latency, CPU ms per request and peak RSS of
 *   (a) the fake upstream alone, (b) a bare node:http keep-alive pass-through proxy (the floor),
 *   (b2) the smallest Hono app forwarding with undici (MYCA Edge's stack with none of its work),
 *   (c) MYCA Edge's /v1/chat/completions on the Node server (a key of MYCA_API_KEYS, spend rows off),
 *   (d) the same with a key made through POST /v1/keys (RPM, TPM, budget, model allow-list) on a
 *       second server that writes spend rows (bench/governed.ts),
 * non-stream (`json`), a short stream of 5 chunks in one network write (`stream`) and a long one
 * (`stream-200`: BENCH_STREAM_CHUNKS chunks, default 200, each of a few tokens and written on its
 * own, the usage last; CPU is given a chunk too), `responses-200` (`POST /v1/responses` on the same
 * OpenAI task: the native pass-through of a Responses stream of as many events, `store: false`, so
 * the row is the pass-through, not the database's insert), 50 connections, everything on 127.0.0.1, each
 * server and the load generator (autocannon) in its own process, each row measured after a warm-up at
 * the same load (BENCH_WARMUP_SECONDS, default 2). Prints one table. BENCH_MODES=stream-200 (a comma
 * list of json, stream, stream-200, cache-hit) measures only those; BENCH_TARGETS=b,c only those targets.
 * `cache-hit` (MYCA Edge only, with LLM_CACHE_ENABLED=true) sends one deterministic request (temperature
 * 0) over and over: after the warm-up every one is an exact hit of the response cache, answered
 * without the upstream; `json` is measured in the same run to compare it with.
 *
 * BENCH_NODE=/path/to/node runs every server of the table (upstream, (b), (b2), (c)) on that Node
 * binary instead of the one running this script, so that runtimes compare on the same work, e.g. the
 * Docker image's Node 24 on a machine whose Node is 20 (docs/MULTI_MODEL_LLM.md says how to get one).
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT_DIR } from '../shared/runtime/node-config.js';
import { startUpstashRestServer } from '../shared/runtime/upstash-rest-server.js';
import { ADMIN_KEY, governedKey, spendRows } from './governed.js';
import { benchDatabase, buildServer, imageNodeOptions, serverArgs } from './server.js';

const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 50);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 10);
const WARMUP_SECONDS = Number(process.env.BENCH_WARMUP_SECONDS ?? 2);
const KEY = `myca_${'b'.repeat(40)}`;
/** Chunks of the long stream (bench/upstream.ts streams a long answer for `user: "bench-chunks-N"`). */
const LONG_CHUNKS = Number(process.env.BENCH_STREAM_CHUNKS ?? 200);
const SHORT_CHUNKS = 5;
type Mode = 'json' | 'stream' | 'stream-200' | 'responses-200' | 'cache-hit';
const ASKED = (process.env.BENCH_MODES ?? 'json,stream,stream-200,responses-200,cache-hit').split(',') as Mode[];
/** A cache hit is compared with a pass-through request of the same run: json is measured with it. */
const MODES: Mode[] = ASKED.includes('cache-hit') && !ASKED.includes('json') ? ['json', ...ASKED] : ASKED;
const TARGETS = (process.env.BENCH_TARGETS ?? 'a,b,b2,c,d').split(',');
const bin = (name: string) => join(ROOT_DIR, 'node_modules', '.bin', name);
/** The Node binary the servers run on; tsx's own CLI on it runs the TypeScript helpers. */
const NODE = process.env.BENCH_NODE || process.execPath;
const TSX = join(ROOT_DIR, 'node_modules', 'tsx', 'dist', 'cli.mjs');
/** MYCA Edge's NODE_OPTIONS: the Docker image's (read once). */
const SERVER_NODE_OPTIONS = imageNodeOptions();

interface Server {
  child: ChildProcess;
  url: string;
}

function start(command: string, args: string[], env: Record<string, string>, ready: RegExp): Promise<Server> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, {
      cwd: ROOT_DIR,
      env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    const timer = setTimeout(() => {
      child.kill('SIGTERM');
      reject(new Error(`${args.join(' ')} did not start:\n${output}`));
    }, 60_000);
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      const match = ready.exec(output);
      if (match?.[1]) {
        clearTimeout(timer);
        resolve({ child, url: match[1].startsWith('http') ? match[1] : `http://127.0.0.1:${match[1]}` });
      }
    };
    // Keep draining after start: the server logs a line per request and must never block on a full pipe.
    child.stdout?.on('data', (chunk: Buffer) => (output.length < 100_000 ? onData(chunk) : undefined));
    child.stderr?.on('data', (chunk: Buffer) => (output.length < 100_000 ? onData(chunk) : undefined));
    child.once('exit', (code) => reject(new Error(`${args.join(' ')} exited ${code}:\n${output}`)));
  });
}

/** A process and all its descendants. */
function tree(pid: number): number[] {
  const children = new Map<number, number[]>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const ppid = Number(readFileSync(`/proc/${entry}/stat`, 'utf8').split(') ')[1]?.split(' ')[1]);
      children.set(ppid, [...(children.get(ppid) ?? []), Number(entry)]);
    } catch {
      // gone meanwhile
    }
  }
  const out = [pid];
  for (let i = 0; i < out.length; i++) out.push(...(children.get(out[i] as number) ?? []));
  return out;
}

/** utime+stime of a process tree in ms (Linux /proc; clock ticks are 100 Hz here). */
function cpuMs(pid: number): number {
  return tree(pid).reduce((sum, p) => {
    let stat: string;
    try {
      stat = readFileSync(`/proc/${p}/stat`, 'utf8');
    } catch {
      return sum; // exited since the tree was listed (tsx's short-lived helpers)
    }
    const fields = stat.split(') ')[1]?.split(' ') ?? [];
    return sum + (Number(fields[11]) + Number(fields[12])) * 10;
  }, 0);
}
/** The largest peak RSS in a process tree, MB. */
function peakRssMb(pid: number): number {
  const peak = (p: number) => {
    try {
      return Number(/VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${p}/status`, 'utf8'))?.[1] ?? 0) / 1024;
    } catch {
      return 0; // exited since the tree was listed
    }
  };
  return Math.max(...tree(pid).map(peak));
}

interface Row {
  target: string;
  mode: string;
  rps: number;
  p50: number;
  p99: number;
  cpuPerRequest: number;
  /** Chunks of each answer (0 for JSON). */
  chunks: number;
  rssMb: number;
  errors: number;
}

interface AutocannonResult {
  requests: { average: number; total: number };
  latency: { p50: number; p99: number };
  errors: number;
  non2xx: number;
}

function autocannon(url: string, body: string, seconds: number, key: string): Promise<AutocannonResult> {
  const args = ['-c', String(CONNECTIONS), '-d', String(seconds), '-m', 'POST', '-H', 'content-type=application/json'];
  args.push('-H', `authorization=Bearer ${key}`, '-b', body, '-j', url);
  return new Promise((resolve, reject) => {
    const child = spawn(bin('autocannon'), args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let text = '';
    child.stdout.on('data', (chunk: Buffer) => {
      text += chunk.toString();
    });
    child.once('exit', (code) =>
      code === 0 ? resolve(JSON.parse(text) as AutocannonResult) : reject(new Error(`autocannon exited ${code}`)),
    );
  });
}

/**
 * One row: a warm-up at the same load, not counted (the JIT compiles the hot path then, as it has in
 * any server that has run for a minute), then the measured run.
 */
async function load(url: string, mode: Mode, pids: number[], key = KEY): Promise<Omit<Row, 'target' | 'mode'>> {
  const body = JSON.stringify(
    mode === 'responses-200'
      ? { model: 'execution', input: 'hello', stream: true, store: false, user: `bench-chunks-${LONG_CHUNKS}` }
      : {
          model: 'execution',
          messages: [{ role: 'user', content: 'hello' }],
          ...(mode === 'json' || mode === 'cache-hit' ? {} : { stream: true }),
          ...(mode === 'cache-hit' ? { temperature: 0 } : {}),
          ...(mode === 'stream-200' ? { user: `bench-chunks-${LONG_CHUNKS}` } : {}),
        },
  );
  if (WARMUP_SECONDS > 0) await autocannon(url, body, WARMUP_SECONDS, key);
  const before = pids.map(cpuMs);
  const result = await autocannon(url, body, SECONDS, key);
  const cpu = pids.reduce((sum, pid, index) => sum + cpuMs(pid) - (before[index] ?? 0), 0);
  return {
    rps: Math.round(result.requests.average),
    p50: result.latency.p50,
    p99: result.latency.p99,
    cpuPerRequest: result.requests.total > 0 ? cpu / result.requests.total : 0,
    chunks: mode === 'json' || mode === 'cache-hit' ? 0 : mode === 'stream' ? SHORT_CHUNKS : LONG_CHUNKS,
    rssMb: Math.max(...pids.map(peakRssMb)),
    errors: result.errors + result.non2xx,
  };
}

function nodeVersion(): string {
  return execFileSync(NODE, ['--version'], { encoding: 'utf8' }).trim();
}

async function unloadedLatency(url: string, key: string, samples = 300): Promise<number> {
  const body = JSON.stringify({ model: 'execution', messages: [{ role: 'user', content: 'hello' }] });
  const times: number[] = [];
  for (let i = 0; i < samples; i++) {
    const started = performance.now();
    const response = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
      body,
    });
    await response.arrayBuffer();
    if (i >= 50) times.push(performance.now() - started);
  }
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)] ?? 0;
}

// The server runs as deployed: the esbuild bundle (npm run build:node), not TypeScript through tsx.
buildServer();
const database = await benchDatabase();
// BENCH_UPSTASH=1: the key-value store is Redis behind the Upstash REST API (as deployed), not memory.
const upstash =
  process.env.BENCH_UPSTASH === '1'
    ? await startUpstashRestServer({ redisUrl: process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379', token: 'bench-token' })
    : undefined;
const rows: Row[] = [];
// Every server started is stopped at the end, whatever fails on the way.
const started: Server[] = [];
const track = (server: Server) => {
  started.push(server);
  return server;
};
try {
  const upstream = track(await start(NODE, [TSX, 'bench/upstream.ts'], {}, /LISTENING (\d+)/));
  const proxy = track(await start(NODE, [TSX, 'bench/passthrough.ts', upstream.url], {}, /LISTENING (\d+)/));
  const forwarder = track(await start(NODE, [TSX, 'bench/hono-forwarder.ts', upstream.url], {}, /LISTENING (\d+)/));
  const mycaEnv = (spendLog: boolean) => ({
    PORT: '0',
    MYCA_ENV: 'production',
    LOG_LEVEL: process.env.BENCH_LOG_LEVEL ?? 'info',
    MYCA_API_KEYS: `bench:agent:${KEY},bench-admin:admin:${ADMIN_KEY}`,
    OPENAI_API_KEY: 'bench',
    OPENAI_BASE_URL: `${upstream.url}/v1`,
    LLM_RATE_LIMIT_RPM: process.env.BENCH_RATE_LIMIT_RPM ?? '0',
    LLM_SPEND_LOG: String(spendLog),
    // The plain server's cache answers the cache-hit rows; the governed one has none.
    ...(MODES.includes('cache-hit') && !spendLog ? { LLM_CACHE_ENABLED: 'true' } : {}),
    DATABASE_URL: database.url,
    NODE_OPTIONS: SERVER_NODE_OPTIONS,
    ...(upstash ? { UPSTASH_REDIS_REST_URL: upstash.url, UPSTASH_REDIS_REST_TOKEN: upstash.token } : {}),
  });
  const listening = /"msg":"MYCA Edge is listening".*?"url":"([^"]+)"/;
  const myca = track(await start(NODE, serverArgs(), mycaEnv(false), listening));
  const governed = TARGETS.includes('d') ? track(await start(NODE, serverArgs(), mycaEnv(true), listening)) : undefined;
  const governedSecret = governed ? await governedKey(governed.url) : KEY;

  const upstreamPid = upstream.child.pid as number;
  const targets = (
    [
      ['(a) upstream direct', `${upstream.url}/v1/chat/completions`, [upstreamPid]],
      ['(b) node:http pass-through', `${proxy.url}/v1/chat/completions`, [proxy.child.pid as number]],
      ['(b2) Hono + undici forwarder', `${forwarder.url}/v1/chat/completions`, [forwarder.child.pid as number]],
      ['(c) MYCA Edge', `${myca.url}/v1/chat/completions`, [myca.child.pid as number]],
      ...(governed ? [['(d) MYCA Edge, governed key', `${governed.url}/v1/chat/completions`, [governed.child.pid as number]]] : []),
    ] as Array<[string, string, number[]]>
  ).filter(([name]) => TARGETS.includes(/^\((\w+)\)/.exec(name)?.[1] ?? ''));
  for (const mode of MODES) {
    for (const [name, url, pids] of targets) {
      if (mode === 'cache-hit' && !name.startsWith('(c)')) continue; // only MYCA Edge's plain row has a cache
      // The Hono forwarder only forwards chat completions; the others take the Responses path as it is.
      if (mode === 'responses-200' && name.startsWith('(b2)')) continue;
      const target = mode === 'responses-200' ? url.replace('/v1/chat/completions', '/v1/responses') : url;
      rows.push({ target: name, mode, ...(await load(target, mode, pids, name.startsWith('(d)') ? governedSecret : KEY)) });
    }
  }
  // After the load: a long-running gateway's code is compiled by then, as it would be in service
  // (measured first, the JIT's warm-up counted as "added latency").
  const unloaded = new Map<string, number>();
  // BENCH_UNLOADED=0 leaves it out (when comparing rows only).
  if (process.env.BENCH_UNLOADED !== '0')
    for (const [name, url] of targets) unloaded.set(name, await unloadedLatency(url, name.startsWith('(d)') ? governedSecret : KEY));
  console.log(
    `\nchat benchmark on Node ${nodeVersion()} (MYCA Edge with NODE_OPTIONS=${SERVER_NODE_OPTIONS || '(none)'}, as in the image): ${CONNECTIONS} connections, ${SECONDS} s per row after a ${WARMUP_SECONDS} s warm-up, loopback; CPU and RSS are of the server process named (not the upstream)\n`,
  );
  console.log('| target | mode | req/s | p50 ms | p99 ms | CPU ms/req | CPU µs/chunk | × (b) | peak RSS MB | errors |');
  console.log('|---|---|---:|---:|---:|---:|---:|---:|---:|---:|');
  for (const row of rows) {
    const perChunk = row.chunks ? ((row.cpuPerRequest * 1000) / row.chunks).toFixed(1) : '';
    // Against the bare pass-through in the same run and mode: the ratio noise on this machine leaves.
    const floorMode = row.mode === 'cache-hit' ? 'json' : row.mode;
    const floor = rows.find((other) => other.mode === floorMode && other.target.startsWith('(b) '))?.cpuPerRequest;
    const ratio = floor && !row.target.startsWith('(a)') ? (row.cpuPerRequest / floor).toFixed(2) : '';
    console.log(
      `| ${row.target} | ${row.mode} | ${row.rps} | ${row.p50} | ${row.p99} | ${row.cpuPerRequest.toFixed(3)} | ${perChunk} | ${ratio} | ${row.rssMb.toFixed(0)} | ${row.errors} |`,
    );
  }
  const plain = rows.filter((row) => row.target === '(c) MYCA Edge');
  for (const row of rows.filter((entry) => entry.target.startsWith('(d)'))) {
    const base = plain.find((entry) => entry.mode === row.mode);
    if (base)
      console.log(
        `governed key vs plain, ${row.mode}: ${((100 * row.rps) / base.rps).toFixed(1)} % of the throughput, ${((100 * row.cpuPerRequest) / base.cpuPerRequest).toFixed(1)} % of the CPU per request`,
      );
  }
  if (governed) console.log(`spend rows written by the governed server: ${await spendRows(database.url)}`);
  const hit = rows.find((row) => row.mode === 'cache-hit');
  if (hit) {
    const passThrough = rows.find((row) => row.mode === 'json' && row.target.startsWith('(b) '));
    const mycaJson = rows.find((row) => row.mode === 'json' && row.target.startsWith('(c) '));
    // The criterion: a hit costs MYCA Edge less CPU than a request it passes through to the upstream (c json).
    const verdict = mycaJson ? (hit.cpuPerRequest < mycaJson.cpuPerRequest ? 'less' : 'NOT less') : 'not comparable';
    console.log(
      `\nexact cache hit: ${hit.cpuPerRequest.toFixed(3)} CPU ms/req, ${verdict} than MYCA Edge passing the same kind of request through to the upstream (c json): ${mycaJson?.cpuPerRequest.toFixed(3) ?? 'not measured'}; the bare node:http pass-through (b json): ${passThrough?.cpuPerRequest.toFixed(3) ?? 'not measured'}`,
    );
  }
  const direct = unloaded.get('(a) upstream direct') ?? 0;
  if (unloaded.size > 0)
    console.log(`\nunloaded median latency (ms): ${[...unloaded].map(([name, ms]) => `${name} ${ms.toFixed(3)}`).join(', ')}`);
  if (unloaded.size > 0)
    console.log(
      `added by MYCA Edge unloaded: ${((unloaded.get('(c) MYCA Edge') ?? 0) - direct).toFixed(3)} ms; by the bare proxy: ${((unloaded.get('(b) node:http pass-through') ?? 0) - direct).toFixed(3)} ms; by the Hono forwarder: ${((unloaded.get('(b2) Hono + undici forwarder') ?? 0) - direct).toFixed(3)} ms`,
    );
} finally {
  for (const server of started) server.child.kill('SIGTERM');
  await new Promise((resolve) => setTimeout(resolve, 500));
  await database.drop();
  await upstash?.stop();
}
