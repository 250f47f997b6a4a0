/**
 * The service's description of itself (OpenAPI 3.1), built from the zod schemas the handlers
 * validate with (`z.toJSONSchema`), so the document cannot drift from what is enforced. Every route
 * the app registers is listed here; a test holds the two together and validates each example
 * against its schema.
 */
import { z } from 'zod';
import { ERROR_CODES } from '../../shared/http/errors.js';
import { ApproveSchema, RejectSchema, STATUSES, SubmitActionSchema } from '../actions/index.js';
import { StartRunSchema } from '../agent-run/index.js';
import { ChatRequestSchema, EmbeddingsRequestSchema, ModelListSchema, ResponsesRequestSchema } from '../chat-route/contract.js';

import { HealthResponseSchema } from '../health/index.js';
import { ReadyResponseSchema } from '../ready/index.js';
import { KEY_ROUTES } from './keys.js';

type Auth = 'open' | 'any key' | 'agent' | 'approver' | 'admin' | 'approver session' | 'admin session';

/** One route as the document shows it. `path` is Hono's (`/v1/actions/:id`). */
export interface RouteDoc {
  method: 'get' | 'post' | 'patch' | 'delete';
  path: string;
  summary: string;
  auth: Auth;
  tag: string;
  request?: { schema: z.ZodType; example: unknown; contentType?: string };
  response?: { status: number; schema?: z.ZodType; contentType?: string; description: string };
  /** Other success statuses of the same route (a held action's 202). */
  also?: Array<{ status: number; description: string }>;
  query?: Array<{ name: string; description: string; schema: Record<string, unknown> }>;
  headers?: Array<{ name: string; required: boolean; description: string }>;
}

const HELD_ACTION_ID = '0b7c0a5e-2f1d-4c55-9d8e-5a3c1b2d4e6f';
const IDEMPOTENCY = {
  name: 'Idempotency-Key',
  required: true,
  description: 'a fresh UUID per distinct request; a retry sends the same one',
};
const PAGE_FORM = z.object({ csrf: z.string() }).catchall(z.string());

