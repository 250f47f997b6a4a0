import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';
import { ROOT_DIR } from '../../shared/runtime/node-config.js';
import { startUpstashRestServer, type UpstashRestServer } from '../../shared/runtime/upstash-rest-server.js';
import { randomHex } from '../../shared/telemetry/correlation.js';

declare module 'vitest' {
  export interface ProvidedContext {
    workerScript: string;
    upstashUrl: string;
    upstashToken: string;
    postgresUrl: string;
    redisUrl: string;
  }
}

const POSTGRES_URL = process.env.TEST_DATABASE_URL ?? 'postgres://root@127.0.0.1:5432/test';
const REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

/**
 * Once per run: bundle the worker as wrangler would deploy it (so workerd tests run the real
 * artefact) and start the Upstash REST server over this machine's Redis.
 */
export default async function setup(project: TestProject) {
  const outdir = join(ROOT_DIR, 'dist', 'test-worker');
  execFileSync(join(ROOT_DIR, 'node_modules', '.bin', 'wrangler'), ['deploy', '--dry-run', '--outdir', outdir], {
    cwd: ROOT_DIR,
    stdio: 'pipe',
    env: { ...process.env, WRANGLER_SEND_METRICS: 'false', WRANGLER_SEND_ERROR_REPORTS: 'false', CLOUDFLARE_CF_FETCH_ENABLED: 'false' },
  });
  let upstash: UpstashRestServer;
  try {
    upstash = await startUpstashRestServer({ redisUrl: REDIS_URL, token: randomHex(16) });
  } catch (error) {
    throw new Error(`Redis at ${REDIS_URL} is needed by the tests (start it: redis-server --daemonize yes --port 6379): ${String(error)}`);
  }
  project.provide('workerScript', join(outdir, 'index.js'));
  project.provide('upstashUrl', upstash.url);
  project.provide('upstashToken', upstash.token);
  project.provide('postgresUrl', POSTGRES_URL);
  project.provide('redisUrl', REDIS_URL);
  return async () => {
    await upstash.stop();
  };
}
