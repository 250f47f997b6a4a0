import { KeyCreateSchema, KeyPatchSchema, RotateSchema } from '../../shared/governance/keys.js';
import type { RouteDoc } from './route-doc.js';

/** The keys API and GET /v1/spend as GET /openapi.json lists them (document.ts adds these). */
export const KEY_ROUTES: RouteDoc[] = [
  {
    method: 'post',
    path: '/v1/keys',
    summary: 'Make a key with its own limits, budget, models and agents; the secret is in this answer only',
    auth: 'admin',
    tag: 'governance',
    request: {
      schema: KeyCreateSchema,
      example: {
        name: 'mycology fleet',
        role: 'agent',
        agents: ['mycology'],
        models: ['planning', 'openai/gpt-4o*'],
        rpm: 120,
        tpm: 200000,
        budget_usd: 25,
        budget_period: 'day',
      },
    },
    response: { status: 201, description: 'the key and its secret (shown once)' },
  },
  {
    method: 'get',
    path: '/v1/keys',
    summary: 'Every key: made through the API, and the read-only ones of MYCA_API_KEYS / auth.yaml',
    auth: 'admin',
    tag: 'governance',
    response: { status: 200, description: '{object: list, data: key[]}' },
  },
  {
    method: 'get',
    path: '/v1/keys/:id',
    summary: 'One key with its use this minute and budget period',
    auth: 'admin',
    tag: 'governance',
    response: { status: 200, description: 'the key and usage' },
  },
  {
    method: 'patch',
    path: '/v1/keys/:id',
    summary: 'Change a key’s name, role, agents, models or limits (seen by every instance within about 1 s)',
    auth: 'admin',
    tag: 'governance',
    request: { schema: KeyPatchSchema, example: { tpm: 100000, budget_usd: 50, budget_period: 'month' } },
    response: { status: 200, description: 'the key' },
  },
  {
    method: 'post',
    path: '/v1/keys/:id/rotate',
    summary: 'A new secret; the previous one works for grace_seconds (default 3600)',
    auth: 'admin',
    tag: 'governance',
    request: { schema: RotateSchema, example: { grace_seconds: 600 } },
    response: { status: 200, description: 'the key and its new secret (shown once)' },
  },
  {
    method: 'delete',
    path: '/v1/keys/:id',
    summary: 'Revoke a key (refused by every instance within about 1 s)',
    auth: 'admin',
    tag: 'governance',
    response: { status: 200, description: 'the revoked key' },
  },
  {
    method: 'get',
    path: '/v1/spend',
    summary: 'Spend from the llm_spend rows, per key, agent, model or day',
    auth: 'admin',
    tag: 'governance',
    query: [
      {
        name: 'group_by',
        description: 'key (default), agent, model or day',
        schema: { type: 'string', enum: ['key', 'agent', 'model', 'day'] },
      },
      { name: 'from', description: 'ISO date-time or date; default: 30 days before to', schema: { type: 'string' } },
      { name: 'to', description: 'ISO date-time or date (exclusive); default: now', schema: { type: 'string' } },
    ],
    response: { status: 200, description: '{object: spend, group_by, from, to, totals, data[], unwritten_rows}' },
  },
];
