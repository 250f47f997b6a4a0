/**
 * The service's description of itself (OpenAPI 3.1), built from the zod schemas the handlers
 * validate with (`z.toJSONSchema`), so the document cannot drift from what is enforced. Every route
 * the app registers is listed here; a test holds the two together and validates each example
 * against its schema.
 */
import { z } from 'zod';
import { ERROR_CODES } from '../../shared/http/errors.js';
import { KEY_ROUTES } from './keys.js';
import { HELD_ACTION_ID, type RouteDoc } from './route-doc.js';
import { ACTION_ROUTES } from './routes-actions.js';
import { APPROVALS_ROUTES } from './routes-approvals.js';
import { LLM_ROUTES } from './routes-llm.js';
import { OPERATION_ROUTES } from './routes-operations.js';

export type { RouteDoc } from './route-doc.js';

/** Every route the app registers, by room (a test holds this list and the app's route table together). */
export const ROUTES: RouteDoc[] = [...OPERATION_ROUTES, ...LLM_ROUTES, ...ACTION_ROUTES, ...APPROVALS_ROUTES, ...KEY_ROUTES];

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
