import { z } from 'zod';

export type Auth = 'open' | 'any key' | 'agent' | 'approver' | 'admin' | 'approver session' | 'admin session';

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

export const HELD_ACTION_ID = '0b7c0a5e-2f1d-4c55-9d8e-5a3c1b2d4e6f';
export const IDEMPOTENCY = {
  name: 'Idempotency-Key',
  required: true,
  description: 'a fresh UUID per distinct request; a retry sends the same one',
};
export const PAGE_FORM = z.object({ csrf: z.string() }).catchall(z.string());
