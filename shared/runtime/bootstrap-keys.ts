import type { Sql } from 'postgres';
import { agentsBoundTo } from '../config/agents.js';
import type { ApiKeyEntry, Config } from '../config/index.js';
import { sha256Hex } from '../http/auth.js';
import type { Logger } from '../log/index.js';
import { randomHex } from '../telemetry/correlation.js';

export class MissingKeysError extends Error {
  constructor() {
    super(
      'MYCA_ENV=production and no API keys are configured: set MYCA_API_KEYS (id:role:secret or id:role:sha256:<hex>, comma-separated) or config/auth.yaml',
    );
    this.name = 'MissingKeysError';
  }
}

/** Besides one agent key per agent, the development keys a first start creates: every endpoint is in reach. */
const DEV_KEYS = [
  { id: 'dev-approver', role: 'approver' as const },
  { id: 'dev-admin', role: 'admin' as const },
];

/**
 * The keys this server accepts. Configured keys (MYCA_API_KEYS, auth.yaml) win, and the log says so
 * when they replace keys created earlier. Without any, production refuses to start; elsewhere the
 * first start creates one agent key per agent, an approver and an admin key, prints them once and
 * keeps only their hashes in `api_keys`, so that a restart accepts the same keys. A data folder made
 * before one of them existed gets it on its next start (printed then).
 */
export async function resolveApiKeys(
  config: Config,
  sql: Sql,
  logger: Logger,
  print: (text: string) => void = console.log,
): Promise<ApiKeyEntry[]> {
  const stored = async () =>
    (
      await sql<{ id: string; role: ApiKeyEntry['role']; secret_sha256: string }[]>`
      select id, role, secret_sha256 from api_keys where revoked_at is null order by id`
    ).map((row) => ({ ...row }));
  if (config.apiKeys.length > 0) {
    const generated = config.env === 'production' ? [] : await stored().catch(() => []);
    // Said at info when it replaces keys a newcomer may be holding; otherwise the summary line says it.
    logger[generated.length > 0 ? 'info' : 'debug']('API keys in force: the configured ones only (MYCA_API_KEYS / auth.yaml)', {
      ids: config.apiKeys.map((key) => key.id),
      ...(generated.length > 0
        ? { not_accepted: generated.map((key) => key.id), why: 'keys created at first start are not used while keys are configured' }
        : {}),
    });
    return config.apiKeys;
  }
  if (config.env === 'production') throw new MissingKeysError();
  const existing = await stored();
  // A key acts only as the agents it is bound to (by default the agent named like the key), so the
  // first start makes one agent key per agent of agents.yaml, each named after it, an approver key and
  // an admin key. A data folder made before one of them existed gets it on its next start.
  const agentIds = Object.keys(config.agents.agents).filter((name) => agentsBoundTo(config.agents, name).includes(name));
  const wanted = [...(agentIds.length > 0 ? agentIds : ['dev-agent']).map((id) => ({ id, role: 'agent' as const })), ...DEV_KEYS];
  const created = wanted
    .filter((key) => !existing.some((row) => row.id === key.id))
    .map((key) => ({
      ...key,
      secret: `myca_${randomHex(24)}`,
    }));
  const inserted: typeof created = [];
  for (const key of created) {
    const rows = await sql`
      insert into api_keys (id, role, secret_sha256) values (${key.id}, ${key.role}, ${sha256Hex(key.secret)})
      on conflict (id) do nothing returning id`;
    // Another instance starting at the same moment may have won: show only keys that were stored.
    if (rows.length > 0) inserted.push(key);
  }
  const kept = await stored();
  logger.debug('API keys in force: the development keys created at first start (hashed in api_keys)', { ids: kept.map((key) => key.id) });
  if (inserted.length === 0) return kept;
  // Printed once, on purpose outside the (redacting) logger: this is the only time they are shown.
  print(
    [
      '',
      '  MYCA Edge created development API keys (shown once; only their hashes are stored):',
      ...inserted.map((key) => `    ${key.role.padEnd(8)} ${key.id.padEnd(13)} ${key.secret}`),
      '  Use: Authorization: Bearer <key>. An agent key acts only as the agent it is named after.',
      '  Delete the rows in api_keys (or the data dir) to make new ones.',
      '  Setting MYCA_API_KEYS replaces these keys (they are then not accepted).',
      '',
    ].join('\n'),
  );
  return kept;
}
