import { parse as parseYaml } from 'yaml';
import type { z } from 'zod';
import { isSecretKey, redact, redactString } from '../redact/index.js';
import { type AgentsConfig, AgentsConfigSchema } from './agents.js';
import { type EnvSource, interpolate } from './interpolate.js';
import { type ModelsConfig, ModelsConfigSchema } from './models.js';
import { type Policy, PolicySchema } from './policy.js';
import { type ApiKeyEntry, type AppConfig, AppConfigSchema, AuthFileSchema, LEASE_MARGIN_MS } from './schema.js';

export type { AgentConfig, AgentsConfig } from './agents.js';
export type { EnvSource } from './interpolate.js';
export type { CacheConfig, DeploymentConfig, ModelConfig, ModelsConfig, ProviderConfig, ProviderType, RoutingConfig } from './models.js';
export { providerUnavailableReason, speaksResponses } from './models.js';
export type { ActionCategory, Policy, PolicyMode } from './policy.js';
export { CATEGORIES } from './policy.js';
export type { ApiKeyEntry, AppConfig, LogLevel, Role } from './schema.js';
export { ROLES } from './schema.js';

/** The YAML files the loader reads, by name. Node reads them from `config/`; workerd gets them bundled. */
export interface ConfigFiles {
  'app.yaml': string;
  'auth.yaml'?: string;
  /** Providers, task aliases and routing of chat-route (MODELS_CONFIG on Node). */
  'models.yaml'?: string;
  /** What actions may do and what waits for approval. Without it, every action is denied. */
  'policy.yaml'?: string;
  /** Agents (agent-run). Without it, no agents are defined. */
  'agents.yaml'?: string;
}

/** Everything that runs reads its settings from this one object. */
export interface Config extends AppConfig {
  /** API keys from MYCA_API_KEYS, else from auth.yaml. */
  apiKeys: ApiKeyEntry[];
  /** chat-route's providers, models and routing (empty when no models.yaml is given). */
  llm: ModelsConfig;
  /** Action policy (deny-all when no policy.yaml is given). */
  policy: Policy;
  /** Agents and their run settings (none when no agents.yaml is given). */
  agents: AgentsConfig;
}

export interface ConfigIssue {
  /** Dotted key in the YAML file, e.g. `server.port`. */
  key: string;
  /** Environment variables that fed that key. */
  env: string[];
  message: string;
  /** The offending value, or `***` when the key is secret. */
  value?: string;
}

/** A configuration that cannot run. Its message lists every issue and how to fix it. */
export class ConfigError extends Error {
  constructor(
    readonly file: string,
    readonly issues: ConfigIssue[],
  ) {
    super(
      `Invalid configuration in ${file}:\n${issues
        .map((issue) => {
          const where = issue.env.length > 0 ? `${issue.key} (set by ${issue.env.join(', ')})` : issue.key;
          const value = issue.value === undefined ? '' : ` — got ${JSON.stringify(issue.value)}`;
          const fix = issue.env.length > 0 ? `; fix ${issue.env.join(' / ')} in your environment or .env` : '';
          return `  - ${where}: ${issue.message}${value}${fix}`;
        })
        .join('\n')}`,
    );
    this.name = 'ConfigError';
  }
}

/**
 * Parses and validates the configuration once. Throws {@link ConfigError} naming each bad key.
 *
 * @example
 * const config = loadConfig({ env: process.env, files: { 'app.yaml': text } });
 */
