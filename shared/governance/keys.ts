import { createHash, randomBytes } from 'node:crypto';
import type { Sql } from 'postgres';
import { z } from 'zod';
import { agentsBoundTo } from '../config/agents.js';
import type { Config, Role } from '../config/index.js';
import { ROLES } from '../config/schema.js';
import { randomHex } from '../telemetry/correlation.js';

/** What a key may do in chat-route, whichever way it was made (the API, or MYCA_API_KEYS / auth.yaml). */
export interface KeyPolicy {
  id: string;
  name: string;
  role: Role;
  /** `data`: made through POST /v1/keys (editable); `config`: MYCA_API_KEYS or auth.yaml (read-only). */
  source: 'data' | 'config';
  /** The agents it may act as (`x-myca-agent`): its own list plus those whose agents.yaml `keys` name it. */
  agents: string[];
  /** Task aliases and `provider/model` patterns (`*` matches any run of characters); null: any model. */
  models: string[] | null;
  allow_unpriced: boolean;
  /** Requests per minute; null: LLM_RATE_LIMIT_RPM. */
  rpm: number | null;
  /** Prompt + completion tokens per minute; null: no limit. */
  tpm: number | null;
  budget_usd: number | null;
  budget_period: 'day' | 'month' | null;
}

/** A key as the API shows it (never its secret or digest). */
export interface KeyView extends KeyPolicy {
  read_only: boolean;
  created_at: string | null;
  updated_at: string | null;
  rotated_at: string | null;
  revoked_at: string | null;
  /** While a rotated key's previous secret still works. */
  previous_secret_expires_at: string | null;
}

export const KEY_ID = /^vk_[0-9a-f]{24}$/;
export const SECRET_PREFIX = 'myca_vk_';

const ModelPattern = z
  .string()
  .regex(/^[A-Za-z0-9._:@*/-]{1,200}$/, 'a task alias, a model name or provider/model, with * as a wildcard (A-Z a-z 0-9 . _ : @ * / -)');
const AgentName = z.string().regex(/^[a-z][a-z0-9_-]{0,63}$/, 'an agent name of config/agents.yaml');
const Limit = (max: number) => z.number().int('a whole number').min(1).max(max).nullable();

const Fields = {
  name: z.string().trim().min(1).max(128),
  role: z.enum(ROLES),
  agents: z.array(AgentName).max(64),
  models: z.array(ModelPattern).min(1, 'list at least one model, or send null for any').max(100).nullable(),
  allow_unpriced: z.boolean(),
  rpm: Limit(1_000_000),
  tpm: Limit(1_000_000_000),
  budget_usd: z.number().min(0).max(100_000_000).nullable(),
  budget_period: z.enum(['day', 'month']).nullable(),
};

/** Both budget fields or neither; both null removes the budget. */
const budgetPair = (body: { budget_usd?: number | null | undefined; budget_period?: string | null | undefined }) =>
  (body.budget_usd == null) === (body.budget_period == null) && (body.budget_usd === undefined) === (body.budget_period === undefined);
const budgetMessage = { message: 'send budget_usd and budget_period together (both null to remove the budget)', path: ['budget_usd'] };

export const KeyCreateSchema = z
  .strictObject({
    name: Fields.name,
    role: Fields.role.default('agent'),
    agents: Fields.agents.default([]),
    models: Fields.models.default(null),
    allow_unpriced: Fields.allow_unpriced.default(false),
    rpm: Fields.rpm.default(null),
    tpm: Fields.tpm.default(null),
    budget_usd: Fields.budget_usd.optional(),
    budget_period: Fields.budget_period.optional(),
  })
  .refine(budgetPair, budgetMessage);
export type KeyCreate = z.output<typeof KeyCreateSchema>;

export const KeyPatchSchema = z
  .strictObject({
    name: Fields.name.optional(),
    role: Fields.role.optional(),
    agents: Fields.agents.optional(),
    models: Fields.models.optional(),
    allow_unpriced: Fields.allow_unpriced.optional(),
    rpm: Fields.rpm.optional(),
    tpm: Fields.tpm.optional(),
    budget_usd: Fields.budget_usd.optional(),
    budget_period: Fields.budget_period.optional(),
  })
  .refine(budgetPair, budgetMessage)
  .refine((body) => Object.keys(body).length > 0, { message: 'send at least one field to change' });
export type KeyPatch = z.output<typeof KeyPatchSchema>;

/** How long a rotated key's previous secret keeps working unless the request says otherwise. */
export const DEFAULT_GRACE_SECONDS = 3600;
export const RotateSchema = z.strictObject({
  grace_seconds: z
    .number()
    .int()
    .min(0)
    .max(7 * 86_400)
    .default(DEFAULT_GRACE_SECONDS),
});

export interface KeyRow {
  id: string;
  name: string;
  role: Role;
  agents: string[];
  models: string[] | null;
  allow_unpriced: boolean;
  rpm: number | null;
  tpm: number | null;
  budget_usd: string | null;
  budget_period: 'day' | 'month' | null;
  created_at: Date;
  updated_at: Date;
  rotated_at: Date | null;
  revoked_at: Date | null;
  previous_secret_expires_at: Date | null;
}

const COLUMNS = [
  'id',
  'name',
  'role',
  'agents',
  'models',
  'allow_unpriced',
  'rpm',
  'tpm',
  'budget_usd',
  'budget_period',
  'created_at',
  'updated_at',
  'rotated_at',
  'revoked_at',
  'previous_secret_expires_at',
] as const;

