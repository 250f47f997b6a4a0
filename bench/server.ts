import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT_DIR } from '../shared/runtime/node-config.js';

/**
 * Bundles the Node server as the Docker image runs it (`npm run build:node` → dist/node/main.js).
 * BENCH_BUNDLE=dist/node/other.js runs a bundle built earlier instead (to compare two builds in turns
 * on this noisy machine); it must sit in dist/node/ to find node_modules.
 */
export function buildServer(): void {
  if (process.env.BENCH_BUNDLE) return;
  execFileSync('npm', ['run', '--silent', 'build:node'], { cwd: ROOT_DIR, stdio: ['ignore', 'ignore', 'inherit'] });
}

/** Node flags and entry of the server: BENCH_PROFILE=1 writes a CPU profile to .data/profiles/ on exit. */
export function serverArgs(): string[] {
  const profile = process.env.BENCH_PROFILE === '1' ? ['--cpu-prof', `--cpu-prof-dir=${join(ROOT_DIR, '.data', 'profiles')}`] : [];
  return [...profile, process.env.BENCH_BUNDLE ?? 'dist/node/main.js'];
}

/**
 * The `NODE_OPTIONS` the Docker image runs the server with (its `ENV NODE_OPTIONS=` line), so that the
 * benchmarks measure the server as deployed. BENCH_NODE_OPTIONS replaces it (empty: V8's defaults).
 */
export function imageNodeOptions(): string {
  if (process.env.BENCH_NODE_OPTIONS !== undefined) return process.env.BENCH_NODE_OPTIONS;
  return /^ENV NODE_OPTIONS=(.*)$/m.exec(readFileSync(join(ROOT_DIR, 'Dockerfile'), 'utf8'))?.[1]?.trim() ?? '';
}

/**
 * A fresh database on the local Postgres (BENCH_DATABASE_URL, default the test server) for one
 * benchmark, dropped by `drop()`: the server is measured as deployed, with an external Postgres.
 */
export async function benchDatabase(): Promise<{ url: string; drop: () => Promise<void> }> {
  const { default: postgres } = await import('postgres');
  const adminUrl = process.env.BENCH_DATABASE_URL ?? 'postgres://root@127.0.0.1:5432/test';
  const admin = postgres(adminUrl, { max: 1, onnotice: () => {} });
  const name = `myca_bench_${Date.now()}`;
  await admin.unsafe(`create database ${name}`);
  if (process.env.BENCH_ASYNC_COMMIT === '1') await admin.unsafe(`alter database ${name} set synchronous_commit = off`);
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    drop: async () => {
      await admin.unsafe(`drop database if exists ${name} with (force)`);
      await admin.end();
    },
  };
}