export function loadConfig(input: { env: EnvSource; files: ConfigFiles }): Config {
  const app = parseFile('app.yaml', input.files['app.yaml'], input.env, AppConfigSchema);
  const auth = input.files['auth.yaml'] ? parseFile('auth.yaml', input.files['auth.yaml'], input.env, AuthFileSchema) : { keys: [] };
  const apiKeys = app.auth.api_keys.length > 0 ? app.auth.api_keys : auth.keys;
  const duplicate = apiKeys.find((key, index) => apiKeys.findIndex((other) => other.id === key.id) !== index);
  if (duplicate) {
    throw new ConfigError('auth', [{ key: 'auth.api_keys', env: ['MYCA_API_KEYS'], message: `the id "${duplicate.id}" is used twice` }]);
  }
  const llm = input.files['models.yaml']
    ? parseFile('models.yaml', input.files['models.yaml'], input.env, ModelsConfigSchema)
    : ModelsConfigSchema.parse({ providers: {}, models: {} });
  const policy = input.files['policy.yaml']
    ? parseFile('policy.yaml', input.files['policy.yaml'], input.env, PolicySchema)
    : PolicySchema.parse({ version: 'deny-all', categories: { read: 'deny', write: 'deny', external: 'deny', risky: 'deny' } });
  const agents = input.files['agents.yaml']
    ? parseFile('agents.yaml', input.files['agents.yaml'], input.env, AgentsConfigSchema)
    : AgentsConfigSchema.parse({});
  // A lease shorter than an action may run lets the recovery sweep take over a live execution.
  const longest = Math.max(app.actions.timeout_ms, policy.http.timeout_ms);
  if (app.actions.lease_s * 1000 <= longest + LEASE_MARGIN_MS) {
    throw new ConfigError('app.yaml', [
      {
        key: 'actions.lease_s',
        env: ['ACTION_LEASE_S'],
        message: `must be more than the longest action timeout (${longest} ms: ACTION_TIMEOUT_MS ${app.actions.timeout_ms}, ACTION_HTTP_TIMEOUT_MS ${policy.http.timeout_ms}) plus ${LEASE_MARGIN_MS} ms, or the recovery sweep takes over actions still running; raise it or lower those timeouts`,
        value: String(app.actions.lease_s),
      },
    ]);
  }
  return { ...app, apiKeys, llm, policy, agents };
}

/**
 * A chat target chat-route can resolve: a task alias, a configured model name, or provider/model.
 * An agent whose model is not one is listed as unavailable (as a provider without a key is).
 */
export function modelKnown(llm: ModelsConfig, target: string): boolean {
  if (llm.models[target] || Object.values(llm.models).some((model) => model.model === target)) return true;
  const slash = target.indexOf('/');
  return slash > 0 && Boolean(llm.providers[target.slice(0, slash)]);
}

function parseFile<S extends z.ZodType>(name: string, text: string, env: EnvSource, schema: S): z.output<S> {
  let tree: unknown;
  try {
    tree = parseYaml(text);
  } catch (error) {
    throw new ConfigError(name, [{ key: '(file)', env: [], message: `not valid YAML: ${(error as Error).message}` }]);
  }
  const { value, sources } = interpolate(tree ?? {}, env);
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  throw new ConfigError(
    name,
    result.error.issues.map((issue) => {
      const key = issue.path.join('.');
      const raw = valueAt(value, issue.path);
      const secret = issue.path.some((part) => typeof part === 'string' && isSecretKey(part));
      return {
        key,
        env: sources.get(key) ?? [],
        message: issue.message,
        ...(raw === undefined ? {} : { value: secret ? '***' : redactString(String(raw)) }),
      };
    }),
  );
}

function valueAt(tree: unknown, path: ReadonlyArray<PropertyKey>): unknown {
  let node = tree;
  for (const part of path) {
    if (node === null || typeof node !== 'object') return undefined;
    node = (node as Record<PropertyKey, unknown>)[part];
  }
  return node === null || typeof node === 'object' ? undefined : node;
}

/** The effective configuration with every secret shown as `***`: safe to log. */
export function sanitizeConfig(config: Config): Record<string, unknown> {
  const { apiKeys, auth, ...rest } = config;
  // Only who may call, never the keys: listed under a name the redactor leaves readable.
  return redact({ ...rest, jwt: auth.jwt, principals: apiKeys.map((key) => ({ id: key.id, role: key.role })) });
}

/** The level that applies when none is set: chatty while developing, quiet elsewhere. */
export const effectiveLogLevel = (config: Pick<Config, 'env' | 'log'>) =>
  config.log.level ?? (config.env === 'development' ? 'debug' : 'info');

/**
 * Variables read outside the YAML files (by the Node entry, the dev runner and the test setup).
 * Together with the `${VAR}`s of config/*.yaml they are every variable the project reads; a test
 * holds .env.example to exactly that set.
 */
export const OTHER_ENV_VARS = [
  'MYCA_CONFIG_DIR',
  'MODELS_CONFIG',
  'MYCA_DEV_PORT',
  'TEST_DATABASE_URL',
  'TEST_REDIS_URL',
  'MYCA_URL',
  'MYCA_API_KEY',
  'MYCA_REQUIRE_TOOLS',
] as const;