/** Hex SHA-256 of a secret (as shared/http/auth.ts hashes configured keys). */
export const sha256Hex = (text: string): string => createHash('sha256').update(text).digest('hex');

/** A new secret: 32 random bytes, base64url, after a recognisable prefix (secret scanners know it). */
export function newSecret(): string {
  return `${SECRET_PREFIX}${randomBytes(32).toString('base64url')}`;
}

export function policyOfRow(row: KeyRow, config: Pick<Config, 'agents'>): KeyPolicy {
  const named = agentsBoundTo(config.agents, row.id).filter((agent) => agent !== row.id && Object.hasOwn(config.agents.agents, agent));
  return {
    id: row.id,
    name: row.name,
    role: row.role,
    source: 'data',
    // An agent removed from agents.yaml is no agent any more: a key made for it acts as none (as a configured key's does).
    agents: [...new Set([...row.agents.filter((agent) => Object.hasOwn(config.agents.agents, agent)), ...named])],
    models: row.models,
    allow_unpriced: row.allow_unpriced,
    rpm: row.rpm,
    tpm: row.tpm,
    budget_usd: row.budget_usd === null ? null : Number(row.budget_usd),
    budget_period: row.budget_period,
  };
}

export function viewOfRow(row: KeyRow, config: Pick<Config, 'agents'>): KeyView {
  const iso = (date: Date | null) => (date ? date.toISOString() : null);
  return {
    ...policyOfRow(row, config),
    read_only: false,
    created_at: iso(row.created_at),
    updated_at: iso(row.updated_at),
    rotated_at: iso(row.rotated_at),
    revoked_at: iso(row.revoked_at),
    previous_secret_expires_at:
      row.previous_secret_expires_at && row.previous_secret_expires_at > new Date() ? iso(row.previous_secret_expires_at) : null,
  };
}

export async function insertKey(sql: Sql, body: KeyCreate, createdBy: string): Promise<{ row: KeyRow; secret: string }> {
  const secret = newSecret();
  const [row] = await sql<KeyRow[]>`
    insert into virtual_keys (id, name, role, secret_sha256, agents, models, allow_unpriced, rpm, tpm, budget_usd, budget_period, created_by)
    values (${`vk_${randomHex(12)}`}, ${body.name}, ${body.role}, ${sha256Hex(secret)}, ${sql.json(body.agents)}, ${body.models === null ? null : sql.json(body.models)},
            ${body.allow_unpriced}, ${body.rpm}, ${body.tpm}, ${body.budget_usd ?? null}, ${body.budget_period ?? null}, ${createdBy})
    returning ${sql(COLUMNS)}`;
  return { row: row as KeyRow, secret };
}

export const listKeys = (sql: Sql) => sql<KeyRow[]>`select ${sql(COLUMNS)} from virtual_keys order by created_at, id`;

export async function findKey(sql: Sql, id: string): Promise<KeyRow | undefined> {
  const [row] = await sql<KeyRow[]>`select ${sql(COLUMNS)} from virtual_keys where id = ${id}`;
  return row;
}

/** The live key whose current secret, or previous secret within its grace, has this digest. */
export async function findKeyBySecret(sql: Sql, digest: string): Promise<(KeyRow & { by_previous: boolean }) | undefined> {
  const [row] = await sql<Array<KeyRow & { by_previous: boolean }>>`
    select ${sql(COLUMNS)}, secret_sha256 <> ${digest} as by_previous from virtual_keys
    where revoked_at is null
      and (secret_sha256 = ${digest} or (previous_secret_sha256 = ${digest} and previous_secret_expires_at > now()))`;
  return row;
}

/** Changes the fields sent (live keys only); undefined when there is no live key of that id. */
export async function updateKey(sql: Sql, id: string, patch: KeyPatch): Promise<KeyRow | undefined> {
  // The lists are jsonb: sent as JSON, whatever the driver knows of array types.
  const changes = Object.fromEntries(
    Object.entries(patch)
      .filter(([, value]) => value !== undefined)
      .map(([name, value]) => [name, Array.isArray(value) ? sql.json(value) : value]),
  );
  const [row] = await sql<KeyRow[]>`
    update virtual_keys set ${sql(changes)}, updated_at = now()
    where id = ${id} and revoked_at is null
    returning ${sql(COLUMNS)}`;
  return row;
}

/** A new secret; the previous one keeps working for `graceSeconds`. */
export async function rotateKey(sql: Sql, id: string, graceSeconds: number): Promise<{ row: KeyRow; secret: string } | undefined> {
  const secret = newSecret();
  const [row] = await sql<KeyRow[]>`
    update virtual_keys
    set previous_secret_sha256 = case when ${graceSeconds} > 0 then secret_sha256 end,
        previous_secret_expires_at = case when ${graceSeconds} > 0 then now() + make_interval(secs => ${graceSeconds}) end,
        secret_sha256 = ${sha256Hex(secret)}, rotated_at = now(), updated_at = now()
    where id = ${id} and revoked_at is null
    returning ${sql(COLUMNS)}`;
  return row ? { row, secret } : undefined;
}

export async function revokeKey(sql: Sql, id: string): Promise<KeyRow | undefined> {
  const [row] = await sql<KeyRow[]>`
    update virtual_keys set revoked_at = coalesce(revoked_at, now()), updated_at = now(),
      previous_secret_sha256 = null, previous_secret_expires_at = null
    where id = ${id}
    returning ${sql(COLUMNS)}`;
  return row;
}
