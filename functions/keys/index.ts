/**
 * keys: the admin API of virtual keys — keys as data with their own limits, budget, model allow-list
 * and agents (shared/governance). Keys of MYCA_API_KEYS and auth.yaml are listed read-only.
 * `GET /v1/spend` (spend.ts) reports the llm_spend rows chat-route writes.
 */
import { type Context, Hono } from 'hono';
import type { Sql } from 'postgres';
import { configPolicy, keyDirectory } from '../../shared/governance/directory.js';
import {
  findKey,
  insertKey,
  KEY_ID,
  KeyCreateSchema,
  KeyPatchSchema,
  type KeyRow,
  type KeyView,
  listKeys,
  RotateSchema,
  revokeKey,
  rotateKey,
  updateKey,
  viewOfRow,
} from '../../shared/governance/keys.js';
import { readUsage } from '../../shared/governance/limits.js';
import { requireAuth } from '../../shared/http/auth.js';
import { ApiError } from '../../shared/http/errors.js';
import type { AppEnv } from '../../shared/http/types.js';
import { readJson } from '../../shared/http/validate.js';
import type { Services } from '../../shared/services.js';
import { serveSpend } from './spend.js';

export { querySpend } from './spend.js';

const CONFIG_ID = /^[A-Za-z0-9._@-]{1,64}$/;

function sqlOf(services: Services): Sql {
  if (!services.db)
    throw new ApiError('UNAVAILABLE', { detail: 'Keys as data need a database', hint: 'set DATABASE_URL (or run embedded on Node)' });
  return services.db.sql;
}

/** The key id of the path: a key of the API (`vk_…`), or a configured key's id (read-only); else 404. */
function keyIdParam(c: Context<AppEnv>): string {
  const id = c.req.param('id') ?? '';
  const configured = !id.startsWith('vk_') && CONFIG_ID.test(id) && c.get('services').config.apiKeys.some((entry) => entry.id === id);
  if (!KEY_ID.test(id) && !configured) throw new ApiError('NOT_FOUND', { detail: 'No such key', hint: 'GET /v1/keys lists them' });
  return id;
}

function configView(services: Services, id: string): KeyView {
  return {
    ...configPolicy(services, id),
    read_only: true,
    created_at: null,
    updated_at: null,
    rotated_at: null,
    revoked_at: null,
    previous_secret_expires_at: null,
  };
}

/** Configured keys cannot be changed here: their source is the environment or auth.yaml. */
function readOnly(id: string): ApiError {
  return new ApiError('CONFLICT', {
    detail: `The key "${id}" comes from MYCA_API_KEYS or config/auth.yaml and is read-only here`,
    hint: 'change it where it is configured, or make a key with POST /v1/keys',
  });
}

function unknownAgents(services: Services, agents: ReadonlyArray<string> | undefined): void {
  const unknown = (agents ?? []).filter((name) => !Object.hasOwn(services.config.agents.agents, name));
  if (unknown.length > 0)
    throw new ApiError('VALIDATION_FAILED', {
      detail: `agents: no such agent in config/agents.yaml: ${unknown.join(', ')}`,
      hint: 'GET /v1/agents lists the agents',
      extra: { issues: [{ path: 'agents', message: `unknown: ${unknown.join(', ')}` }] },
    });
}

/** After a committed change: every instance forgets its cached keys (within about 1 s; see KeyDirectory). */
async function announce(c: Context<AppEnv>): Promise<void> {
  await keyDirectory(c.get('services').kv)
    .changed()
    .catch((error: unknown) =>
      c
        .get('logger')
        .warn('keys changed but the key-value store was not told; other instances see it within 10 s', { error: error as Error }),
    );
}

async function withUsage(services: Services, view: KeyView) {
  const usage = await readUsage(services.kv, view, services.clock.now()).catch(() => null);
  return { ...view, usage };
}

