import { z } from 'zod';
import { HealthResponseSchema } from '../health/index.js';
import { ReadyResponseSchema } from '../ready/index.js';
import type { RouteDoc } from './route-doc.js';

/** Health, readiness, metrics, this document and who a key is. */
export const OPERATION_ROUTES: RouteDoc[] = [
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
];
