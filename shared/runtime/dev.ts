/**
 * `npm run dev`: the same app in workerd (wrangler dev) with the same embedded defaults as
 * `npm start`. Node hosts what workerd cannot: the embedded Postgres on a fixed loopback port the
 * worker reaches over TCP, migrations, the development keys and (when a Redis answers at REDIS_URL)
 * the local Upstash REST server. The worker gets them as variables through an env file under the
 * data dir, with every documented variable set in the environment or in `.dev.vars` (dev-vars.ts).
 */
import { spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { ConfigError, effectiveLogLevel } from '../config/index.js';
import { createDatabase } from '../db/index.js';
import { migrate, readMigrations } from '../db/migrate.js';
import { sha256Hex } from '../http/auth.js';
import { createLogger } from '../log/index.js';
import { randomHex } from '../telemetry/correlation.js';
import { resolveApiKeys } from './bootstrap-keys.js';
import { documentedVariables, readDevVars, workerVariables } from './dev-vars.js';
import { DataDirInUseError, type EmbeddedPostgres, startEmbeddedPostgres } from './embedded-postgres.js';
import { type FilesBridge, startFilesBridge } from './files-bridge.js';
import { loadNodeConfig, ROOT_DIR } from './node-config.js';
import { startUpstashRestServer, type UpstashRestServer } from './upstash-rest-server.js';

// .dev.vars is read like the environment (which wins): the Node host and the worker see the same.
const devVars = readDevVars(ROOT_DIR);
const env: Record<string, string | undefined> = { ...devVars, ...process.env };
let config: ReturnType<typeof loadNodeConfig>;
try {
  // workerd cannot pick a free port for us: the embedded Postgres needs a fixed one here.
  config = loadNodeConfig({ ...env, MYCA_EMBEDDED_PG_PORT: env.MYCA_EMBEDDED_PG_PORT || '54329' });
} catch (error) {
  process.stderr.write(`${error instanceof ConfigError ? error.message : String(error)}\n`);
  process.exit(2);
}
const logger = createLogger({ level: effectiveLogLevel(config), base: { service: 'myca-dev' } });

let embedded: EmbeddedPostgres | undefined;
let upstash: UpstashRestServer | undefined;
const vars: Record<string, string> = { MYCA_ENV: config.env };

if (config.database.url) vars.DATABASE_URL = config.database.url;
else {
  try {
    embedded = await startEmbeddedPostgres({ dataDir: config.data_dir, port: config.database.embedded_port });
  } catch (error) {
    if (error instanceof DataDirInUseError) process.stderr.write(`${error.message}\n`);
    else logger.error('the embedded Postgres did not start', { error: error as Error });
    process.exit(1);
  }
  vars.DATABASE_URL = embedded.url;
  logger.info('embedded Postgres for the worker', { url: embedded.url });
}
const db = createDatabase(vars.DATABASE_URL, { max: 1 });
await migrate(db.sql, await readMigrations(join(ROOT_DIR, 'migrations')), logger);
const keys = await resolveApiKeys(config, db.sql, logger);
await db.close();
// Only hashes cross to the worker: the raw keys were printed once and are not kept.
vars.MYCA_API_KEYS = keys.map((key) => `${key.id}:${key.role}:sha256:${key.secret_sha256 ?? sha256Hex(key.secret ?? '')}`).join(',');

if (config.kv.upstash_url && config.kv.upstash_token) {
  vars.UPSTASH_REDIS_REST_URL = config.kv.upstash_url;
  vars.UPSTASH_REDIS_REST_TOKEN = config.kv.upstash_token;
} else if (config.kv.redis_url) {
  try {
    upstash = await startUpstashRestServer({ redisUrl: config.kv.redis_url, token: randomHex(16) });
    vars.UPSTASH_REDIS_REST_URL = upstash.url;
    vars.UPSTASH_REDIS_REST_TOKEN = upstash.token;
    logger.info('local Upstash REST server over Redis', { url: upstash.url, redis: config.kv.redis_url });
  } catch (error) {
    logger.warn('Redis is not reachable; the worker uses its in-memory store', { redis: config.kv.redis_url, error: String(error) });
  }
}
// The worker's file actions use the same folder as `npm start` (not wrangler's local R2).
const filesRoot = resolve(config.actions.files_root ?? join(config.data_dir, 'files'));
const files: FilesBridge = await startFilesBridge({ root: filesRoot, token: randomHex(16) });
vars.MYCA_DEV_FILES_URL = files.url;
vars.MYCA_DEV_FILES_TOKEN = files.token;
logger.info('files for the worker', { root: filesRoot });

const workerVars = workerVariables({ names: documentedVariables(ROOT_DIR), devVars, env: process.env, computed: vars });
const providers = ['OPENAI_API_KEY', 'AZURE_OPENAI_API_KEY', 'GEMINI_API_KEY', 'ANTHROPIC_API_KEY', 'LOCAL_LLM_BASE_URL'].filter(
  (name) => workerVars[name],
);
logger.info('variables for the worker', {
  names: Object.keys(workerVars).sort(),
  from_dev_vars: Object.keys(devVars).length > 0,
  providers,
});
if (providers.length === 0)
  logger.warn(
    'no LLM provider is set: every model answers 503 (set OPENAI_API_KEY, AZURE_OPENAI_API_KEY, GEMINI_API_KEY, ANTHROPIC_API_KEY or LOCAL_LLM_BASE_URL in the environment or .dev.vars)',
  );

const dataDir = resolve(config.data_dir);
mkdirSync(dataDir, { recursive: true });
const envFile = join(dataDir, 'dev.env');
writeFileSync(
  envFile,
  `${Object.entries(workerVars)
    .map(([key, value]) => `${key}=${JSON.stringify(value)}`)
    .join('\n')}\n`,
  { mode: 0o600 },
);

const port = env.MYCA_DEV_PORT || '8787';
const wrangler = spawn(
  join(ROOT_DIR, 'node_modules', '.bin', 'wrangler'),
  ['dev', '--local', '--ip', '127.0.0.1', '--port', port, '--env-file', envFile, '--show-interactive-dev-session=false'],
  {
    cwd: ROOT_DIR,
    stdio: 'inherit',
    env: { ...env, WRANGLER_SEND_METRICS: 'false', WRANGLER_SEND_ERROR_REPORTS: 'false', CLOUDFLARE_CF_FETCH_ENABLED: 'false' },
  },
);
logger.info('wrangler dev starting', { url: `http://127.0.0.1:${port}`, log_level: effectiveLogLevel(config) });

const cleanUp = async () => {
  await files.stop();
  await upstash?.stop();
  await embedded?.stop();
};
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    wrangler.kill(signal);
  });
}
wrangler.once('exit', async (code) => {
  await cleanUp();
  process.exit(code ?? 0);
});
