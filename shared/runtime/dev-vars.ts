/**
 * What `npm run dev` hands the worker. wrangler gives a worker no process environment, and with
 * `--env-file` it no longer reads `.dev.vars` either: the dev runner passes both through itself.
 * Every variable `.env.example` documents is passed when set (provider keys and base URLs, routing
 * knobs, telemetry…), except the few that mean something to the Node process only.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseEnv } from 'node:util';

/** Variables of `.env.example` that only the Node host uses (paths, its port, its pool). */
const NODE_ONLY = new Set([
  'HOST',
  'PORT',
  'MYCA_DATA_DIR',
  'MYCA_CONFIG_DIR',
  'MODELS_CONFIG',
  'MYCA_FILES_ROOT',
  'MYCA_EMBEDDED_PG_PORT',
  'DATABASE_POOL_MAX',
  'REDIS_URL',
]);

/** The variable names `.env.example` documents. */
export function documentedVariables(rootDir: string): string[] {
  const text = readFileSync(join(rootDir, '.env.example'), 'utf8');
  return [...text.matchAll(/^([A-Z][A-Z0-9_]*)=/gm)].map((match) => match[1] as string);
}

/** `.dev.vars` (wrangler's local secrets file, dotenv syntax) beside wrangler.toml, or nothing. */
export function readDevVars(rootDir: string): Record<string, string> {
  const path = join(rootDir, '.dev.vars');
  if (!existsSync(path)) return {};
  return Object.fromEntries(
    Object.entries(parseEnv(readFileSync(path, 'utf8'))).filter((entry): entry is [string, string] => entry[1] !== undefined),
  );
}

/**
 * The worker's variables: documented ones from `.dev.vars`, then from the environment (which wins,
 * as it does over a dotenv file), then what the dev runner made itself (the embedded database, the
 * key hashes, the Upstash bridge), which wins over both. Empty values are left out.
 */
export function workerVariables(input: {
  names: Iterable<string>;
  devVars: Record<string, string>;
  env: Record<string, string | undefined>;
  computed: Record<string, string>;
}): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of input.names) {
    if (NODE_ONLY.has(name)) continue;
    const value = input.env[name] || input.devVars[name];
    if (value) out[name] = value;
  }
  return { ...out, ...input.computed };
}