export const ROUTES: RouteDoc[] = [
  {
    method: 'get',
    path: '/health',
    summary: 'Liveness (no I/O)',
    auth: 'open',
    tag: 'operations',
    response: { status: 200, schema: HealthResponseSchema, description: 'alive' },
  },
  {
    method: 'get',
    path: '/ready',
    summary: 'Readiness: Postgres, Redis and Qdrant probed; 503 names what is down',
    auth: 'open',
    tag: 'operations',
    response: { status: 200, schema: ReadyResponseSchema, description: 'ready' },
  },
  {
    method: 'get',
    path: '/metrics',
    summary: 'Prometheus metrics (Node; 404 in workerd)',
    auth: 'open',
    tag: 'operations',
    response: { status: 200, contentType: 'text/plain', description: 'Prometheus text' },
  },
  {
    method: 'get',
    path: '/openapi.json',
    summary: 'This document',
    auth: 'open',
    tag: 'operations',
    response: { status: 200, description: 'OpenAPI 3.1' },
  },
  {
    method: 'get',
    path: '/v1/whoami',
    summary: "The caller's principal {id, role}",
    auth: 'any key',
    tag: 'identity',
    response: {
      status: 200,
      schema: z.object({ id: z.string(), role: z.enum(['agent', 'approver', 'admin']) }),
      description: 'the principal',
    },
  },
  {
    method: 'post',
    path: '/v1/chat/completions',
    summary: 'OpenAI-compatible chat completion (JSON or SSE with stream: true), routed across providers',
    auth: 'any key',
    tag: 'llm',
    request: {
      schema: ChatRequestSchema,
      example: { model: 'planning', messages: [{ role: 'user', content: 'Name three wood-decay fungi.' }] },
    },
    response: { status: 200, description: 'a chat.completion (or text/event-stream chunks)' },
  },
  {
    method: 'post',
    path: '/v1/responses',
    summary:
      'OpenAI Responses API bridged through the chat pipeline (JSON or Responses SSE events with stream: true); kept per key unless store: false (previous_response_id, item_reference)',
    auth: 'any key',
    tag: 'llm',
    request: {
      schema: ResponsesRequestSchema,
      example: { model: 'planning', instructions: 'Answer in one line.', input: 'Name three wood-decay fungi.', max_output_tokens: 200 },
    },
    response: {
      status: 200,
      description: 'a response object (or text/event-stream Responses events ending in response.completed or response.failed)',
    },
  },
  {
    method: 'get',
    path: '/v1/responses/:id',
    summary: 'A stored response, only to the key that made it (any other key: 404, as for an unknown id)',
    auth: 'any key',
    tag: 'llm',
    response: { status: 200, description: 'the response object as answered' },
  },
  {
    method: 'delete',
    path: '/v1/responses/:id',
    summary: 'Deletes a stored response of this key',
    auth: 'any key',
    tag: 'llm',
    response: { status: 200, description: '{id, object: "response", deleted: true}' },
  },
  {
    method: 'post',
    path: '/v1/embeddings',
    summary: 'OpenAI-compatible embeddings',
    auth: 'any key',
    tag: 'llm',
    request: { schema: EmbeddingsRequestSchema, example: { model: 'embedding', input: 'turkey tail' } },
    response: { status: 200, description: 'a list of embeddings' },
  },
  {
    method: 'get',
    path: '/v1/models',
    summary: 'Models and aliases, each with myca.available and the reason when not',
    auth: 'any key',
    tag: 'llm',
    response: { status: 200, schema: ModelListSchema, description: 'the model list' },
  },
  {
    method: 'post',
    path: '/v1/actions',
    summary: 'Request an action: 200 executed at once, 202 held for approval, problem+json when refused or failed',
    auth: 'agent',
    tag: 'actions',
    headers: [IDEMPOTENCY],
    request: {
      schema: SubmitActionSchema,
      example: { type: 'file.write', input: { path: 'finance/ledger.csv', content: 'date,account,amount,memo\n' }, agent_id: 'financial' },
    },
    response: { status: 200, description: 'the action, executed at once (status executed, with its output)' },
    also: [{ status: 202, description: 'the action, held for an approver (status pending, with its digest and links)' }],
  },
  {
    method: 'get',
    path: '/v1/actions',
    summary: 'Actions, newest first (agents see their own)',
    auth: 'any key',
    tag: 'actions',
    query: [
      { name: 'status', description: 'filter by state', schema: { type: 'string', enum: [...STATUSES] } },
      { name: 'limit', description: '1-500, default 50', schema: { type: 'integer', minimum: 1, maximum: 500 } },
    ],
    response: { status: 200, description: '{data: action[]}' },
  },
  {
    method: 'get',
    path: '/v1/actions/:id',
    summary: 'One action with its audit fields',
    auth: 'any key',
    tag: 'actions',
    response: { status: 200, description: 'the action' },
  },
  {
    method: 'post',
    path: '/v1/actions/:id/approve',
    summary: 'Approve a held action with the digest it was shown with; it executes once (racing approvals get 409)',
    auth: 'approver',
    tag: 'actions',
    request: { schema: ApproveSchema, example: { digest: 'a'.repeat(64), comment: 'matches the ticket' } },
    response: { status: 200, description: 'the executed (or failed) action' },
  },
  {
    method: 'post',
    path: '/v1/actions/:id/reject',
    summary: 'Reject a held action; the reason is returned to the agent',
    auth: 'approver',
    tag: 'actions',
    request: { schema: RejectSchema, example: { reason: 'the ledger is append-only' } },
    response: { status: 200, description: 'the rejected action' },
  },
  {
    method: 'get',
    path: '/v1/audit/verify',
    summary: 'Recompute the audit hash chain: 200 {ok, events, head} or 409 {ok: false, broken}',
    auth: 'admin',
    tag: 'actions',
    response: { status: 200, description: 'the chain holds' },
  },
  {
    method: 'get',
    path: '/v1/agents',
    summary: 'The agents of agents.yaml',
    auth: 'any key',
    tag: 'agents',
    response: { status: 200, description: '{data: agent[]}' },
  },
  {
    method: 'post',
    path: '/v1/agents/:name/runs',
    summary: 'Start an agent run; answers when it ends or after AGENT_RUN_WAIT_MS with 202 (the run goes on)',
    auth: 'agent',
    tag: 'agents',
    request: { schema: StartRunSchema, example: { input: 'What is turkey tail?' } },
    response: { status: 200, description: 'the run, ended' },
    also: [{ status: 202, description: 'the run, still going after AGENT_RUN_WAIT_MS (follow GET /v1/runs/{id}/events)' }],
  },
  {
    method: 'get',
    path: '/v1/runs',
    summary: 'Agent runs, newest first',
    auth: 'any key',
    tag: 'agents',
    query: [
      { name: 'status', description: 'filter by state', schema: { type: 'string' } },
      { name: 'agent', description: 'filter by agent name', schema: { type: 'string' } },
      { name: 'limit', description: '1-500, default 50', schema: { type: 'integer', minimum: 1, maximum: 500 } },
    ],
    response: { status: 200, description: '{data: run[]}' },
  },
  {
    method: 'get',
    path: '/v1/runs/:id',
    summary: 'One run',
    auth: 'any key',
    tag: 'agents',
    response: { status: 200, description: 'the run' },
  },
  {
    method: 'get',
    path: '/v1/runs/:id/events',
    summary: "A run's events as SSE (Last-Event-ID or ?after= resumes)",
    auth: 'any key',
    tag: 'agents',
    response: { status: 200, contentType: 'text/event-stream', description: 'events' },
  },
  {
    method: 'post',
    path: '/v1/runs/:id/resume',
    summary: 'Move a run on after its actions were decided',
    auth: 'any key',
    tag: 'agents',
    response: { status: 200, description: 'the run' },
  },
  // The approvals page (HTML for people; forms post application/x-www-form-urlencoded with a CSRF token).
  {
    method: 'get',
    path: '/approvals',
    summary: 'The inbox of held actions',
    auth: 'approver session',
    tag: 'approvals page',
    response: { status: 200, contentType: 'text/html', description: 'page' },
  },
  {
    method: 'get',
    path: '/approvals/login',
    summary: 'Sign-in form',
    auth: 'open',
    tag: 'approvals page',
    response: { status: 200, contentType: 'text/html', description: 'page' },
  },
  {
    method: 'post',
    path: '/approvals/login',
    summary: 'Sign in with an approver key or JWT (sets the session cookie)',
    auth: 'open',
    tag: 'approvals page',
    request: {
      schema: z.object({ credential: z.string().min(1) }),
      example: { credential: 'myca_…' },
      contentType: 'application/x-www-form-urlencoded',
    },
    response: { status: 303, description: 'to the inbox' },
  },
  {
    method: 'post',
    path: '/approvals/logout',
    summary: 'Sign out',
    auth: 'approver session',
    tag: 'approvals page',
    request: { schema: PAGE_FORM, example: { csrf: '…' }, contentType: 'application/x-www-form-urlencoded' },
    response: { status: 303, description: 'to the sign-in form' },
  },
  {
    method: 'get',
    path: '/approvals/actions/:id',
    summary: 'One action: what will happen, decide, audit trail',
    auth: 'approver session',
    tag: 'approvals page',
    response: { status: 200, contentType: 'text/html', description: 'page' },
  },
  {
    method: 'post',
    path: '/approvals/actions/:id/approve',
    summary: 'Approve from the page',
    auth: 'approver session',
    tag: 'approvals page',
    request: {
      schema: PAGE_FORM,
      example: { csrf: '…', digest: 'a'.repeat(64), comment: '' },
      contentType: 'application/x-www-form-urlencoded',
    },
    response: { status: 200, contentType: 'text/html', description: 'page' },
  },
  {
    method: 'post',
    path: '/approvals/actions/:id/reject',
    summary: 'Reject from the page',
    auth: 'approver session',
    tag: 'approvals page',
    request: { schema: PAGE_FORM, example: { csrf: '…', reason: 'not this file' }, contentType: 'application/x-www-form-urlencoded' },
    response: { status: 200, contentType: 'text/html', description: 'page' },
  },
  {
    method: 'get',
    path: '/approvals/history',
    summary: 'Decided actions; ?verify=1 checks the audit chain',
    auth: 'approver session',
    tag: 'approvals page',
    response: { status: 200, contentType: 'text/html', description: 'page' },
  },
  {
    method: 'get',
    path: '/approvals/runs',
    summary: 'Agent runs',
    auth: 'approver session',
    tag: 'approvals page',
    response: { status: 200, contentType: 'text/html', description: 'page' },
  },
  {
    method: 'get',
    path: '/approvals/runs/:id',
    summary: 'One agent run',
    auth: 'approver session',
    tag: 'approvals page',
    response: { status: 200, contentType: 'text/html', description: 'page' },
  },
  {
    method: 'get',
    path: '/approvals/spend',
    summary: 'Spend per key, agent, model or day over a period (chart and table) and the keys’ limits and use; admins only',
    auth: 'admin session',
    tag: 'approvals page',
    query: [
      {
        name: 'group_by',
        description: 'key (default), agent, model or day',
        schema: { type: 'string', enum: ['key', 'agent', 'model', 'day'] },
      },
      { name: 'from', description: 'YYYY-MM-DD (UTC) or ISO date-time; default: 7 days before to', schema: { type: 'string' } },
      {
        name: 'to',
        description: 'YYYY-MM-DD (that day included) or ISO date-time; default: today; at most 366 days',
        schema: { type: 'string' },
      },
    ],
    response: { status: 200, contentType: 'text/html', description: 'page' },
  },
  {
    method: 'get',
    path: '/approvals/assets/app.css',
    summary: "The page's style sheet",
    auth: 'open',
    tag: 'approvals page',
    response: { status: 200, contentType: 'text/css', description: 'CSS' },
  },
  {
    method: 'get',
    path: '/approvals/assets/app.js',
    summary: "The page's script",
    auth: 'open',
    tag: 'approvals page',
    response: { status: 200, contentType: 'text/javascript', description: 'JavaScript' },
  },
  // The keys API and GET /v1/spend (keys.ts).
  ...KEY_ROUTES,
];