export function createKeys() {
  const app = new Hono<AppEnv>();
  app.use('/v1/keys', requireAuth({ roles: ['admin'] }));
  app.use('/v1/keys/*', requireAuth({ roles: ['admin'] }));
  app.use('/v1/spend', requireAuth({ roles: ['admin'] }));

  app.post('/v1/keys', async (c) => {
    const services = c.get('services');
    const body = await readJson(c, KeyCreateSchema);
    unknownAgents(services, body.agents);
    const { row, secret } = await insertKey(sqlOf(services), body, c.get('principal').id);
    await announce(c);
    c.set('logFields', { ...c.get('logFields'), key_id: row.id });
    c.get('logger').info('key created', { key_id: row.id, role: row.role, by: c.get('principal').id });
    return c.json({ ...viewOfRow(row, services.config), secret }, 201);
  });

  app.get('/v1/keys', async (c) => {
    const services = c.get('services');
    const rows = services.db ? await listKeys(services.db.sql) : [];
    const data: KeyView[] = [
      ...services.config.apiKeys.map((entry) => configView(services, entry.id)),
      ...rows.map((row) => viewOfRow(row, services.config)),
    ];
    return c.json({ object: 'list', data });
  });

  app.get('/v1/keys/:id', async (c) => {
    const services = c.get('services');
    const id = keyIdParam(c);
    if (!KEY_ID.test(id)) return c.json(await withUsage(services, configView(services, id)));
    const row = await findKey(sqlOf(services), id);
    if (!row) throw new ApiError('NOT_FOUND', { detail: `No key ${id}` });
    return c.json(await withUsage(services, viewOfRow(row, services.config)));
  });

  app.patch('/v1/keys/:id', async (c) => {
    const services = c.get('services');
    const id = keyIdParam(c);
    if (!KEY_ID.test(id)) throw readOnly(id);
    const patch = await readJson(c, KeyPatchSchema);
    unknownAgents(services, patch.agents);
    const row = await updateKey(sqlOf(services), id, patch);
    if (!row) throw await missingOrRevoked(services, id);
    await announce(c);
    c.get('logger').info('key changed', { key_id: id, fields: Object.keys(patch), by: c.get('principal').id });
    return c.json(viewOfRow(row, services.config));
  });

  app.post('/v1/keys/:id/rotate', async (c) => {
    const services = c.get('services');
    const id = keyIdParam(c);
    if (!KEY_ID.test(id)) throw readOnly(id);
    // An empty body takes the default grace.
    const body =
      c.req.raw.body === null || c.req.header('content-length') === '0' ? RotateSchema.parse({}) : await readJson(c, RotateSchema);
    const rotated = await rotateKey(sqlOf(services), id, body.grace_seconds);
    if (!rotated) throw await missingOrRevoked(services, id);
    await announce(c);
    c.get('logger').info('key rotated', { key_id: id, grace_seconds: body.grace_seconds, by: c.get('principal').id });
    return c.json({ ...viewOfRow(rotated.row, services.config), secret: rotated.secret, grace_seconds: body.grace_seconds });
  });

  app.delete('/v1/keys/:id', async (c) => {
    const services = c.get('services');
    const id = keyIdParam(c);
    if (!KEY_ID.test(id)) throw readOnly(id);
    const row: KeyRow | undefined = await revokeKey(sqlOf(services), id);
    if (!row) throw new ApiError('NOT_FOUND', { detail: `No key ${id}` });
    await announce(c);
    c.get('logger').info('key revoked', { key_id: id, by: c.get('principal').id });
    return c.json(viewOfRow(row, services.config));
  });

  app.get('/v1/spend', serveSpend);
  return app;
}

async function missingOrRevoked(services: Services, id: string): Promise<ApiError> {
  const row = await findKey(sqlOf(services), id);
  return row
    ? new ApiError('CONFLICT', { detail: `The key ${id} is revoked`, hint: 'make a new key with POST /v1/keys' })
    : new ApiError('NOT_FOUND', { detail: `No key ${id}` });
}
