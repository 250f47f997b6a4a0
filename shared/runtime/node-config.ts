import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Config, type ConfigFiles, type EnvSource, loadConfig } from '../config/index.js';
import type { ContractSource } from '../integrations/index.js';

/** The repository root (where package.json, config/ and migrations/ live). */
export const ROOT_DIR = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

/** Reads `config/*.yaml` from MYCA_CONFIG_DIR (default: the repository's config/). */
export function readConfigFiles(env: EnvSource): ConfigFiles {
  const directory = resolve(env.MYCA_CONFIG_DIR || join(ROOT_DIR, 'config'));
  const app = join(directory, 'app.yaml');
  if (!existsSync(app)) throw new Error(`No app.yaml in ${directory}; set MYCA_CONFIG_DIR to the folder holding it`);
  const auth = join(directory, 'auth.yaml');
  const models = resolve(env.MODELS_CONFIG || join(directory, 'models.yaml'));
  if (env.MODELS_CONFIG && !existsSync(models)) throw new Error(`MODELS_CONFIG points at ${models}, which does not exist`);
  return {
    'app.yaml': readFileSync(app, 'utf8'),
    ...(existsSync(auth) ? { 'auth.yaml': readFileSync(auth, 'utf8') } : {}),
    ...(existsSync(models) ? { 'models.yaml': readFileSync(models, 'utf8') } : {}),
    ...(existsSync(join(directory, 'agents.yaml')) ? { 'agents.yaml': readFileSync(join(directory, 'agents.yaml'), 'utf8') } : {}),
    ...(existsSync(join(directory, 'policy.yaml')) ? { 'policy.yaml': readFileSync(join(directory, 'policy.yaml'), 'utf8') } : {}),
  };
}

export function loadNodeConfig(env: EnvSource = process.env): Config {
  return loadConfig({ env, files: readConfigFiles(env) });
}

/** A pinned integration contract (config/contracts/<name>.openapi.yaml). */
export const readContract: ContractSource = (name) => readFileSync(join(ROOT_DIR, 'config', 'contracts', `${name}.openapi.yaml`), 'utf8');