/** A Hono path as OpenAPI writes it: `/v1/actions/:id` → `/v1/actions/{id}`. */
export const openApiPath = (path: string) => path.replace(/:([A-Za-z_]+)/g, '{$1}');

const jsonSchema = (schema: z.ZodType) => z.toJSONSchema(schema, { io: 'input', unrepresentable: 'any', target: 'draft-2020-12' });

const PROBLEM = {
  type: 'object',
  required: ['type', 'title', 'status', 'detail', 'code', 'correlation_id', 'hint', 'error'],
  properties: {
    type: { type: 'string' },
    title: { type: 'string' },
    status: { type: 'integer' },
    detail: { type: 'string' },
    code: { type: 'string', enum: Object.keys(ERROR_CODES) },
    correlation_id: { type: 'string' },
    hint: { type: 'string' },
    error: { type: 'object', properties: { message: { type: 'string' }, type: { type: 'string' }, code: { type: 'string' } } },
  },
  additionalProperties: true,
};

/** The OpenAPI 3.1 document of this service. */
export function openApiDocument(version: string): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const route of ROUTES) {
    const path = openApiPath(route.path);
    const parameters = [
      ...[...route.path.matchAll(/:([A-Za-z_]+)/g)].map((match) => ({
        name: match[1],
        in: 'path',
        required: true,
        schema: { type: 'string' },
        ...(match[1] === 'id' ? { example: HELD_ACTION_ID } : {}),
      })),
      ...(route.query ?? []).map((query) => ({
        name: query.name,
        in: 'query',
        required: false,
        description: query.description,
        schema: query.schema,
      })),
      ...(route.headers ?? []).map((header) => ({
        name: header.name,
        in: 'header',
        required: header.required,
        description: header.description,
        schema: { type: 'string' },
      })),
    ];
    const response = route.response ?? { status: 200, description: 'ok' };
    paths[path] ??= {};
    paths[path][route.method] = {
      summary: route.summary,
      tags: [route.tag],
      ...(route.auth === 'open' || route.auth.endsWith(' session') ? { security: [] } : {}),
      'x-myca-auth': route.auth,
      ...(parameters.length > 0 ? { parameters } : {}),
      ...(route.request
        ? {
            requestBody: {
              required: true,
              content: {
                [route.request.contentType ?? 'application/json']: {
                  schema: jsonSchema(route.request.schema),
                  example: route.request.example,
                },
              },
            },
          }
        : {}),
      responses: {
        [String(response.status)]: {
          description: response.description,
          content: { [response.contentType ?? 'application/json']: { schema: response.schema ? jsonSchema(response.schema) : {} } },
        },
        ...Object.fromEntries(
          (route.also ?? []).map((other) => [
            String(other.status),
            { description: other.description, content: { 'application/json': { schema: {} } } },
          ]),
        ),
        default: { description: 'an error', content: { 'application/problem+json': { schema: { $ref: '#/components/schemas/Problem' } } } },
      },
    };
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'MYCA Edge',
      version,
      description:
        'One governed door to many LLMs (OpenAI-compatible) and to typed, audited, approvable actions. Errors are application/problem+json with a hint.',
    },
    servers: [{ url: '/' }],
    components: {
      securitySchemes: {
        bearer: { type: 'http', scheme: 'bearer', description: 'an API key (agent, approver or admin) or an approver JWT' },
      },
      schemas: { Problem: PROBLEM },
    },
    security: [{ bearer: [] }],
    paths,
  };
}
