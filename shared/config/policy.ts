import { z } from 'zod';

export const CATEGORIES = ['read', 'write', 'external', 'risky'] as const;
export type ActionCategory = (typeof CATEGORIES)[number];
export const MODES = ['auto', 'approval', 'deny'] as const;
export type PolicyMode = (typeof MODES)[number];

const mode = z.enum(MODES, { error: 'expected auto, approval or deny' });
const flag = z.union([z.boolean(), z.stringbool()]);

/** One argument condition: the input field must match every test given. */
const FieldTest = z.strictObject({
  equals: z.union([z.string(), z.number(), z.boolean()]).optional(),
  in: z.array(z.union([z.string(), z.number()])).optional(),
  prefix: z.string().optional(),
  not_prefix: z.string().optional(),
});

const Rule = z.strictObject({ name: z.string().min(1), when: z.record(z.string(), FieldTest), mode });

const hostList = z
  .union([z.array(z.string()), z.string()])
  .transform((value) => (Array.isArray(value) ? value : value.split(',')).map((host) => host.trim().toLowerCase()).filter(Boolean));

export const PolicySchema = z.strictObject({
  version: z.string().min(1),
  categories: z.strictObject({ read: mode, write: mode, external: mode, risky: mode }),
  actions: z.record(z.string(), z.strictObject({ mode: mode.optional(), rules: z.array(Rule).default([]) })).default({}),
  agents: z.record(z.string(), z.record(z.string(), mode)).default({}),
  http: z
    .strictObject({
      allow_hosts: hostList.default([]),
      allow_private: flag.default(false),
      timeout_ms: z.coerce.number().int().min(100).max(120_000).default(10_000),
      max_response_bytes: z.coerce.number().int().min(1024).default(1_048_576),
      max_redirects: z.coerce.number().int().min(0).max(10).default(3),
      /** Headers that carry credentials besides Authorization, Cookie and Proxy-Authorization: dropped on a redirect to another origin. */
      secret_headers: hostList.default([]),
    })
    .default({
      allow_hosts: [],
      allow_private: false,
      timeout_ms: 10_000,
      max_response_bytes: 1_048_576,
      max_redirects: 3,
      secret_headers: [],
    }),
  queries: z
    .record(
      z.string().regex(/^[a-z0-9_]+$/, 'query names are a-z 0-9 _'),
      z.strictObject({
        sql: z.string().min(1),
        params: z.array(z.string()).default([]),
        write: z.boolean().default(false),
        max_rows: z.number().int().min(1).max(10_000).default(500),
        timeout_ms: z.number().int().min(10).max(60_000).default(5000),
      }),
    )
    .default({}),
});
export type Policy = z.output<typeof PolicySchema>;
